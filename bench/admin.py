"""The local Functions host's admin API, as the benchmarks use it (not a benchmark)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hybridnet_dev.funchost.server import LocalHost

ROOT = Path(__file__).resolve().parent.parent


def fire_function(host: LocalHost, name: str) -> None:
    """Run a non-HTTP function (a timer) now through the admin API, as `func` and the portal do; the host
    answers 202 once the invocation is queued."""
    request = urllib.request.Request(
        f"{host.info.base_url}/admin/functions/{name}",
        data=b'{"input": ""}',
        method="POST",
        headers={"x-functions-key": host.info.master_key, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.status != 202:
            raise RuntimeError(f"{name}: the host answered {response.status}, not 202")


class Executed(logging.Handler):
    """Sets an event when the host logs that `function` finished (the admin API answers 202 at once)."""

    def __init__(self, function: str) -> None:
        super().__init__()
        self.marker = f"Executed 'Functions.{function}'"
        self.done = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(self.marker):
            self.done.set()


@contextmanager
def simulator_process(spec: Path, *, storage: str, **settings: str) -> Iterator[dict[str, Any]]:
    """The simulator as its own process (as `hybridnet up` runs it) on `spec`, and this process's
    environment as the app's settings pointing at it and at `storage` (plus `settings`); yields the info
    line the simulator prints (URLs, CA file); the simulator is stopped on exit."""
    sim = subprocess.Popen(
        [sys.executable, "-m", "hybridnet_dev.armsim", "--spec", str(spec), "--log-level", "WARNING"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sim.stdout is not None
    try:
        info = json.loads(sim.stdout.readline())
        point_process_at(info, storage=storage, spec=spec, **settings)
        yield info
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def point_process_at(info: dict[str, Any], *, storage: str, spec: Path, **settings: str) -> None:
    """This process's environment as the app's settings: the simulator, Azurite, the spec, and `settings`
    (no credential of the machine's own is picked up)."""
    from hybridnet_dev.local_stack import FOREIGN_CREDENTIALS, app_settings

    for name in FOREIGN_CREDENTIALS:
        os.environ.pop(name, None)
    os.environ.update({**app_settings(info, storage=storage, spec_path=spec), **settings})


async def http_load(
    url: str, *, concurrency: int, seconds: float, total: int | None = None
) -> tuple[list[float], float, Counter[int]]:
    """GET `url` from `concurrency` clients at once for `seconds` (or until `total` requests): each
    request's latency in s, the elapsed time, the count of each HTTP status."""
    import aiohttp

    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    deadline = time.monotonic() + seconds
    remaining = [total if total is not None else -1]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker() -> None:
            while remaining[0] != 0 and time.monotonic() < deadline:
                remaining[0] -= 1
                started = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    statuses[response.status] += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, time.perf_counter() - started, statuses
