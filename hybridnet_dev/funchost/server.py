"""The host: `HostCore` (async, one event loop) wires the app, keys, plugins and the HTTP server;
`LocalHost` runs it in a background thread for in-process use (tests)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import Any

from aiohttp import web

from hybridnet_dev.funchost.admin import AdminApi
from hybridnet_dev.funchost.config import apply_local_settings, load_host_config
from hybridnet_dev.funchost.dispatch import HostServices, TriggerPlugin
from hybridnet_dev.funchost.errors import FunctionHostError
from hybridnet_dev.funchost.eventgrid_trigger import EventGridTriggerPlugin
from hybridnet_dev.funchost.http_trigger import HttpTriggerPlugin
from hybridnet_dev.funchost.invoke import Invoker, OutputRecord, OutputSink
from hybridnet_dev.funchost.keys import HostKeys
from hybridnet_dev.funchost.loader import FunctionSpec, LoadedApp, load_app
from hybridnet_dev.funchost.queue_trigger import QueueTriggerPlugin
from hybridnet_dev.funchost.timer_trigger import TimerTriggerPlugin

log = logging.getLogger("hybridnet_dev.funchost")
access_log = logging.getLogger("hybridnet_dev.funchost.access")

DEFAULT_PORT = 7071
HOST = "127.0.0.1"
# Order matters only for routes: the HTTP trigger plugin owns the catch-all route, so it comes last.
DEFAULT_PLUGINS: tuple[type[TriggerPlugin], ...] = (
    TimerTriggerPlugin,
    EventGridTriggerPlugin,
    QueueTriggerPlugin,
    HttpTriggerPlugin,
)


@dataclass(frozen=True)
class HostInfo:
    base_url: str
    port: int
    function_key: str
    master_key: str
    eventgrid_key: str
    functions: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The ready line: {"baseUrl", "functionKey", "masterKey", "eventGridKey", "functions"}."""
        return {
            "baseUrl": self.base_url,
            "functionKey": self.function_key,
            "masterKey": self.master_key,
            "eventGridKey": self.eventgrid_key,
            "functions": list(self.functions),
        }


