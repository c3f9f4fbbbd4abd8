"""`POST /admin/functions/{name}` with body `{"input": "..."}` and the master key: fires a non-HTTP
function in the background and answers 202, as the host's admin API does."""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web

from hybridnet_dev.funchost import keys as auth
from hybridnet_dev.funchost.dispatch import HostServices, ManualInvokeError, TriggerPlugin

log = logging.getLogger("hybridnet_dev.funchost.admin")


class AdminApi:
    def __init__(self, host: HostServices, plugins: dict[str, TriggerPlugin]) -> None:
        self.host = host
        self.plugins = plugins
        self._tasks: set[asyncio.Task[None]] = set()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/admin/functions/{name}", self.invoke)

    async def invoke(self, request: web.Request) -> web.Response:
        if not self.host.keys.allows(auth.ADMIN, auth.presented_key(request)):
            return auth.unauthorized()
        name = request.match_info["name"]
        fn = next((f for f in self.host.functions if f.name.lower() == name.lower()), None)
        if fn is None:
            return web.Response(status=404)
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            return web.Response(status=400, text='body must be JSON: {"input": "..."}')
        raw_input = body.get("input", "") if isinstance(body, dict) else ""
        plugin = self.plugins.get(fn.trigger_type)
        if plugin is None:
            return web.Response(
                status=400, text=f"trigger type {fn.trigger_type} is not supported by the local host"
            )
        if fn.trigger_type == "httpTrigger":
            return web.Response(status=400, text="HTTP functions are invoked through their own URL")
        try:
            value = plugin.manual_trigger_value(
                fn, raw_input if isinstance(raw_input, str) else json.dumps(raw_input)
            )
        except ManualInvokeError as exc:
            return web.Response(status=400, text=str(exc))
        task = asyncio.create_task(self._run(fn.name, value))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.Response(status=202)

    async def _run(self, name: str, value: object) -> None:
        fn = next(f for f in self.host.functions if f.name == name)
        try:
            await self.host.invoker.invoke(fn, value)
        except Exception:  # logged by the invoker
            pass

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
