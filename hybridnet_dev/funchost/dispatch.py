"""The trigger-plugin contract. Each trigger type (http, timer, eventGrid, queue) lives in one module with one
`TriggerPlugin` subclass; the server only knows this interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web

from hybridnet_dev.funchost.config import HostConfig
from hybridnet_dev.funchost.invoke import Invoker
from hybridnet_dev.funchost.keys import HostKeys
from hybridnet_dev.funchost.loader import FunctionSpec


class ManualInvokeError(ValueError):
    """The admin endpoint cannot invoke this function with this input (answered with 400)."""


@dataclass(frozen=True)
class HostServices:
    """What the host hands every plugin."""

    config: HostConfig
    keys: HostKeys
    invoker: Invoker
    functions: tuple[FunctionSpec, ...]
    enable_timers: bool = True


class TriggerPlugin:
    """Base class: override what the trigger type needs; the defaults do nothing."""

    trigger_type: ClassVar[str] = ""

    def __init__(self, host: HostServices) -> None:
        self.host = host

    @property
    def functions(self) -> tuple[FunctionSpec, ...]:
        return tuple(f for f in self.host.functions if f.trigger_type == self.trigger_type)

    def validate(self) -> None:
        """Check the functions before anything starts; raise FunctionHostError with a clear message."""

    def add_routes(self, app: web.Application) -> None:
        """Register HTTP endpoints (called before the server starts)."""

    async def start(self) -> None:
        """Start background work (schedules, pollers)."""

    async def stop(self) -> None:
        """Stop background work; must be idempotent."""

    def manual_trigger_value(self, fn: FunctionSpec, raw_input: str) -> Any:
        """The trigger argument for `POST /admin/functions/{name}` with body `{"input": raw_input}`."""
        raise ManualInvokeError(
            f"function '{fn.name}' ({fn.trigger_type}) cannot be invoked through the admin API"
        )
