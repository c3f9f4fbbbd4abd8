"""Azure Resource Graph: one paged query for every site's network resources (azure-mgmt-resourcegraph).

The app sends one query shape (a documented KQL subset,
https://learn.microsoft.com/azure/governance/resource-graph/concepts/query-language):

    resources
    | where type in~ ('microsoft.network/virtualnetworks', ...) and resourceGroup in~ ('rg-a', ...)
    | project id, name, type, resourceGroup, location, tags, sku, properties

paged by `$skipToken` with pages of at most 1,000 rows
(https://learn.microsoft.com/azure/governance/resource-graph/concepts/work-with-data#paging-results).
Resource Graph lags ARM by seconds to minutes and carries no ETag, no shared key and no live
connection status: a pass decides from it whether anything needs doing; whatever writes re-reads ARM
first (shared.drift.reconcile observes again under the lease).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from shared.azure import clients
from shared.settings import Settings

if TYPE_CHECKING:
    pass

PAGE_ROWS = 1000  # Resource Graph's maximum page ($top)
NETWORK_TYPES = (
    "microsoft.network/virtualnetworks",
    "microsoft.network/virtualnetworkgateways",
    "microsoft.network/localnetworkgateways",
    "microsoft.network/connections",
    "microsoft.network/loadbalancers",
)
PROJECTION = ("id", "name", "type", "resourceGroup", "location", "tags", "sku", "properties")


class GraphQueryFailed(Exception):
    """Resource Graph could not be queried; the message names the status, never a row."""


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def network_query(resource_groups: Iterable[str], types: Iterable[str] = NETWORK_TYPES) -> str:
    groups = sorted({g.lower() for g in resource_groups})
    if not groups:
        raise ValueError("a Resource Graph query needs at least one resource group")
    return (
        "resources"
        f" | where type in~ ({', '.join(_quote(t) for t in types)})"
        f" and resourceGroup in~ ({', '.join(_quote(g) for g in groups)})"
        f" | project {', '.join(PROJECTION)}"
    )


def graph_client(settings: Settings) -> Any:
    return clients.resource_graph_client(
        endpoint=settings.arm_endpoint,
        ca_bundle=settings.arm_ca_bundle,
        call_timeout=settings.arm_call_timeout,
        retry_total=settings.arm_retry_total,
    )


def query_rows(client: Any, *, subscription: str, query: str, max_pages: int = 200) -> list[dict[str, Any]]:
    """Every row of `query` over `subscription`, following `$skipToken` page by page."""
    from azure.core.exceptions import AzureError, HttpResponseError
    from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

    rows: list[dict[str, Any]] = []
    skip_token: str | None = None
    for _page in range(max_pages):
        request = QueryRequest(
            subscriptions=[subscription],
            query=query,
            options=QueryRequestOptions(top=PAGE_ROWS, skip_token=skip_token, result_format="objectArray"),
        )
        try:
            response = client.resources(request)
        except HttpResponseError as exc:
            code = exc.error.code if exc.error is not None else ""
            raise GraphQueryFailed(f"Resource Graph answered {exc.status_code} {code}".rstrip()) from None
        except AzureError as exc:
            raise GraphQueryFailed(f"Resource Graph could not be reached ({type(exc).__name__})") from None
        data = response.data or []
        if not isinstance(data, list):
            raise GraphQueryFailed("Resource Graph answered rows in an unexpected format")
        rows.extend(row for row in data if isinstance(row, dict))
        skip_token = response.skip_token
        if not skip_token:
            return rows
    raise GraphQueryFailed(f"Resource Graph still had pages after {max_pages}")


GATEWAY_TYPE = "microsoft.network/virtualnetworkgateways"


def read_gateways_graph(client: Any, *, subscription: str, sites: list[Any]) -> dict[str, tuple[Any, Any]]:
    """Both gateways (SKU, provisioning state) of every site from ONE paged Resource Graph query, as
    shared.azure.network_reads.ResourceRead pairs (ExpressRoute, VPN) by site name. Raises
    GraphQueryFailed."""
    from shared.azure.network_reads import ResourceRead

    if not sites:
        return {}
    rows = query_rows(
        client,
        subscription=subscription,
        query=network_query({s.resource_group for s in sites}, types=(GATEWAY_TYPE,)),
    )
    by_key = {(str(r.get("resourceGroup") or "").lower(), str(r.get("name") or "").lower()): r for r in rows}

    def one(resource_group: str, name: str) -> Any:
        row = by_key.get((resource_group.lower(), name.lower()))
        if row is None:
            return ResourceRead(name=name, exists=False)
        properties = row.get("properties") or {}
        sku = properties.get("sku") or row.get("sku") or {}
        return ResourceRead(
            name=name,
            exists=True,
            provisioning_state=properties.get("provisioningState"),
            sku=sku.get("name") if isinstance(sku, dict) else None,
        )

    return {
        s.name: (
            one(s.resource_group, s.express_route.gateway.name),
            one(s.resource_group, s.vpn.gateway.name),
        )
        for s in sites
    }
