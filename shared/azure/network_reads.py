"""Reads of Microsoft.Network resources through the SDK, returned as plain data (no SDK models leak
out of this module)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.spec import Site

if TYPE_CHECKING:
    from azure.mgmt.network import NetworkManagementClient


@dataclass(frozen=True)
class ResourceRead:
    """The observed state of one resource: `exists` False when ARM answered 404; `error` set (and the
    other fields None) when ARM could not be read."""

    name: str
    exists: bool
    provisioning_state: str | None = None
    connection_status: str | None = None
    sku: str | None = None
    error: str | None = None
    ingress_bytes: int | None = None
    egress_bytes: int | None = None


def _text(value: object) -> str | None:
    """SDK enums (str subclasses) as their plain value."""
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _describe(exc: Exception) -> str:
    """What went wrong, without the response body (ARM bodies may carry secrets)."""
    from azure.core.exceptions import HttpResponseError

    if isinstance(exc, HttpResponseError):
        code = exc.error.code if exc.error is not None else None
        return f"ARM answered {exc.status_code}{f' {code}' if code else ''}"
    return f"{type(exc).__name__}: ARM could not be reached"


def read_connection(client: NetworkManagementClient, resource_group: str, name: str) -> ResourceRead:
    """GET (not list): a list of connections may omit connectionStatus; a GET carries it."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    try:
        connection = client.virtual_network_gateway_connections.get(resource_group, name)
    except ResourceNotFoundError:
        return ResourceRead(name=name, exists=False)
    except AzureError as exc:
        return ResourceRead(name=name, exists=False, error=_describe(exc))
    return ResourceRead(
        name=name,
        exists=True,
        provisioning_state=_text(connection.provisioning_state),
        connection_status=_text(connection.connection_status),
        ingress_bytes=connection.ingress_bytes_transferred,
        egress_bytes=connection.egress_bytes_transferred,
    )


def read_gateways(client: NetworkManagementClient, site: Site) -> tuple[ResourceRead, ResourceRead]:
    """Both gateways of a site (SKU, provisioning state) with ONE list call of its resource group
    (instead of two GETs); a gateway absent from the list does not exist."""
    from azure.core.exceptions import AzureError

    rg = site.resource_group
    names = (site.express_route.gateway.name, site.vpn.gateway.name)
    try:
        listed = {g.name.lower(): g for g in client.virtual_network_gateways.list(rg) if g.name}
    except AzureError as exc:
        error = _describe(exc)
        return ResourceRead(names[0], exists=False, error=error), ResourceRead(
            names[1], exists=False, error=error
        )

    def one(name: str) -> ResourceRead:
        gateway = listed.get(name.lower())
        if gateway is None:
            return ResourceRead(name=name, exists=False)
        return ResourceRead(
            name=name,
            exists=True,
            provisioning_state=_text(gateway.provisioning_state),
            sku=_text(gateway.sku.name) if gateway.sku else None,
        )

    return one(names[0]), one(names[1])