@web.middleware
async def _access_log(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """One line per request: method, path (never the query: it may carry `code=`), status, ms."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        ms = (time.perf_counter() - started) * 1000
        access_log.info("%s %s %d %.1fms", request.method, request.path, status, ms)


class HostCore:
    """Everything the host does, on the running event loop: `await start()`, `await stop()`."""

    def __init__(
        self,
        app_module: str = "function_app",
        *,
        app_dir: str = ".",
        port: int | None = DEFAULT_PORT,
        function_key: str | None = None,
        master_key: str | None = None,
        eventgrid_key: str | None = None,
        enable_timers: bool = True,
        output_sinks: Sequence[OutputSink] = (),
        plugins: Sequence[type[TriggerPlugin]] = DEFAULT_PLUGINS,
        max_workers: int | None = None,
    ) -> None:
        self.app_module = app_module
        self.app_dir = app_dir
        self.port = port
        self.keys = HostKeys.create(function_key, master_key, eventgrid_key)
        self.enable_timers = enable_timers
        self.output_sinks = list(output_sinks)
        self.plugin_types = tuple(plugins)
        self.max_workers = max_workers
        self.loaded: LoadedApp | None = None
        self.invoker: Invoker | None = None
        self.plugins: dict[str, TriggerPlugin] = {}
        self.info: HostInfo | None = None
        self._runner: web.AppRunner | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._admin: AdminApi | None = None

    async def start(self) -> HostInfo:
        apply_local_settings(self.app_dir)
        config = load_host_config(self.app_dir)
        self.loaded = load_app(self.app_module, self.app_dir)
        self._executor = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="funchost-fn")
        self.invoker = Invoker(
            function_directory=str(config.app_dir), executor=self._executor, sinks=self.output_sinks
        )
        services = HostServices(
            config=config,
            keys=self.keys,
            invoker=self.invoker,
            functions=self.loaded.functions,
            enable_timers=self.enable_timers,
        )
        self.plugins = {p.trigger_type: p(services) for p in self.plugin_types}
        for plugin in self.plugins.values():
            plugin.validate()
        for fn in self.loaded.functions:
            if fn.trigger_type not in self.plugins:
                log.warning(
                    "Function '%s': trigger type %s is not supported by the local host; it will not run",
                    fn.name,
                    fn.trigger_type,
                )
        app = web.Application(middlewares=[_access_log], client_max_size=100 * 1024 * 1024)
        self._admin = AdminApi(services, self.plugins)
        self._admin.add_routes(app)
        for plugin in self.plugins.values():
            plugin.add_routes(app)
        port = self.port if self.port is not None else (config.local_http_port or DEFAULT_PORT)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            sock.close()
            raise FunctionHostError(
                f"cannot listen on {HOST}:{port} ({exc.strerror}): pick another --port"
            ) from None
        actual_port = sock.getsockname()[1]
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        base_url = f"http://{HOST}:{actual_port}"
        self.info = HostInfo(
            base_url=base_url,
            port=actual_port,
            function_key=self.keys.function_key,
            master_key=self.keys.master_key,
            eventgrid_key=self.keys.eventgrid_key,
            functions=tuple(f.name for f in self.loaded.functions),
        )
        self._log_functions(base_url)
        for plugin in self.plugins.values():
            await plugin.start()
        return self.info

    def _log_functions(self, base_url: str) -> None:
        assert self.loaded is not None
        lines = ["Functions:"]
        http = self.plugins.get(HttpTriggerPlugin.trigger_type)
        for fn in self.loaded.functions:
            if isinstance(http, HttpTriggerPlugin) and fn.trigger_type == http.trigger_type:
                route = next(r for r in http.routes if r.function is fn)
                methods = ",".join(sorted(route.methods)) if route.methods else "*"
                lines.append(f"  {fn.name}: [{methods}] {http.url_for(route, base_url)} ({route.auth_level})")
            elif fn.trigger_type == EventGridTriggerPlugin.trigger_type:
                webhook = f"{base_url}/runtime/webhooks/eventgrid?functionName={fn.name}"
                lines.append(f"  {fn.name}: eventGridTrigger {webhook}")
            elif isinstance(queues := self.plugins.get(fn.trigger_type), QueueTriggerPlugin):
                lines.append(f"  {fn.name}: queueTrigger (queue '{queues.triggers[fn.name].queue}')")
            else:
                lines.append(f"  {fn.name}: {fn.trigger_type}")
        log.info("%s", "\n".join(lines))
        log.info("Host started on %s (keys are in the ready line / LocalHost.info)", base_url)

    async def stop(self) -> None:
        for plugin in self.plugins.values():
            await plugin.stop()
        if self._admin is not None:
            await self._admin.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)


class LocalHost:
    """The host in a background thread with its own event loop, for in-process use:

    with LocalHost("function_app", app_dir="tests/funchost_sample", port=0) as host:
        requests.get(f"{host.info.base_url}/api/hello")
    """

    def __init__(
        self,
        app_module: str = "function_app",
        *,
        app_dir: str = ".",
        port: int = DEFAULT_PORT,
        function_key: str | None = None,
        master_key: str | None = None,
        eventgrid_key: str | None = None,
        enable_timers: bool = True,
        output_sink: OutputSink | None = None,
        plugins: Sequence[type[TriggerPlugin]] = DEFAULT_PLUGINS,
    ) -> None:
        self._core = HostCore(
            app_module,
            app_dir=app_dir,
            port=port,
            function_key=function_key,
            master_key=master_key,
            eventgrid_key=eventgrid_key,
            enable_timers=enable_timers,
            output_sinks=[output_sink] if output_sink else [],
            plugins=plugins,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._info: HostInfo | None = None

    @property
    def info(self) -> HostInfo:
        if self._info is None:
            raise RuntimeError("the host is not running: use `with LocalHost(...)` or call start()")
        return self._info

    @property
    def module(self) -> ModuleType:
        """The loaded app module (its module-level state is what the functions see)."""
        if self._core.loaded is None:
            raise RuntimeError("the host is not running")
        return self._core.loaded.module

    @property
    def functions(self) -> tuple[FunctionSpec, ...]:
        return self._core.loaded.functions if self._core.loaded else ()

    @property
    def outputs(self) -> list[OutputRecord]:
        """Values functions produced for output bindings (most recent last)."""
        return list(self._core.invoker.outputs) if self._core.invoker else []

    def start(self, timeout: float = 30.0) -> HostInfo:
        if self._thread is not None:
            raise RuntimeError("already started")
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                self._info = loop.run_until_complete(self._core.start())
            except BaseException as exc:
                failure.append(exc)
                loop.run_until_complete(self._core.stop())
                loop.close()
                ready.set()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._core.stop())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="funchost", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise FunctionHostError(f"the local Functions host did not start within {timeout:.0f} s")
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self.info

    def stop(self, timeout: float = 15.0) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None
        self._info = None

    def __enter__(self) -> LocalHost:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
