"""Helpers every test module shares (not a test module): polling for a condition, and plain HTTP calls
that return the status instead of raising on 4xx/5xx."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T], timeout: float = 15.0, *, interval: float = 0.02, what: str = ""
) -> T:
    """Call `predicate` until it returns something truthy and return that value. Raises AssertionError
    after `timeout` seconds (the condition never held: the test fails, it never passes by waiting)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what or predicate}")
        time.sleep(interval)


class Reply(NamedTuple):
    """An HTTP answer: `status, headers, body = call(...)`; header names are lower case."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


def call(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    key: str | None = None,
    ca_file: str | None = None,
    timeout: float = 30,
) -> Reply:
    """One HTTP request over loopback. `key` is sent as `x-functions-key`; `ca_file` verifies TLS."""
    all_headers = {**({"x-functions-key": key} if key else {}), **(headers or {})}
    request = urllib.request.Request(url, data=body, method=method, headers=all_headers)
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return Reply(response.status, _lower(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, _lower(error.headers.items()), error.read())


def post(
    url: str,
    payload: Any = b"",
    *,
    headers: dict[str, str] | None = None,
    key: str | None = None,
    timeout: float = 30,
) -> Reply:
    """POST `payload` (bytes as they are, anything else as JSON; a non-empty body is sent as
    application/json unless `headers` say otherwise) and return the reply."""
    body = bytes(payload) if isinstance(payload, bytes | bytearray) else json.dumps(payload).encode()
    content = {"Content-Type": "application/json"} if body else {}
    return call("POST", url, headers={**content, **(headers or {})}, body=body, key=key, timeout=timeout)


def post_json(
    url: str, payload: Any = b"", *, key: str | None = None, timeout: float = 30
) -> tuple[int, Any]:
    """POST, then (status, the JSON answer): for routes that answer JSON, errors included."""
    reply = post(url, payload, key=key, timeout=timeout)
    return reply.status, reply.json()


@contextmanager
def funchost_process(*, app_dir: str, cwd: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """`python -m hybridnet_dev.funchost --app-dir APP_DIR --port 0` as a developer starts it, with `env`
    added to this environment; text pipes for stdout and stderr. Killed at the end if still running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hybridnet_dev.funchost", "--app-dir", app_dir, "--port", "0"],
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _lower(items: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in items}
