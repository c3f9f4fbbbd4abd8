"""The local Functions host's admin API, as the benchmarks use it (not a benchmark)."""

from __future__ import annotations

import logging
import threading
import urllib.request
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hybridnet_dev.funchost.server import LocalHost


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
