"""Evidence for a failover row: how many on-premises prefixes each gateway has learned.

`getLearnedRoutes` is a POST long-running operation on the gateway (it costs ARM write quota), so it is
called only when a transition is about to be recorded, both gateways in parallel, bounded in time.
"""

from __future__ import annotations

import ipaddress
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from shared.spec import Site

if TYPE_CHECKING:
    from azure.mgmt.network import NetworkManagementClient

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _in_onprem(prefix: str | None, onprem: list[Network]) -> bool:
    if not prefix:
        return False
    try:
        net = ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return False
    return any(net.version == o.version and net.overlaps(o) for o in onprem)


def _count(client: NetworkManagementClient, site: Site, gateway: str, timeout: float) -> int:
    """Routes the gateway learned for on-premises prefixes (its VNet's own prefixes are excluded)."""
    onprem = [ipaddress.ip_network(p, strict=False) for p in site.on_premises.address_space]
    poller = client.virtual_network_gateways.begin_get_learned_routes(site.resource_group, gateway)
    poller.wait(timeout)
    if not poller.done():
        raise TimeoutError(f"getLearnedRoutes of {gateway} took longer than {timeout:g}s")
    result = poller.result()
    routes = list(result.value or []) if result is not None else []
    return sum(1 for r in routes if _in_onprem(r.network, onprem))


def _describe(exc: Exception) -> str:
    from azure.core.exceptions import HttpResponseError

    if isinstance(exc, HttpResponseError):
        return f"ARM answered {exc.status_code}"
    return f"{type(exc).__name__}: {exc}" if isinstance(exc, TimeoutError) else type(exc).__name__


def onprem_route_counts(client: NetworkManagementClient, site: Site, *, timeout: float) -> dict[str, Any]:
    """{"onPremRoutesViaExpressRoute": n | None, "onPremRoutesViaVpn": n | None, "errors": {...}}:
    a gateway that cannot be asked gets None and an error, never an exception (the row matters more)."""
    gateways = {
        "onPremRoutesViaExpressRoute": site.express_route.gateway.name,
        "onPremRoutesViaVpn": site.vpn.gateway.name,
    }
    evidence: dict[str, Any] = {"onPremPrefixes": list(site.on_premises.address_space)}
    errors: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="learned-routes") as pool:
        futures = {key: pool.submit(_count, client, site, gw, timeout) for key, gw in gateways.items()}
        for key, future in futures.items():
            try:
                evidence[key] = future.result()
            except Exception as exc:  # evidence is best effort
                evidence[key] = None
                errors[gateways[key]] = _describe(exc)
                log.warning(
                    "site %s: learned routes of %s unavailable: %s",
                    site.name,
                    gateways[key],
                    errors[gateways[key]],
                )
    if errors:
        evidence["errors"] = errors
    return evidence
