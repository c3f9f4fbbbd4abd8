"""Starts Azurite (the Azure Storage emulator: Tables, Queues, Blobs) as a child process on explicit
loopback ports, never the default ones, and waits until it answers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

AZURITE_VERSION = "3.35.0"  # newer releases need Node 22; this one runs on Node 20
ACCOUNT = "devstoreaccount1"
# Azurite's published, well-known development account key (not a secret).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
REPO_ROOT = Path(__file__).resolve().parent.parent


class AzuriteError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def azurite_binary() -> str:
    """AZURITE_BIN, else the project's own install (.tools/, made by `make`), else one on PATH."""
    candidates = [os.environ.get("AZURITE_BIN", ""), str(REPO_ROOT / ".tools/node_modules/.bin/azurite")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("azurite")
    if found:
        return found
    raise AzuriteError(
        f"azurite not found: run `make tools` (installs azurite@{AZURITE_VERSION} into .tools/) "
        "or set AZURITE_BIN"
    )


def connection_string(blob_port: int, queue_port: int, table_port: int) -> str:
    base = "http://127.0.0.1"
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint={base}:{blob_port}/{ACCOUNT};"
        f"QueueEndpoint={base}:{queue_port}/{ACCOUNT};"
        f"TableEndpoint={base}:{table_port}/{ACCOUNT};"
    )


def _wait_for_port(port: int, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AzuriteError(f"azurite exited with code {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AzuriteError(f"azurite did not listen on 127.0.0.1:{port} in time")


class Azurite:
    """`with Azurite() as azurite: azurite.connection_string` — data in a temporary folder unless
    `location` is given; ports are free ones unless given."""

    def __init__(
        self,
        location: str | None = None,
        *,
        blob_port: int = 0,
        queue_port: int = 0,
        table_port: int = 0,
        startup_timeout: float = 30.0,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if location is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="azurite-")
            location = self._tmp.name
        self.location = location
        self.blob_port = blob_port or free_port()
        self.queue_port = queue_port or free_port()
        self.table_port = table_port or free_port()
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return connection_string(self.blob_port, self.queue_port, self.table_port)

    def start(self) -> Azurite:
        os.makedirs(self.location, exist_ok=True)
        command = [
            azurite_binary(),
            "--silent",
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--location",
            self.location,
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(self.blob_port),
            "--queueHost",
            "127.0.0.1",
            "--queuePort",
            str(self.queue_port),
            "--tableHost",
            "127.0.0.1",
            "--tablePort",
            str(self.table_port),
        ]
        log = open(os.path.join(self.location, "azurite.log"), "ab")
        self._process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        deadline = time.monotonic() + self._startup_timeout
        try:
            for port in (self.table_port, self.queue_port, self.blob_port):
                _wait_for_port(port, self._process, deadline)
        except AzuriteError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
