"""host.json and local.settings.json, read the way Core Tools reads them, and `%SETTING%` resolution."""

from __future__ import annotations

import json
import os
import re
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridnet_dev.funchost.errors import FunctionHostError

DEFAULT_ROUTE_PREFIX = "api"
_PLACEHOLDER = re.compile(r"%([^%]+)%")


@dataclass(frozen=True)
class HostConfig:
    """What the host takes from the app directory."""

    app_dir: Path
    route_prefix: str = DEFAULT_ROUTE_PREFIX
    host_json: dict[str, Any] = field(default_factory=dict)
    local_http_port: int | None = None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise FunctionHostError(f"{path} is not valid JSON (line {exc.lineno}): fix or remove it") from None
    if not isinstance(data, dict):
        raise FunctionHostError(f"{path} must hold a JSON object")
    return data


def load_host_config(app_dir: str | os.PathLike[str]) -> HostConfig:
    """Read `host.json` (optional) and `local.settings.json` (optional, for `Host.LocalHttpPort`)."""
    root = Path(app_dir).resolve()
    host_json_path = root / "host.json"
    host_json = _read_json(host_json_path) if host_json_path.is_file() else {}
    http = (host_json.get("extensions") or {}).get("http") or {}
    prefix = http.get("routePrefix", DEFAULT_ROUTE_PREFIX)
    if not isinstance(prefix, str):
        raise FunctionHostError(f"{host_json_path}: extensions.http.routePrefix must be a string")
    port: int | None = None
    settings_path = root / "local.settings.json"
    if settings_path.is_file():
        raw_port = (_read_json(settings_path).get("Host") or {}).get("LocalHttpPort")
        port = int(raw_port) if raw_port not in (None, "") else None
    return HostConfig(app_dir=root, route_prefix=prefix.strip("/"), host_json=host_json, local_http_port=port)


def apply_local_settings(
    app_dir: str | os.PathLike[str], environ: MutableMapping[str, str] | None = None
) -> list[str]:
    """Copy `local.settings.json` `Values` into the environment without overriding variables already
    set (as Core Tools does). Returns the names that were set; values are never logged."""
    env = os.environ if environ is None else environ
    path = Path(app_dir).resolve() / "local.settings.json"
    if not path.is_file():
        return []
    data = _read_json(path)
    if data.get("IsEncrypted"):
        raise FunctionHostError(f"{path} is encrypted (IsEncrypted: true): decrypt it with Core Tools first")
    values = data.get("Values") or {}
    if not isinstance(values, dict):
        raise FunctionHostError(f"{path}: Values must be an object of strings")
    applied: list[str] = []
    for name, value in values.items():
        if name not in env and value is not None:
            env[name] = value if isinstance(value, str) else json.dumps(value)
            applied.append(name)
    return applied


def resolve_placeholders(value: str, *, what: str, environ: MutableMapping[str, str] | None = None) -> str:
    """Replace every `%NAME%` with the app setting NAME, as the host does for binding expressions."""
    env = os.environ if environ is None else environ

    def _sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise FunctionHostError(
                f"{what} refers to app setting '{name}' ('%{name}%'), which is not set: add it to "
                "local.settings.json Values or the environment"
            )
        return env[name]

    return _PLACEHOLDER.sub(_sub, value)
