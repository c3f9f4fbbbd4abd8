"""Azure Monitor alerts in the common alert schema -> the sites they concern. Pure: no I/O, no SDK.

Schema: https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-common-schema
(`schemaId` "azureMonitorCommonAlertSchema"; `data.essentials.alertTargetIDs` lists the ARM ids of the
alerted resources, in lower case in Microsoft's samples; `monitorCondition` is Fired or Resolved).

Alerts whose target is no site resource still reach the right sites
(samples: https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-payload-samples):
- log search alerts target the Log Analytics workspace: the site's resource ids appear in the
  alert's dimensions (`alertContext.condition.allOf[].dimensions`, Log Alerts V2; `Dimensions` in V1)
  or in its embedded search results (`alertContext.SearchResults.tables[].rows`, V1);
- Service Health alerts target the subscription and name the impacted services and regions in
  `alertContext.properties.impactedServices` (a JSON array, or a JSON string of one): an incident for
  ExpressRoute or VPN Gateway in a region concerns every site in that region ("Global": every site).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from shared.errors import BadRequest
from shared.spec.model import Site

COMMON_SCHEMA_ID = "azureMonitorCommonAlertSchema"
MONITOR_CONDITIONS = ("Fired", "Resolved")


class AlertError(BadRequest, ValueError):
    """The payload is not a usable common-schema alert; the message says why (for a 400)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# Service Health names of the services a site's paths depend on (case and spaces ignored).
PATH_SERVICES = ("ExpressRoute", "VPN Gateway")
SERVICE_HEALTH = "ServiceHealth"


@dataclass(frozen=True)
class Alert:
    alert_id: str
    alert_rule: str
    monitor_condition: str
    target_ids: tuple[str, ...]
    signal_type: str
    monitoring_service: str = ""
    # ARM ids found in a log search alert's dimensions and search results
    mentioned_ids: tuple[str, ...] = ()
    # Service Health: (service name, region) pairs of impactedServices
    impacted: tuple[tuple[str, str], ...] = ()

    @property
    def is_service_health(self) -> bool:
        return self.monitoring_service.replace(" ", "").lower() == SERVICE_HEALTH.lower()


def _strings(value: object) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _resource_ids(context: dict) -> tuple[str, ...]:
    """ARM ids in a log search alert's dimensions (V2 and V1) and embedded search results."""
    found: list[str] = []
    condition = context.get("condition")
    parts: list[object] = [context.get("Dimensions"), (context.get("SearchResults") or {}).get("tables")]
    if isinstance(condition, dict):
        parts += [c.get("dimensions") for c in condition.get("allOf") or [] if isinstance(c, dict)]
    for text in (s for part in parts for s in _strings(part)):
        value = text.strip()
        if value.lower().startswith("/subscriptions/") and value not in found:
            found.append(value)
    return tuple(found)


def _impacted(context: dict) -> tuple[tuple[str, str], ...]:
    properties = context.get("properties")
    if not isinstance(properties, dict):
        return ()
    services = properties.get("impactedServices")
    if isinstance(services, str):
        try:
            services = json.loads(services)
        except ValueError:
            raise AlertError(
                "BadImpactedServices", "alertContext.properties.impactedServices is not JSON"
            ) from None
    pairs: list[tuple[str, str]] = []
    for service in services if isinstance(services, list) else []:
        if not isinstance(service, dict):
            continue
        name = str(service.get("ServiceName") or "")
        for region in service.get("ImpactedRegions") or []:
            if isinstance(region, dict) and region.get("RegionName"):
                pairs.append((name, str(region["RegionName"])))
    return tuple(pairs)


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
    context = data.get("alertContext") if isinstance(data, dict) else None
    context = context if isinstance(context, dict) else {}
    service = str(essentials.get("monitoringService") or "")
    alert = Alert(
        alert_id=str(essentials.get("alertId") or ""),
        alert_rule=str(essentials.get("alertRule") or ""),
        monitor_condition=condition,
        target_ids=tuple(targets),
        signal_type=str(essentials.get("signalType") or ""),
        monitoring_service=service,
        mentioned_ids=_resource_ids(context),
    )
    if alert.is_service_health:
        alert = replace(alert, impacted=_impacted(context))
    return alert


def site_resource_ids(site: Site, subscription_id: str) -> tuple[str, ...]:
    """Every resource whose alert says something about the site's paths: both gateways, every
    connection, every local network gateway and every ExpressRoute circuit."""
    base = (
        f"/subscriptions/{subscription_id}/resourceGroups/{site.resource_group}/providers/Microsoft.Network"
    )
    er, vpn = site.express_route, site.vpn
    return (
        f"{base}/virtualNetworkGateways/{er.gateway.name}",
        f"{base}/virtualNetworkGateways/{vpn.gateway.name}",
        *(f"{base}/connections/{c.name}" for c in er.connections),
        *(f"{base}/connections/{c.name}" for c in vpn.connections),
        *(f"{base}/localNetworkGateways/{g.name}" for g in vpn.local_network_gateways),
        *dict.fromkeys(c.circuit_id for c in er.connections),
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


def _squash(text: str) -> str:
    return text.replace(" ", "").lower()


def sites_for_alert(
    alert: Alert, sites: Sequence[Site], subscription_id: str
) -> tuple[list[Site], list[str], str]:
    """(the sites to check, in spec order; the ids that match no site; how they were found).

    A Service Health alert of the sites' subscription: every site in an impacted region of an
    ExpressRoute or VPN Gateway incident. Any other alert: the sites owning a target id, else (a log
    search alert targets its workspace) the sites owning a resource id of its dimensions/results."""
    if alert.is_service_health:
        ours = any(_norm(t) == _norm(f"/subscriptions/{subscription_id}") for t in alert.target_ids)
        wanted = {_squash(s) for s in PATH_SERVICES}
        regions = {_squash(r) for name, r in alert.impacted if _squash(name) in wanted}
        if not ours or not regions:
            return [], list(alert.target_ids), "service-health"
        found = [s for s in sites if "global" in regions or _squash(s.location) in regions]
        return found, [], "service-health"
    found, unknown = sites_for_targets(alert.target_ids, sites, subscription_id)
    if found or not alert.mentioned_ids:
        return found, unknown, "target"
    found, _ = sites_for_targets(alert.mentioned_ids, sites, subscription_id)
    return found, unknown if not found else [], "dimensions"
