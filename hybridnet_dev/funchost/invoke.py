"""Calling user functions as the Python worker does: arguments by binding name, `func.Out` objects for
output bindings, `context` when asked for, async functions on the loop and sync ones in a thread pool."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import azure.functions as func
from azure.functions import _abc as azf_abc

from hybridnet_dev.funchost.errors import FunctionHostError
from hybridnet_dev.funchost.loader import FunctionSpec

log = logging.getLogger("hybridnet_dev.funchost.invoke")
T = TypeVar("T")


class OutValue(func.Out[T], Generic[T]):
    """The object a function gets for a `func.Out[...]` parameter."""

    def __init__(self) -> None:
        self._value: T | None = None
        self.was_set = False

    def set(self, val: T) -> None:
        self._value = val
        self.was_set = True

    def get(self) -> T:
        return self._value  # type: ignore[return-value]


class _Trace(azf_abc.TraceContext):
    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return ""

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _Retry(azf_abc.RetryContext):
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> Any:
        return None


class InvocationContext(func.Context):
    """What a function gets for a parameter named `context`."""

    def __init__(self, invocation_id: str, function_name: str, function_directory: str) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory
        self._tls = threading.local()
        self._tls.invocation_id = invocation_id

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._tls

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> azf_abc.TraceContext:
        return _Trace()

    @property
    def retry_context(self) -> azf_abc.RetryContext:
        return _Retry()


@dataclass(frozen=True)
class OutputRecord:
    """A value a function produced for an output binding (other than the HTTP response)."""

    function: str
    binding: str
    binding_type: str
    value: Any
    invocation_id: str
    raw: dict[str, Any] = field(default_factory=dict)


OutputSink = Callable[[OutputRecord], Awaitable[None] | None]


@dataclass(frozen=True)
class InvocationResult:
    invocation_id: str
    return_value: Any
    outputs: tuple[OutputRecord, ...]
    duration_ms: float


class Invoker:
    """Runs user functions. Every non-HTTP output value goes to each sink and into `outputs`."""

    def __init__(
        self,
        *,
        function_directory: str,
        executor: ThreadPoolExecutor,
        sinks: list[OutputSink] | None = None,
        keep_outputs: int = 1000,
    ) -> None:
        self._function_directory = function_directory
        self._executor = executor
        self.sinks: list[OutputSink] = list(sinks or [])
        self.outputs: deque[OutputRecord] = deque(maxlen=keep_outputs)

    async def invoke(
        self, fn: FunctionSpec, trigger_value: Any, *, invocation_id: str | None = None
    ) -> InvocationResult:
        """Invoke `fn` with `trigger_value` for its trigger parameter. Raises what the function raises."""
        invocation_id = invocation_id or str(uuid.uuid4())
        kwargs: dict[str, Any] = {}
        outs: dict[str, OutValue[Any]] = {}
        for binding in fn.bindings:
            if binding.name == fn.trigger.name:
                kwargs[binding.name] = trigger_value
            elif binding.name == "$return":
                continue
            elif binding.direction in ("out", "inout"):
                outs[binding.name] = kwargs[binding.name] = OutValue()
        if "context" in fn.parameters and "context" not in kwargs:
            kwargs["context"] = InvocationContext(invocation_id, fn.name, self._function_directory)
        missing = [p for p in fn.parameters if p not in kwargs]
        if missing:
            log.error(
                "Function '%s': parameter(s) %s have no binding the local host supports",
                fn.name,
                ", ".join(missing),
            )
            raise FunctionHostError(
                f"function '{fn.name}': parameter(s) {', '.join(missing)} have no binding the local host "
                "supports (input bindings are not implemented here)"
            )
        kwargs = {k: v for k, v in kwargs.items() if k in fn.parameters}
        started = time.perf_counter()
        log.info("Executing 'Functions.%s' (Id=%s)", fn.name, invocation_id)
        try:
            if fn.is_async:
                result = await fn.user_function(**kwargs)
            else:
                loop = asyncio.get_running_loop()
                ctx = contextvars.copy_context()
                call = functools.partial(ctx.run, fn.user_function, **kwargs)
                result = await loop.run_in_executor(self._executor, call)
            if inspect.isawaitable(result):
                result = await result
        except Exception:
            ms = (time.perf_counter() - started) * 1000
            log.exception(
                "Executed 'Functions.%s' (Failed, Id=%s, Duration=%.0fms)", fn.name, invocation_id, ms
            )
            raise
        ms = (time.perf_counter() - started) * 1000
        records: list[OutputRecord] = []
        for binding in fn.outputs:
            if binding.name == "$return":
                if binding.type == "http" or result is None:
                    continue
                value = result
            else:
                out = outs.get(binding.name)
                if out is None or not out.was_set:
                    continue
                value = out.get()
            records.append(
                OutputRecord(fn.name, binding.name, binding.type, value, invocation_id, binding.raw)
            )
        for record in records:
            await self._deliver(record)
        log.info("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%.0fms)", fn.name, invocation_id, ms)
        return InvocationResult(invocation_id, result, tuple(records), ms)

    async def _deliver(self, record: OutputRecord) -> None:
        self.outputs.append(record)
        log.info(
            "Function '%s' produced output for binding '%s' (%s)",
            record.function,
            record.binding,
            record.binding_type,
        )
        for sink in self.sinks:
            maybe = sink(record)
            if inspect.isawaitable(maybe):
                await maybe
