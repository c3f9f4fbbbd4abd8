"""Azure Monitor alerts in the common alert schema -> the sites they concern. Pure: no I/O, no SDK.

Schema: https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-common-schema
(`schemaId` "azureMonitorCommonAlertSchema"; `data.essentials.alertTargetIDs` lists the ARM ids of the
alerted resources, in lower case in Microsoft's samples; `monitorCondition` is Fired or Resolved).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shared.errors import BadRequest
from shared.spec.model import Site

COMMON_SCHEMA_ID = "azureMonitorCommonAlertSchema"
MONITOR_CONDITIONS = ("Fired", "Resolved")


class AlertError(BadRequest, ValueError):
    """The payload is not a usable common-schema alert; the message says why (for a 400)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Alert:
    alert_id: str
    alert_rule: str
    monitor_condition: str
    target_ids: tuple[str, ...]
    signal_type: str


def parse_alert(body: bytes | str) -> Alert:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise AlertError("BadJson", "the request body is not JSON") from None
    if not isinstance(payload, dict):
        raise AlertError("NotCommonAlertSchema", "the body is not a JSON object")
    if payload.get("schemaId") != COMMON_SCHEMA_ID:
        raise AlertError(
            "NotCommonAlertSchema",
            f"schemaId is {payload.get('schemaId')!r}, expected {COMMON_SCHEMA_ID!r}: enable the common "
            "alert schema on the action group's webhook",
        )
    data = payload.get("data")
    essentials = data.get("essentials") if isinstance(data, dict) else None
    if not isinstance(essentials, dict):
        raise AlertError("NotCommonAlertSchema", "data.essentials is missing")
    targets = essentials.get("alertTargetIDs")
    if not isinstance(targets, list) or not targets or not all(isinstance(t, str) and t for t in targets):
        raise AlertError("NoAlertTarget", "data.essentials.alertTargetIDs must be a non-empty list of ids")
    condition = essentials.get("monitorCondition")
    if condition not in MONITOR_CONDITIONS:
        raise AlertError(
            "BadMonitorCondition",
            f"data.essentials.monitorCondition is {condition!r}, expected Fired/Resolved",
        )
    return Alert(
        alert_id=str(essentials.get("alertId") or ""),
        alert_rule=str(essentials.get("alertRule") or ""),
        monitor_condition=condition,
        target_ids=tuple(targets),
        signal_type=str(essentials.get("signalType") or ""),
    )


def site_resource_ids(site: Site, subscription_id: str) -> tuple[str, ...]:
    """Every resource whose alert says something about the site's paths: both gateways, both
    connections, the local network gateway and the ExpressRoute circuit."""
    base = (
        f"/subscriptions/{subscription_id}/resourceGroups/{site.resource_group}/providers/Microsoft.Network"
    )
    return (
        f"{base}/virtualNetworkGateways/{site.express_route.gateway.name}",
        f"{base}/virtualNetworkGateways/{site.vpn.gateway.name}",
        f"{base}/connections/{site.express_route.connection.name}",
        f"{base}/connections/{site.vpn.connection.name}",
        f"{base}/localNetworkGateways/{site.vpn.local_network_gateway.name}",
        site.express_route.connection.circuit_id,
    )


def _norm(resource_id: str) -> str:
    return resource_id.strip().rstrip("/").lower()


def sites_for_targets(
    targets: Iterable[str], sites: Sequence[Site], subscription_id: str
) -> tuple[list[Site], list[str]]:
    """(the sites any target belongs to, in spec order; the targets that match no site). ARM ids are
    case-insensitive; a circuit shared by two sites names both."""
    wanted = {_norm(t) for t in targets}
    matched: set[str] = set()
    found: list[Site] = []
    for site in sites:
        ids = {_norm(i) for i in site_resource_ids(site, subscription_id)}
        hits = wanted & ids
        if hits:
            found.append(site)
            matched |= hits
    unknown = sorted(t for t in targets if _norm(t) not in matched)
    return found, unknown
