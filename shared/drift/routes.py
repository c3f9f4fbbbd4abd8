"""Drift seen in the routes themselves (pure): a VPN-side prefix more specific than ExpressRoute's.

The spec rules refuse a local network gateway prefix more specific than ExpressRoute's; this is the
same mistake observed live, wherever it comes from (a prefix added to the local network gateway by hand,
or announced by the on-premises appliance over BGP on the VPN): longest prefix match wins before
Azure's preference for ExpressRoute, so production traffic for that range crosses the internet while
every connection looks healthy. Input: the per-prefix rows of the latest route check
(shared.failover.routes via the route view in the failover state).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.drift.findings import Finding, FindingKind, FixClass, Severity

REMEDY = (
    "remove the more specific prefix from the local network gateway, or stop the on-premises appliance "
    "announcing it over the VPN's BGP session (or announce it over ExpressRoute too)"
)


def route_findings(site: str, resource_id: str, rows: Iterable[Mapping[str, Any]]) -> list[Finding]:
    """One HIGH finding per range the VPN carries although ExpressRoute has a route for it."""
    findings: list[Finding] = []
    for row in rows:
        if row.get("state") != "backup-preferred":
            continue
        carried, er = row.get("carriedBy") or {}, row.get("alternative") or {}
        findings.append(
            Finding(
                site=site,
                resource_id=resource_id,
                kind=FindingKind.LIVE_ROUTE,
                severity=Severity.HIGH,
                fix=FixClass.FORBIDDEN,
                message=(
                    f"{row.get('prefix')} is carried by the VPN ({carried.get('connection')}, route "
                    f"{carried.get('prefix')}) although ExpressRoute has {er.get('prefix')}: the VPN route is "
                    "more specific, and the longest prefix wins before Azure prefers ExpressRoute, so this "
                    "range's production traffic crosses the internet"
                ),
                field="learnedRoutes",
                expected=er.get("prefix"),
                actual=carried.get("prefix"),
                remedy=REMEDY,
            )
        )
    return findings
