"""The ExpressRoute site failover simulation on an ExpressRoute gateway (azure-mgmt-network 33.1,
Microsoft.Network 2025-05-01): start, stop, and the list of peering locations with their latest test.
All are POST long-running operations on the gateway (REST paths ``/startSiteFailoverTest``,
``/stopSiteFailoverTest``, ``/getFailoverAllTestsDetails``; examples
VirtualNetworkGateway{Start,Stop}SiteFailoverSimulation.json, feature:
https://learn.microsoft.com/azure/expressroute/resiliency-validation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.mgmt.network import NetworkManagementClient

TEST_TYPE = "SingleSiteFailover"


def _poll(poller: Any, what: str, timeout: float) -> Any:
    poller.wait(timeout)
    if not poller.done():
        raise TimeoutError(f"{what} took longer than {timeout:g}s")
    return poller.result()


@dataclass(frozen=True)
class LocationTest:
    """A peering location of the gateway with its latest failover test."""

    peering_location: str
    circuits: tuple[str, ...]
    status: str | None
    test_id: str | None


def location_tests(
    client: NetworkManagementClient, resource_group: str, gateway: str, *, timeout: float
) -> list[LocationTest]:
    poller = client.virtual_network_gateways.begin_get_failover_all_test_details(
        resource_group, gateway, type=TEST_TYPE, fetch_latest=True
    )
    out = []
    for entry in _poll(poller, f"failover test details of {gateway}", timeout) or []:
        out.append(
            LocationTest(
                peering_location=entry.peering_location or "",
                circuits=tuple(c.name for c in entry.circuits or () if c.name),
                status=entry.status,
                test_id=entry.test_guid,
            )
        )
    return out


def start_simulation(
    client: NetworkManagementClient,
    resource_group: str,
    gateway: str,
    *,
    peering_location: str,
    timeout: float,
) -> str:
    """Start a site failover simulation; the test's id."""
    poller = client.virtual_network_gateways.begin_start_express_route_site_failover_simulation(
        resource_group, gateway, peering_location=peering_location
    )
    return str(_poll(poller, f"start of the failover simulation on {gateway}", timeout) or "")


def stop_simulation(
    client: NetworkManagementClient,
    resource_group: str,
    gateway: str,
    *,
    peering_location: str,
    successful: bool,
    connections: list[tuple[str, str, bool]],
    timeout: float,
) -> None:
    """Stop the simulation, reporting ``wasSimulationSuccessful`` and, per failover connection,
    (name, location, verified) as ``ExpressRouteFailoverStopApiParameters`` expects."""
    from azure.mgmt.network import models

    params = models.ExpressRouteFailoverStopApiParameters(
        peering_location=peering_location,
        was_simulation_successful=successful,
        details=[
            models.FailoverConnectionDetails(
                failover_connection_name=name, failover_location=location, is_verified=verified
            )
            for name, location, verified in connections
        ],
    )
    poller = client.virtual_network_gateways.begin_stop_express_route_site_failover_simulation(
        resource_group, gateway, params
    )
    _poll(poller, f"stop of the failover simulation on {gateway}", timeout)
