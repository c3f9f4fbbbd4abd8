"""The ExpressRoute resiliency APIs (azure-mgmt-network 33.1) and their physical effect, through the SDK:
while a site failover test runs for a peering location, that location's ExpressRoute routes are
withdrawn and the on-premises traffic moves to the VPN."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network import NetworkManagementClient, models

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorThread
from tests.physics_support import (
    CIRCUIT,
    ER_CONN,
    ER_GW,
    ONPREM,
    RG,
    VPN_CONN,
    VPN_GW,
    client,
    ctl,
    onprem_routes,
    peers,
    sim,
    status,
    traffic,
)

__all__ = ["client", "ctl", "sim"]  # fixtures

LOCATION = "Silicon Valley"  # the seeded circuit's serviceProviderProperties.peeringLocation


@pytest.fixture(autouse=True)
def clean(ctl: SimControl) -> Iterator[None]:
    ctl.clear_faults()
    yield
    ctl.clear_faults()


def start(client: NetworkManagementClient, location: str = LOCATION, gateway: str = ER_GW) -> str:
    gws = client.virtual_network_gateways
    return gws.begin_start_express_route_site_failover_simulation(
        RG, gateway, peering_location=location
    ).result()


def stop(client: NetworkManagementClient, *, successful: bool = True) -> str:
    params = models.ExpressRouteFailoverStopApiParameters(
        peering_location=LOCATION,
        was_simulation_successful=successful,
        details=[
            models.FailoverConnectionDetails(
                failover_connection_name=VPN_CONN, failover_location="eastus", is_verified=True
            )
        ],
    )
    gws = client.virtual_network_gateways
    return gws.begin_stop_express_route_site_failover_simulation(RG, ER_GW, params).result()


def all_tests(client: NetworkManagementClient) -> list[models.ExpressRouteFailoverTestDetails]:
    gws = client.virtual_network_gateways
    return gws.begin_get_failover_all_test_details(
        RG, ER_GW, type="SingleSiteFailover", fetch_latest=True
    ).result()


def single(client: NetworkManagementClient, guid: str) -> models.ExpressRouteFailoverSingleTestDetails:
    gws = client.virtual_network_gateways
    (details,) = gws.begin_get_failover_single_test_details(
        RG, ER_GW, peering_location=LOCATION, failover_test_id=guid
    ).result()
    return details


def test_never_tested_location_is_listed_not_started(client: NetworkManagementClient) -> None:
    (entry,) = all_tests(client)
    assert (entry.peering_location, entry.status, entry.test_guid) == (LOCATION, "NotStarted", None)
    assert [c.name for c in entry.circuits] == [CIRCUIT]


def test_site_failover_withdraws_expressroute_routes_and_moves_traffic(
    client: NetworkManagementClient,
) -> None:
    assert len(onprem_routes(client, ER_GW)) == 2
    guid = start(client)
    try:
        # Physical effect: the gateway no longer receives the location's routes; BGP stays up.
        assert onprem_routes(client, ER_GW) == []
        assert status(client, ER_CONN) == "Connected"
        assert [(p.state, p.routes_received) for p in peers(client, ER_GW)] == [("Connected", 0)] * 2
        assert [r.origin for r in onprem_routes(client, VPN_GW)] == ["Network"]  # the VPN still has it

        (entry,) = all_tests(client)
        assert (entry.status, entry.test_guid, entry.test_type) == ("Running", guid, "SingleSiteFailover")
        assert [(c.name, c.status) for c in entry.connections] == [(ER_CONN, "Connected")]
        details = single(client, guid)
        assert details.status == "Running" and details.non_redundant_routes == [ONPREM]
        assert details.redundant_routes == []

        # The load now runs over the VPN (counters advance with time while the test runs).
        vpn0, er0 = traffic(client, VPN_CONN)[0], traffic(client, ER_CONN)[0]
        time.sleep(0.4)
        vpn1, er1 = traffic(client, VPN_CONN)[0], traffic(client, ER_CONN)[0]
        assert vpn1 - vpn0 > 40_000  # ~125 kB/s
        assert er1 - er0 < 100  # keepalives only
    finally:
        assert stop(client) == ""
    assert len(onprem_routes(client, ER_GW)) == 2
    details = single(client, guid)
    assert (details.status, details.was_simulation_successful) == ("Completed", True)
    assert details.end_time_utc is not None
    assert [(d.failover_connection_name, d.is_verified) for d in details.failover_connection_details] == [
        (VPN_CONN, True)
    ]


def test_stop_that_fails_leaves_the_test_hanging_with_routes_withdrawn(
    client: NetworkManagementClient, ctl: SimControl
) -> None:
    guid = start(client)
    ctl.add_fault("failLro", method="POST", path="/stopSiteFailoverTest$", count=1)
    with pytest.raises(HttpResponseError):
        stop(client)
    assert single(client, guid).status == "StopFailed"
    assert onprem_routes(client, ER_GW) == []  # still withdrawn
    assert stop(client) == ""  # a later stop succeeds
    assert single(client, guid).status == "Completed"
    assert len(onprem_routes(client, ER_GW)) == 2


def test_requests_azure_rejects(client: NetworkManagementClient, sim: SimulatorThread) -> None:
    with pytest.raises(HttpResponseError) as err:
        start(client, gateway=VPN_GW)
    assert err.value.status_code == 400 and "ExpressRoute" in str(err.value.message)
    with pytest.raises(HttpResponseError) as err:
        start(client, location="Amsterdam")
    assert err.value.status_code == 400 and "Amsterdam" in str(err.value.message)
    assert LOCATION in str(err.value.message)
    with pytest.raises(HttpResponseError) as err:
        stop(client)  # nothing runs
    assert err.value.status_code == 400
    gws = client.virtual_network_gateways
    with pytest.raises(HttpResponseError) as err:
        gws.begin_get_failover_all_test_details(RG, ER_GW, type="Sometimes", fetch_latest=True).result()
    assert err.value.status_code == 400 and "Sometimes" in str(err.value.message)
    with pytest.raises(HttpResponseError) as err:
        single(client, "00000000-0000-0000-0000-000000000000")
    assert err.value.status_code == 404
    guid = start(client)
    try:
        with pytest.raises(HttpResponseError) as err:
            start(client)
        assert err.value.status_code == 409 and guid in str(err.value.message)
    finally:
        stop(client)


def test_resiliency_information_reflects_the_network(
    client: NetworkManagementClient, ctl: SimControl
) -> None:
    guid = start(client)
    stop(client)
    assert single(client, guid).was_simulation_successful is True
    gws = client.virtual_network_gateways
    info = gws.begin_get_resiliency_information(RG, ER_GW, attempt_refresh=True).result()
    scores = {c.name: (c.current_score, c.max_score) for c in info.components}
    assert scores == {
        "Peering location redundancy": ("20", "40"),  # one peering location only
        "BGP session redundancy": ("20", "20"),
        "Site failover simulation": ("20", "20"),
        "Site-to-site VPN backup": ("20", "20"),
    }
    assert info.overall_score == "80" and info.max_score_from_recommendations == "20"
    (component,) = [c for c in info.components if c.recommendations]
    assert component.recommendations[0].call_to_action_link.startswith("https://learn.microsoft.com/")
    assert info.next_eligible_compute_time > info.last_computed_time
    # Not recomputed before nextEligibleComputeTime, even when asked to.
    ctl.set_circuit_bgp(CIRCUIT, secondary="down")
    try:
        again = gws.begin_get_resiliency_information(RG, ER_GW, attempt_refresh=True).result()
        assert again.last_computed_time == info.last_computed_time and again.overall_score == "80"
    finally:
        ctl.set_circuit_bgp(CIRCUIT, secondary="up")


def test_routes_information_groups_prefixes_by_location(client: NetworkManagementClient) -> None:
    gws = client.virtual_network_gateways
    info = gws.begin_get_routes_information(RG, ER_GW).result()
    (route_set,) = info.route_sets
    assert route_set.locations == [LOCATION]
    (source,) = route_set.details[ONPREM]
    assert (source.circuit, source.pri, source.sec) == (CIRCUIT, "Active", "Active")
    assert info.circuits_metadata_map[CIRCUIT].location == LOCATION
    assert info.route_set_version == "1"
