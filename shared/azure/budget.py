"""The client-side ARM budget: one limiter every ARM client of the process draws from.

ARM throttles with a token bucket per principal and subscription: reads 250 tokens refilled at 25/s,
writes 200 refilled at 10/s (https://learn.microsoft.com/azure/azure-resource-manager/management/
request-limits-and-throttling, "Migrating to regional throttling and token bucket algorithm"). The
app's own buckets are sized below those (reads 200 / 20 per s, writes 150 / 8 per s), so a pass that
would exceed them waits here instead of drawing 429s. Every response's
`x-ms-ratelimit-remaining-subscription-*` header (and its `-global-` variant) says what is left of ARM's
bucket for the principal, which other tools and other instances of the app share: when ARM reports fewer
tokens than this limiter holds, the limiter comes down to ARM's number (minus a reserve), so the pass
slows down before the bucket is empty. A 429 that still happens pauses the whole bucket for its
`Retry-After`, and azure-core's RetryPolicy retries the request after it.

The policy (`ArmBudgetPolicy`) sits after the RetryPolicy in the pipeline (`per_retry_policies`), so each
attempt draws a token. Resource Graph has its own per-user quota (`GraphQuotaPolicy`): 15 queries per
5 s by default, `x-ms-user-quota-remaining` / `x-ms-user-quota-resets-after` (hh:mm:ss) on every answer
(https://learn.microsoft.com/azure/governance/resource-graph/concepts/guidance-for-throttled-requests).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy

READS_CAPACITY = 200.0  # ARM: 250
READS_PER_SECOND = 20.0  # ARM: 25
WRITES_CAPACITY = 150.0  # ARM: 200
WRITES_PER_SECOND = 8.0  # ARM: 10
RESERVE = 25  # tokens of ARM's bucket left to other tools when ARM says the bucket runs low
MAX_WAIT = 120.0  # one draw never waits longer (the call then goes out and ARM decides)

GRAPH_QUOTA = 15  # Resource Graph: queries per window per user (default)
GRAPH_WINDOW = 5.0


class TokenBucket:
    """A thread-safe token bucket; `take` blocks until a token is there (bounded by MAX_WAIT)."""

    def __init__(
        self, *, capacity: float, per_second: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = capacity
        self.per_second = per_second
        self._clock = clock
        self._tokens = capacity
        self._at = clock()
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting, all callers together

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.per_second)
        self._at = now

    def take(self, sleep: Callable[[float], None] = time.sleep) -> float:
        """Take one token, waiting for it; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._refill(now)
                pause = self._paused_until - now
                if pause <= 0 and self._tokens >= 1.0 - 1e-9:
                    self._tokens -= 1.0
                    self.waited += waited
                    return waited
                wait = max(pause, (1.0 - self._tokens) / self.per_second, 0.001)
            if waited >= MAX_WAIT:
                with self._lock:
                    self.waited += waited
                return waited
            wait = min(wait, MAX_WAIT - waited)
            sleep(wait)
            waited += wait

    def try_take(self) -> bool:
        """Take one token if one is there now, never waiting."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            if self._paused_until - now <= 0 and self._tokens >= 1.0 - 1e-9:
                self._tokens -= 1.0
                return True
            return False

    def tokens(self) -> float:
        with self._lock:
            self._refill(self._clock())
            return self._tokens

    def cap(self, remaining: float) -> None:
        """The server says `remaining` tokens are left of its bucket: hold no more than that, minus
        the reserve."""
        with self._lock:
            self._refill(self._clock())
            self._tokens = min(self._tokens, max(0.0, remaining - RESERVE))

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
            self._tokens = 0.0


@dataclass
class Counts:
    reads: int = 0
    writes: int = 0
    throttled: int = 0  # 429 answers seen (each is retried after Retry-After)
    graph_queries: int = 0
    graph_throttled: int = 0


class ArmBudget:
    """The process's ARM budget: a read bucket and a write bucket, and what was drawn."""

    def __init__(
        self,
        *,
        reads: tuple[float, float] = (READS_CAPACITY, READS_PER_SECOND),
        writes: tuple[float, float] = (WRITES_CAPACITY, WRITES_PER_SECOND),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reads = TokenBucket(capacity=reads[0], per_second=reads[1], clock=clock)
        self.writes = TokenBucket(capacity=writes[0], per_second=writes[1], clock=clock)
        self.counts = Counts()
        self._lock = threading.Lock()

    def bucket(self, method: str) -> TokenBucket:
        return self.reads if method.upper() in ("GET", "HEAD") else self.writes

    def count(self, field: str) -> None:
        with self._lock:
            setattr(self.counts, field, getattr(self.counts, field) + 1)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "reads": self.counts.reads,
                "writes": self.counts.writes,
                "throttled": self.counts.throttled,
                "graphQueries": self.counts.graph_queries,
                "graphThrottled": self.counts.graph_throttled,
                "waitedSeconds": round(self.reads.waited + self.writes.waited, 3),
            }


