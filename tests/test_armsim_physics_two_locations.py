"""A gateway with circuits in two peering locations: a site failover test withdraws only the tested
location's routes; the other location keeps carrying the traffic (redundant routes)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from azure.mgmt.network import NetworkManagementClient

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.physics import BYTES_PER_SECOND, KEEPALIVE_BYTES_PER_SECOND
from hybridnet_dev.armsim.runner import SimulatorThread
from tests.physics_support import (
    CIRCUIT,
    ER_CONN,
    ER_GW,
    LOCATION,
    ONPREM,
    RG,
    VPN_CONN,
    client,
    ctl,
    onprem_routes,
    sim,
    single,
    start,
    stop,
    traffic,
)

__all__ = ["client", "ctl", "sim"]  # fixtures

SECOND = "hybrid-er-circuit-ams"
SECOND_CONN = "hybrid-er-connection-ams"


@pytest.fixture(scope="module", autouse=True)
def second_location(sim: SimulatorThread, ctl: SimControl) -> Iterator[None]:
    sub = sim.info.subscription_id
    circuit_id = f"/subscriptions/{sub}/resourceGroups/hybrid-circuit-rg/providers/Microsoft.Network/expressRouteCircuits/{SECOND}"
    ctl.put_resource(
        circuit_id,
        {
            "location": "westeurope",
            "properties": {
                "serviceProviderProperties": {
                    "serviceProviderName": "Equinix",
                    "peeringLocation": "Amsterdam",
                    "bandwidthInMbps": 1000,
                }
            },
        },
    )
    ctl.advertise_circuit(SECOND, [ONPREM])
    gateway = (
        f"/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.Network/virtualNetworkGateways/{ER_GW}"
    )
    ctl.put_resource(
        f"/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.Network/connections/{SECOND_CONN}",
        {
            "location": "eastus",
            "properties": {
                "connectionType": "ExpressRoute",
                "virtualNetworkGateway1": {"id": gateway},
                "peer": {"id": circuit_id},
                "routingWeight": 10,
            },
        },
    )
    yield


def test_only_the_tested_location_is_withdrawn(client: NetworkManagementClient) -> None:
    assert len(onprem_routes(client, ER_GW)) == 4  # two circuits, two sessions each
    guid = start(client)
    try:
        routes = onprem_routes(client, ER_GW)
        assert len(routes) == 2 and {r.origin for r in routes} == {"EBgp"}
        details = single(client, guid)
        assert details.non_redundant_routes == []
        (redundant,) = details.redundant_routes
        assert (redundant.peering_locations, redundant.routes) == ([LOCATION, "Amsterdam"], [ONPREM])

        # The Amsterdam circuit carries the load; the VPN stays on standby.
        before = {c: traffic(client, c)[0] for c in (ER_CONN, SECOND_CONN, VPN_CONN)}
        time.sleep(0.4)
        after = {c: traffic(client, c)[0] for c in (ER_CONN, SECOND_CONN, VPN_CONN)}
        assert after[SECOND_CONN] - before[SECOND_CONN] > 0.25 * BYTES_PER_SECOND
        assert after[ER_CONN] - before[ER_CONN] < KEEPALIVE_BYTES_PER_SECOND
        assert after[VPN_CONN] - before[VPN_CONN] < KEEPALIVE_BYTES_PER_SECOND
    finally:
        stop(client)
    assert len(onprem_routes(client, ER_GW)) == 4


def test_route_sets_and_resiliency_see_both_locations(client: NetworkManagementClient) -> None:
    gws = client.virtual_network_gateways
    (route_set,) = gws.begin_get_routes_information(RG, ER_GW).result().route_sets
    assert sorted(route_set.locations) == ["Amsterdam", LOCATION]
    assert sorted(s.circuit for s in route_set.details[ONPREM]) == [CIRCUIT, SECOND]
    start(client)
    stop(client)  # Silicon Valley validated, Amsterdam not
    info = gws.begin_get_resiliency_information(RG, ER_GW).result()
    scores = {c.name: c.current_score for c in info.components}
    assert scores["Route resilience"] == "40"
    assert scores["Resiliency validation"] == "10"  # one of the two peering locations
