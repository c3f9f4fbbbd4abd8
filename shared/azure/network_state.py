"""Drift's ARM adapter: observe a site's resources with list calls (plain REST-shaped dicts out), and
write resources with If-Match / If-None-Match, awaiting the long-running operation."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from shared.azure.lro_errors import lro_failure
from shared.drift.apply import WriteError
from shared.drift.observed import ObservedResource, ObservedSite, ObserveFailed, observed_site
from shared.drift.resources import Kind, name_of, resource_group_of
from shared.errors import redact
from shared.spec import Site

if TYPE_CHECKING:
    from azure.mgmt.network import NetworkManagementClient


SECRET_FIELDS = ("sharedKey",)


def _plain(model: Any, kind: Kind) -> dict[str, Any]:
    body = model.as_dict()
    properties = body.get("properties")
    if isinstance(properties, dict):
        for secret in SECRET_FIELDS:
            properties.pop(secret, None)
    return body


def _list(what: str, call: Callable[[], Any]) -> list[Any]:
    from azure.core.exceptions import AzureError

    try:
        return list(call())
    except AzureError as exc:
        raise ObserveFailed(f"listing {what} failed: {describe_error(exc)}") from None


def describe_error(exc: Exception, secret: str | None = None) -> str:
    """Status, code and ARM's message, redacted (shared.errors.redact: `secret` and anything secret-looking)
    before anything is cut."""
    from azure.core.exceptions import HttpResponseError

    if isinstance(exc, HttpResponseError):
        code = exc.error.code if exc.error is not None else None
        message = (exc.error.message if exc.error is not None else "") or ""
        text = f"ARM answered {exc.status_code}{f' {code}' if code else ''}"
        if message:
            text += f": {redact(message, secrets=(secret,), limit=300)}"
        return text
    return f"{type(exc).__name__} (ARM could not be reached)"


def observe_site(client: NetworkManagementClient, site: Site) -> ObservedSite:
    """At most six list calls for the site's resource group (five when every gateway exists):
    VNets (with subnets), gateways, local network gateways, connections, load balancers, and public IPs
    only when a gateway is missing (a gateway in place holds its public IP)."""
    rg = site.resource_group
    resources: list[ObservedResource] = []
    for vnet in _list(f"virtual networks in {rg}", lambda: client.virtual_networks.list(rg)):
        body = _plain(vnet, Kind.VNET)
        resources.append(ObservedResource(Kind.VNET, body["id"], body))
        for subnet in (body.get("properties") or {}).get("subnets") or []:
            if subnet.get("id"):
                resources.append(ObservedResource(Kind.SUBNET, subnet["id"], subnet))
    gateways = _list(f"gateways in {rg}", lambda: client.virtual_network_gateways.list(rg))
    resources += [
        ObservedResource(Kind.GATEWAY, g["id"], g) for g in (_plain(x, Kind.GATEWAY) for x in gateways)
    ]
    lngs = _list(f"local network gateways in {rg}", lambda: client.local_network_gateways.list(rg))
    resources += [
        ObservedResource(Kind.LOCAL_GATEWAY, b["id"], b)
        for b in (_plain(x, Kind.LOCAL_GATEWAY) for x in lngs)
    ]
    connections = _list(f"connections in {rg}", lambda: client.virtual_network_gateway_connections.list(rg))
    resources += [
        ObservedResource(Kind.CONNECTION, b["id"], b)
        for b in (_plain(x, Kind.CONNECTION) for x in connections)
    ]
    lbs = _list(f"load balancers in {rg}", lambda: client.load_balancers.list(rg))
    resources += [
        ObservedResource(Kind.LOAD_BALANCER, b["id"], b) for b in (_plain(x, Kind.LOAD_BALANCER) for x in lbs)
    ]
    listed = set(Kind) - {Kind.PUBLIC_IP}
    gateway_names = {name_of(r.id).lower() for r in resources if r.kind is Kind.GATEWAY}
    if {site.express_route.gateway.name.lower(), site.vpn.gateway.name.lower()} - gateway_names:
        pips = _list(f"public IPs in {rg}", lambda: client.public_ip_addresses.list(rg))
        resources += [
            ObservedResource(Kind.PUBLIC_IP, b["id"], b) for b in (_plain(x, Kind.PUBLIC_IP) for x in pips)
        ]
        listed.add(Kind.PUBLIC_IP)
    return observed_site(site.name, resources, frozenset(listed))


GRAPH_KINDS = {
    "microsoft.network/virtualnetworks": Kind.VNET,
    "microsoft.network/virtualnetworkgateways": Kind.GATEWAY,
    "microsoft.network/localnetworkgateways": Kind.LOCAL_GATEWAY,
    "microsoft.network/connections": Kind.CONNECTION,
    "microsoft.network/loadbalancers": Kind.LOAD_BALANCER,
}
GRAPH_BODY = ("id", "name", "location", "tags", "sku", "properties")


def _graph_body(row: Mapping[str, Any], arm_type: Kind) -> dict[str, Any]:
    """A Resource Graph row as the ARM body the diff reads (no ETag: Graph has none; no shared key)."""
    body = {k: row[k] for k in GRAPH_BODY if row.get(k) is not None}
    body["type"] = f"Microsoft.Network/{arm_type.value}"
    properties = body.get("properties")
    if isinstance(properties, dict):
        body["properties"] = {k: v for k, v in properties.items() if k not in SECRET_FIELDS}
    return body


def sites_from_graph_rows(rows: list[dict[str, Any]], sites: list[Site]) -> dict[str, ObservedSite | None]:
    """Each site's observation from the pass's Resource Graph rows; None for a site whose gateway is
    missing (public IPs then need ARM's list: observe_site)."""
    by_group: dict[str, list[ObservedResource]] = {}
    for row in rows:
        kind = GRAPH_KINDS.get(str(row.get("type") or "").lower())
        if kind is None or not row.get("id"):
            continue
        body = _graph_body(row, kind)
        group = by_group.setdefault(
            str(row.get("resourceGroup") or resource_group_of(body["id"])).lower(), []
        )
        group.append(ObservedResource(kind, body["id"], body))
        if kind is Kind.VNET:
            for subnet in (body.get("properties") or {}).get("subnets") or []:
                if isinstance(subnet, dict) and subnet.get("id"):
                    # No ETag from Graph for anything: whatever writes reads ARM's first.
                    shaped = {k: v for k, v in subnet.items() if k != "etag"}
                    group.append(ObservedResource(Kind.SUBNET, subnet["id"], shaped))
    out: dict[str, ObservedSite | None] = {}
    for site in sites:
        resources = by_group.get(site.resource_group.lower(), [])
        gateways = {name_of(r.id).lower() for r in resources if r.kind is Kind.GATEWAY}
        if {site.express_route.gateway.name.lower(), site.vpn.gateway.name.lower()} - gateways:
            out[site.name] = None
            continue
        out[site.name] = observed_site(site.name, list(resources), frozenset(Kind) - {Kind.PUBLIC_IP})
    return out


def observe_sites_graph(
    graph: Any, *, subscription: str, sites: list[Site]
) -> dict[str, ObservedSite | None]:
    """One paged Resource Graph query for all `sites` (shared.azure.resource_graph); raises
    ObserveFailed when Graph cannot be read."""
    from shared.azure.resource_graph import GraphQueryFailed, network_query, query_rows

    if not sites:
        return {}
    try:
        rows = query_rows(
            graph, subscription=subscription, query=network_query(s.resource_group for s in sites)
        )
    except GraphQueryFailed as exc:
        raise ObserveFailed(str(exc)) from None
    return sites_from_graph_rows(rows, sites)


class ArmResourceWriter:
    """PUTs through the SDK's own operation for each kind and waits for the LRO (bounded)."""

    def __init__(self, client: NetworkManagementClient, *, lro_timeout: float = 600.0) -> None:
        self._client = client
        self._lro_timeout = lro_timeout

    def put(
        self,
        kind: Kind,
        resource_id: str,
        body: Mapping[str, Any],
        *,
        if_match: str | None,
        create_only: bool,
    ) -> None:
        from azure.core.exceptions import AzureError

        rg, name = resource_group_of(resource_id), name_of(resource_id)
        headers = {"If-Match": if_match} if if_match else ({"If-None-Match": "*"} if create_only else {})
        payload = _writable(body)
        secret = (body.get("properties") or {}).get("sharedKey")
        client = self._client
        try:
            if kind is Kind.SUBNET:
                vnet = resource_id.rstrip("/").split("/")[-3]
                poller = client.subnets.begin_create_or_update(rg, vnet, name, payload, headers=headers)
            else:
                operations = {
                    Kind.VNET: client.virtual_networks,
                    Kind.PUBLIC_IP: client.public_ip_addresses,
                    Kind.GATEWAY: client.virtual_network_gateways,
                    Kind.LOCAL_GATEWAY: client.local_network_gateways,
                    Kind.CONNECTION: client.virtual_network_gateway_connections,
                    Kind.LOAD_BALANCER: client.load_balancers,
                }[kind]
                poller = operations.begin_create_or_update(rg, name, payload, headers=headers)
            deadline = time.monotonic() + self._lro_timeout
            poller.wait(timeout=self._lro_timeout)
            if not poller.done():
                raise WriteError(
                    f"{kind.value}/{name}: the operation did not finish within {self._lro_timeout:g}s "
                    "(it may still complete; the next pass re-reads it)"
                )
            result = poller.result(timeout=max(0.0, deadline - time.monotonic()))
        except AzureError as exc:
            status = getattr(exc, "status_code", None)
            if status == 412:
                raise WriteError(
                    f"{kind.value}/{name}: changed since it was read (ETag mismatch); not written, the next "
                    "pass re-plans from the new state"
                ) from None
            failure = lro_failure(exc, secret=secret)  # the operation's own error, not "ARM answered 200"
            raise WriteError(f"{kind.value}/{name}: {failure or describe_error(exc, secret)}") from None
        state = getattr(result, "provisioning_state", None) if result is not None else None
        if state is not None and str(getattr(state, "value", state)) == "Failed":
            raise WriteError(f"{kind.value}/{name}: the operation ended with provisioning state Failed")


READ_ONLY = ("etag", "type")
READ_ONLY_PROPERTIES = ("provisioningState", "resourceGuid")


def _writable(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body to PUT: server-managed fields left out."""
    out = {k: v for k, v in body.items() if k not in READ_ONLY}
    if isinstance(out.get("properties"), Mapping):
        out["properties"] = {k: v for k, v in out["properties"].items() if k not in READ_ONLY_PROPERTIES}
    return out