def _remaining(headers: Any, kind: str) -> float | None:
    values = []
    for name in (
        f"x-ms-ratelimit-remaining-subscription-{kind}",
        f"x-ms-ratelimit-remaining-subscription-global-{kind}",
    ):
        raw = headers.get(name)
        if raw is not None:
            try:
                values.append(float(raw))
            except ValueError:
                continue
    return min(values) if values else None


def retry_after_seconds(headers: Any, default: float = 1.0) -> float:
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        raw = headers.get(name)
        if raw:
            try:
                return float(raw) / 1000.0
            except ValueError:
                pass
    raw = headers.get("Retry-After")
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


class ArmBudgetPolicy(HTTPPolicy):  # type: ignore[type-arg]
    """Draws one token per attempt, reads ARM's remaining-budget headers, pauses on a 429."""

    def __init__(self, budget: ArmBudget) -> None:
        super().__init__()
        self._budget = budget

    def send(self, request: PipelineRequest) -> PipelineResponse:  # type: ignore[type-arg]
        method = request.http_request.method
        bucket = self._budget.bucket(method)
        bucket.take()
        self._budget.count("reads" if bucket is self._budget.reads else "writes")
        response = self.next.send(request)
        headers = response.http_response.headers
        if response.http_response.status_code == 429:
            self._budget.count("throttled")
            bucket.pause(retry_after_seconds(headers))
        else:
            remaining = _remaining(headers, "reads" if bucket is self._budget.reads else "writes")
            if remaining is not None:
                bucket.cap(remaining)
        return response


class GraphQuota:
    """Resource Graph's per-user quota as the answers report it: when none is left, the next query
    waits until the window resets."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._blocked_until = 0.0

    def wait(self, sleep: Callable[[float], None] = time.sleep) -> None:
        with self._lock:
            delay = self._blocked_until - self._clock()
        if delay > 0:
            sleep(min(delay, GRAPH_WINDOW * 12))

    def observe(self, headers: Any, status: int) -> None:
        remaining = headers.get("x-ms-user-quota-remaining")
        resets = parse_resets_after(headers.get("x-ms-user-quota-resets-after"))
        if status == 429:
            resets = max(resets or 0.0, retry_after_seconds(headers, GRAPH_WINDOW))
        elif remaining is None or int(remaining) > 0:
            return
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + (resets or GRAPH_WINDOW))


def parse_resets_after(value: str | None) -> float | None:
    """`00:00:03` -> 3.0 (hh:mm:ss, fractional seconds allowed)."""
    if not value:
        return None
    try:
        hours, minutes, seconds = value.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


class GraphQuotaPolicy(HTTPPolicy):  # type: ignore[type-arg]
    def __init__(self, budget: ArmBudget, quota: GraphQuota) -> None:
        super().__init__()
        self._budget = budget
        self._quota = quota

    def send(self, request: PipelineRequest) -> PipelineResponse:  # type: ignore[type-arg]
        self._quota.wait()
        self._budget.count("graph_queries")
        response = self.next.send(request)
        status = response.http_response.status_code
        if status == 429:
            self._budget.count("graph_throttled")
        self._quota.observe(response.http_response.headers, status)
        return response


_budget = ArmBudget()
_graph_quota = GraphQuota()


def arm_budget() -> ArmBudget:
    """The one budget of this process (every ARM client draws from it)."""
    return _budget


def graph_quota() -> GraphQuota:
    return _graph_quota
