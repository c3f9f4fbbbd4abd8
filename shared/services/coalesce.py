"""Coalescing work within one instance: many concurrent (or bursty) requests, few executions.

- SingleFlight: concurrent calls with one key share one execution (the health report's reads and its
  `?refresh=true` live check use it; across instances a claim row in Table Storage adds the minimum
  interval, see shared.azure.health_snapshot.claim_refresh).
- Coalescer: single flight plus a minimum interval with a trailing execution, for requests that each
  report something new (alerts). Executions of one key never overlap and start at least `min_interval`
  apart. A call inside the interval is
  answered at once from the execution in progress or the latest one, and one trailing execution is
  scheduled for the interval's end, so every call is still followed by an execution that STARTED after
  it arrived. A burst of N calls costs about one execution per interval, not N; no call blocks a worker
  thread for longer than the execution in progress.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


class SingleFlight:
    """Concurrent calls with the same key share one execution and its result (or exception)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Any, Future[Any]] = {}

    def do(self, key: Any, fn: Callable[[], T]) -> tuple[T, bool]:
        """(result, shared): `shared` is True for the callers that waited on another's execution."""
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = Future()
        if not leader:
            return flight.result(), True
        try:
            result = fn()
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        else:
            flight.set_result(result)
            return result, False
        finally:
            with self._lock:
                self._flights.pop(key, None)


@dataclass
class _Key:
    running: Future[Any] | None = None  # the execution in progress
    last: Future[Any] | None = None  # the latest finished execution (its result or exception)
    last_start: float | None = None  # clock() when the latest execution started
    trailing: Callable[[], Any] | None = None  # what the scheduled trailing execution runs (latest call's)
    trailing_due: float | None = None  # when it runs; None when none is scheduled
    trailing_asked: float = 0.0  # clock() of the latest call it must follow
    min_interval: float = 0.0  # of the scheduled trailing execution


class Coalescer:
    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        log: logging.Logger | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._keys: dict[Any, _Key] = {}
        self._clock = clock
        self._log = log or logging.getLogger(__name__)

    def do(self, key: Any, fn: Callable[[], T], *, min_interval: float) -> tuple[T, bool]:
        """(result, shared). Runs `fn` now when no execution of `key` started within `min_interval`;
        otherwise answers at once with the running execution's result (waiting for it) or the latest
        one's, and makes sure one trailing execution (running the latest call's `fn`) starts when the
        interval ends, in a background thread. `shared` is True when the answer came from an execution
        shared with other calls."""
        with self._lock:
            state = self._keys.setdefault(key, _Key())
            now = self._clock()
            if state.running is None and (state.last_start is None or now - state.last_start >= min_interval):
                flight: Future[Any] = Future()
                state.running, state.last_start = flight, now
                leader = True
            else:
                # Whatever answers this call started before it arrived: a later execution must follow.
                self._schedule(key, state, fn, min_interval)
                answer = state.running if state.running is not None else state.last
                leader = False
        if not leader:
            if answer is None:  # cannot happen: a start time is only set together with an execution
                raise RuntimeError(f"coalescer: no execution to answer {key!r} from")
            return answer.result(), True
        return self._run(key, state, flight, fn), False

    def follow_up(self, key: Any, fn: Callable[[], Any], *, min_interval: float) -> None:
        """From inside an execution that could not settle everything (e.g. another instance holds the
        interval): make sure `fn` runs once more when the interval ends."""
        with self._lock:
            self._schedule(key, self._keys.setdefault(key, _Key()), fn, min_interval)

    def _run(self, key: Any, state: _Key, flight: Future[Any], fn: Callable[[], T]) -> T:
        try:
            result = fn()
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        else:
            flight.set_result(result)
            return result
        finally:
            with self._lock:
                state.running, state.last = None, flight

    def _schedule(self, key: Any, state: _Key, fn: Callable[[], Any], min_interval: float) -> None:
        """Under the lock: one trailing execution per key at a time; the latest call's `fn` is the one run."""
        state.trailing, state.trailing_asked, state.min_interval = fn, self._clock(), min_interval
        if state.trailing_due is not None:
            return
        start = state.last_start if state.last_start is not None else self._clock()
        state.trailing_due = start + min_interval
        timer = threading.Timer(max(0.0, state.trailing_due - self._clock()), self._trail, (key, state))
        timer.daemon = True
        timer.start()

    def _trail(self, key: Any, state: _Key) -> None:
        while True:
            with self._lock:
                running = state.running
                if running is None:
                    early = (
                        state.last_start is not None
                        and state.last_start < state.trailing_asked
                        and self._clock() - state.last_start < state.min_interval
                    )
                    if early:  # a call's own execution started while this timer was late: wait again
                        state.trailing_due = state.last_start + state.min_interval
                        wait = max(0.0, state.trailing_due - self._clock())
                        timer = threading.Timer(wait, self._trail, (key, state))
                        timer.daemon = True
                        timer.start()
                        return
                    fn, state.trailing, state.trailing_due = state.trailing, None, None
                    if fn is None or (
                        state.last_start is not None and state.last_start >= state.trailing_asked
                    ):
                        return  # an execution that started after the last call to follow already ran
                    flight: Future[Any] = Future()
                    state.running, state.last_start = flight, self._clock()
                    break
            running.exception()  # never overlap: wait for the one in progress to end
        try:
            self._run(key, state, flight, fn)
        except Exception:
            self._log.exception("trailing execution for %s failed", key)
