"""Learned routes and BGP peer status of the gateways, local network gateways (plain data out).

`getLearnedRoutes` and `getBgpPeerStatus` are POST long-running operations on a gateway (they cost ARM
write quota): only the route check (shared.services.failover) calls them, on its own schedule and
coalesced per site (single flight per gateway), never per transition or per report.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.mgmt.network import NetworkManagementClient

    from shared.failover.routes import GatewayReading

log = logging.getLogger(__name__)


def _describe(exc: Exception) -> str:
    """What went wrong, without the response body (ARM bodies are never logged)."""
    from azure.core.exceptions import HttpResponseError

    if isinstance(exc, HttpResponseError):
        return f"ARM answered {exc.status_code}"
    return f"{type(exc).__name__}: {exc}" if isinstance(exc, TimeoutError) else type(exc).__name__


# --- the route check: learned routes + BGP peer status per gateway, local network gateways -------------


def _poll(poller: Any, what: str, timeout: float) -> Any:
    poller.wait(timeout)
    if not poller.done():
        raise TimeoutError(f"{what} took longer than {timeout:g}s")
    return poller.result()


def _route_json(model: Any) -> dict[str, Any]:
    """An SDK GatewayRoute as ARM's camelCase JSON (the shape the pure analysis reads)."""
    return {
        "network": getattr(model, "network", None),
        "nextHop": getattr(model, "next_hop", None),
        "sourcePeer": getattr(model, "source_peer", None),
        "origin": getattr(model, "origin", None),
        "asPath": getattr(model, "as_path", None),
        "weight": getattr(model, "weight", None),
    }


def _peer_json(model: Any) -> dict[str, Any]:
    state = getattr(model, "state", None)
    return {
        "neighbor": getattr(model, "neighbor", None),
        "asn": getattr(model, "asn", None),
        "state": getattr(state, "value", state),
        "routesReceived": getattr(model, "routes_received", None),
    }


def read_gateway_routes(
    client: NetworkManagementClient,
    resource_group: str,
    gateway: str,
    *,
    path: str,
    peers: bool,
    timeout: float,
) -> GatewayReading:
    """One gateway's learned routes and (when `peers`) BGP peer status: one POST long-running operation
    each, both in parallel, each bounded by `timeout`. Never raises: what could not be read is None
    and `error` says why (no response body: ARM bodies are never logged)."""
    from shared.failover.routes import BgpPeer, GatewayReading, LearnedRoute

    errors: list[str] = []
    routes: tuple[LearnedRoute, ...] | None = None
    bgp: tuple[BgpPeer, ...] | None = None
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="route-check") as pool:
        learned = pool.submit(
            lambda: _poll(
                client.virtual_network_gateways.begin_get_learned_routes(resource_group, gateway),
                "getLearnedRoutes",
                timeout,
            )
        )
        status = (
            pool.submit(
                lambda: _poll(
                    client.virtual_network_gateways.begin_get_bgp_peer_status(resource_group, gateway),
                    "getBgpPeerStatus",
                    timeout,
                )
            )
            if peers
            else None
        )
        try:
            result = learned.result()
            values = list(result.value or []) if result is not None else []
            routes = tuple(LearnedRoute.from_json(_route_json(r)) for r in values)
        except Exception as exc:
            errors.append(f"learned routes: {_describe(exc)}")
        if status is not None:
            try:
                result = status.result()
                values = list(result.value or []) if result is not None else []
                bgp = tuple(BgpPeer.from_json(_peer_json(p)) for p in values)
            except Exception as exc:
                errors.append(f"BGP peer status: {_describe(exc)}")
    if errors:
        log.warning("gateway %s: %s", gateway, "; ".join(errors))
    return GatewayReading(gateway, path, routes, bgp, "; ".join(errors) or None)


@dataclass(frozen=True)
class LocalGatewayRead:
    name: str
    exists: bool
    gateway_ip: str | None = None
    bgp_address: str | None = None
    prefixes: tuple[str, ...] = ()
    error: str | None = None


def read_local_gateway(client: NetworkManagementClient, resource_group: str, name: str) -> LocalGatewayRead:
    """GET of a local network gateway: the appliance's public IP, BGP peering address and the static
    prefixes the VPN carries (a hand-made change shows here first)."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    try:
        lng = client.local_network_gateways.get(resource_group, name)
    except ResourceNotFoundError:
        return LocalGatewayRead(name, exists=False)
    except AzureError as exc:
        return LocalGatewayRead(name, exists=False, error=_describe(exc))
    space = lng.local_network_address_space
    bgp = lng.bgp_settings
    return LocalGatewayRead(
        name,
        exists=True,
        gateway_ip=lng.gateway_ip_address,
        bgp_address=bgp.bgp_peering_address if bgp else None,
        prefixes=tuple(space.address_prefixes or []) if space else (),
    )
