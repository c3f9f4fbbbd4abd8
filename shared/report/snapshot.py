"""The health snapshot's content (pure): one entry per site, as the failover poll observed it.

An entry is plain JSON: what ARM said about both gateways (SKU, provisioning state) and both connections
(status, provisioning state, bytes in/out), the failover condition, and since when each connection has
had its current status (carried forward from the previous entry: ARM does not say).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

SNAPSHOT_VERSION = 1
PATHS = ("expressRoute", "vpn")


def site_entry(
    name: str,
    *,
    observed_at: datetime,
    observed_by: str,
    gateways: dict[str, dict[str, Any]],
    connections: dict[str, dict[str, Any]],
    condition: str | None,
    active_path: str,
    error: str | None,
    previous: dict[str, Any] | None,
    routes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A site's entry. `gateways`/`connections` map "expressRoute"/"vpn" to resource dicts
    ({"name", "exists", "provisioningState", "sku" | "connectionStatus", "ingressBytes", "egressBytes",
    "error"}); `previous` is the site's entry in the last snapshot (for `statusSince`); `routes` is the
    latest route check's view (per-prefix rows, redundancy, withdrawn paths), when there is one."""
    at = observed_at.isoformat()
    previous_connections = (previous or {}).get("connections") or {}
    shaped: dict[str, dict[str, Any]] = {}
    for path in PATHS:
        connection = dict(connections[path])
        before = previous_connections.get(path) or {}
        unchanged = (
            before.get("statusSince")
            and before.get("connectionStatus") == connection.get("connectionStatus")
            and before.get("exists") == connection.get("exists")
        )
        connection["statusSince"] = before["statusSince"] if unchanged else at
        shaped[path] = connection
    return {
        "name": name,
        "observedAt": at,
        "observedBy": observed_by,
        "condition": condition,
        "activePath": active_path,
        "error": error,
        "gateways": {path: dict(gateways[path]) for path in PATHS},
        "connections": shaped,
        "routes": routes if routes is not None else (previous or {}).get("routes"),
    }


def merge(
    previous: dict[str, Any] | None,
    entries: list[dict[str, Any]],
    *,
    taken_at: datetime,
    source: str,
    known: list[str] | None = None,
) -> dict[str, Any]:
    """The next snapshot: the previous one with these sites' entries replaced (a refresh of one site
    keeps the others as they were, each with its own `observedAt`); sites no longer in `known` (the
    spec's site names) are dropped. An entry never replaces a newer observation of its site (a slow
    poll racing a refresh on another instance must not take the report back in time)."""
    sites = dict((previous or {}).get("sites") or {})
    if known is not None:
        sites = {name: entry for name, entry in sites.items() if name in known}
    for entry in entries:
        current = sites.get(entry["name"])
        if current and str(current.get("observedAt") or "") > str(entry.get("observedAt") or ""):
            continue
        sites[entry["name"]] = entry
    return {"version": SNAPSHOT_VERSION, "takenAt": taken_at.isoformat(), "source": source, "sites": sites}
