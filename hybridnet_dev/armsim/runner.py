"""Running the simulator: in a background thread (tests) or until a signal (the CLI)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from hybridnet_dev.armsim import access
from hybridnet_dev.armsim.app import arm_app, control_app, vault_app
from hybridnet_dev.armsim.seed import seed
from hybridnet_dev.armsim.sim import PRINCIPAL_ID, Simulator
from hybridnet_dev.armsim.tls import server_context
from hybridnet_dev.armsim.topics import DEFAULT_TOPIC
from hybridnet_dev.armsim.topics import PATH_PREFIX as TOPICS_PREFIX
from shared.spec.model import NetworkSpec

log = logging.getLogger("hybridnet_dev.armsim")
DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


@dataclass
class SimulatorInfo:
    arm_url: str
    ca_file: str
    control_url: str
    subscription_id: str
    identity_endpoint: str
    identity_header: str
    principal_id: str = PRINCIPAL_ID  # object id of the managed identity the token endpoint serves
    topic_endpoint: str = ""  # https://127.0.0.1:PORT/eventgrid/topics/hybridnet (POST CloudEvents here)
    topic_key: str = ""  # its aeg-sas-key
    vault_url: str = ""  # https://127.0.0.1:PORT: the Key Vault secrets subset (its own HTTPS port)

    def to_json(self) -> dict[str, Any]:
        """Every field under its JSON key (also served by the control API at ``GET /_sim/info``)."""
        return {
            "armUrl": self.arm_url,
            "caFile": self.ca_file,
            "controlUrl": self.control_url,
            "subscriptionId": self.subscription_id,
            "identityEndpoint": self.identity_endpoint,
            "identityHeader": self.identity_header,
            "principalId": self.principal_id,
            "topicEndpoint": self.topic_endpoint,
            "topicKey": self.topic_key,
            "vaultUrl": self.vault_url,
        }

    def to_json_line(self) -> str:
        """The CLI's ready line: everything a client of the simulator needs, on one line."""
        return json.dumps(self.to_json())


class _Servers:
    """Both listeners of one simulator, started and stopped on the running event loop."""

    def __init__(self, sim: Simulator, state_dir: Path) -> None:
        self.sim = sim
        self.state_dir = state_dir
        self._runners: list[web.AppRunner] = []

    async def start(self, port: int, control_port: int, vault_port: int = 0) -> SimulatorInfo:
        self.sim.eventgrid.bind(asyncio.get_running_loop())
        ssl_ctx, ca_file = server_context(self.state_dir)
        arm_port = await self._listen(arm_app(self.sim), port, ssl_ctx)
        ctl_port = await self._listen(control_app(self.sim), control_port, None)
        kv_port = await self._listen(vault_app(self.sim), vault_port, ssl_ctx)
        self.sim.vault.url = f"https://127.0.0.1:{kv_port}"
        control_url = f"http://127.0.0.1:{ctl_port}"
        info = SimulatorInfo(
            arm_url=f"https://127.0.0.1:{arm_port}",
            ca_file=str(ca_file),
            control_url=control_url,
            subscription_id=self.sim.subscription_id,
            identity_endpoint=f"{control_url}/msi/token",
            identity_header=self.sim.identity_header,
            principal_id=self.sim.principal_id,
            topic_endpoint=f"https://127.0.0.1:{arm_port}{TOPICS_PREFIX}{DEFAULT_TOPIC}",
            topic_key=self.sim.topics.key,
            vault_url=self.sim.vault.url,
        )
        self.sim.info = info.to_json()
        return info

    async def _listen(self, app: web.Application, port: int, ssl_ctx: object) -> int:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=ssl_ctx)  # type: ignore[arg-type]
        await site.start()
        self._runners.append(runner)
        return int(runner.addresses[-1][1])

    async def stop(self) -> None:
        await self.sim.eventgrid.close()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()


def _make(
    spec: NetworkSpec | None,
    empty: bool,
    page_size: int,
    subscription_id: str,
    state_dir: str | None,
    *,
    contract_path: Path | None = None,
    throttle: bool | dict[str, Any] = True,
) -> tuple[Simulator, Path, bool]:
    sim = Simulator(subscription_id=subscription_id, page_size=page_size)
    seed(sim, spec, empty=empty)
    access.configure(sim, spec, contract_path=contract_path)  # role assignments as deployed
    sim.throttle.configure(throttle if isinstance(throttle, dict) else {"enabled": throttle})
    owned = state_dir is None
    path = Path(tempfile.mkdtemp(prefix="armsim-")) if state_dir is None else Path(state_dir)
    return sim, path, owned


class SimulatorThread:
    """The simulator on free loopback ports, served by a background thread with its own event loop.

    Use as a context manager (``with SimulatorThread(spec) as s: s.info.arm_url``) or call
    :meth:`start` / :meth:`stop`. ``.sim`` is the in-process state, for white-box assertions.
    """

    def __init__(
        self,
        spec: NetworkSpec | None,
        *,
        empty: bool = False,
        port: int = 0,
        control_port: int = 0,
        page_size: int = 50,
        subscription_id: str = DEFAULT_SUBSCRIPTION,
        state_dir: str | None = None,
        vault_port: int = 0,
        contract_path: Path | None = None,
        throttle: bool | dict[str, Any] = True,
    ) -> None:
        """``contract_path``: the app contract whose roles the app identity holds (default: the deployed
        infra/app-contract.json); ``throttle``: ARM's token buckets on (default) or off."""
        self.sim, self._state_dir, self._owned_dir = _make(
            spec, empty, page_size, subscription_id, state_dir, contract_path=contract_path, throttle=throttle
        )
        self._ports = (port, control_port, vault_port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers = _Servers(self.sim, self._state_dir)
        self._info: SimulatorInfo | None = None

    @property
    def info(self) -> SimulatorInfo:
        if self._info is None:
            raise RuntimeError("the simulator is not running")
        return self._info

    def start(self) -> SimulatorInfo:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._info = loop.run_until_complete(self._servers.start(*self._ports))
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._servers.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="armsim", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise RuntimeError(f"the ARM simulator could not start: {failure[0]}") from failure[0]
        return self.info

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = None
        if self._owned_dir:
            shutil.rmtree(self._state_dir, ignore_errors=True)

    def __enter__(self) -> SimulatorThread:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


async def run_forever(
    spec: NetworkSpec | None,
    *,
    empty: bool = False,
    port: int = 0,
    control_port: int = 0,
    page_size: int = 50,
    subscription_id: str = DEFAULT_SUBSCRIPTION,
    state_dir: str | None = None,
    on_ready: Callable[[SimulatorInfo], None] | None = None,
    vault_port: int = 0,
    contract_path: Path | None = None,
    throttle: bool | dict[str, Any] = True,
) -> None:
    """Serve until SIGTERM/SIGINT (or cancellation); ``on_ready`` gets the info once listening."""
    sim, path, owned = _make(
        spec, empty, page_size, subscription_id, state_dir, contract_path=contract_path, throttle=throttle
    )
    servers = _Servers(sim, path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        info = await servers.start(port, control_port, vault_port)
        if on_ready is not None:
            on_ready(info)
        await stop.wait()
    finally:
        await servers.stop()
        if owned:
            shutil.rmtree(path, ignore_errors=True)
