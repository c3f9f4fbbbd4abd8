"""A live check of every site's gateways and connections, read from ARM on request."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.azure.network_reads import ResourceRead, SiteReads
from shared.failover.paths import ActivePath, active_path
from shared.spec import Site

MAX_CONCURRENT_SITES = 8


@dataclass(frozen=True)
class SiteLiveHealth:
    site: str
    reads: SiteReads
    active_path: ActivePath

    def to_json(self) -> dict[str, Any]:
        def resource(read: ResourceRead, *, connection: bool) -> dict[str, Any]:
            body: dict[str, Any] = {"name": read.name, "exists": read.exists}
            body["provisioningState"] = read.provisioning_state
            if connection:
                body["connectionStatus"] = read.connection_status
            else:
                body["sku"] = read.sku
            if read.error:
                body["error"] = read.error
            return body

        return {
            "name": self.site,
            "activePath": self.active_path.value,
            "gateways": {
                "expressRoute": resource(self.reads.expressroute_gateway, connection=False),
                "vpn": resource(self.reads.vpn_gateway, connection=False),
            },
            "connections": {
                "expressRoute": resource(self.reads.expressroute_connection, connection=True),
                "vpn": resource(self.reads.vpn_connection, connection=True),
            },
        }


def assess_site(site: Site, reads: SiteReads) -> SiteLiveHealth:
    """Pure: which path carries traffic, given what was read."""
    path = active_path(
        reads.expressroute_connection.connection_status, reads.vpn_connection.connection_status
    )
    return SiteLiveHealth(site=site.name, reads=reads, active_path=path)


def live_health(
    sites: list[Site], read_site: Callable[[Site], SiteReads], *, now: datetime | None = None
) -> dict[str, Any]:
    """Read every site (concurrently, bounded) and shape the foundation health document."""
    with ThreadPoolExecutor(max_workers=max(1, min(MAX_CONCURRENT_SITES, len(sites)))) as pool:
        results = list(pool.map(lambda s: assess_site(s, read_site(s)), sites))
    return {
        "generatedAt": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "sites": [r.to_json() for r in results],
    }
