"""The ExpressRoute resiliency APIs (azure-mgmt-network 33.1) and their physical effect, through the SDK:
while a site failover test runs for a peering location, that location's ExpressRoute routes are
withdrawn and the on-premises traffic moves to the VPN."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network import NetworkManagementClient

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorThread
from tests.physics_support import (
    CIRCUIT,
    ER_CONN,
    ER_GW,
    LOCATION,
    ONPREM,
    RG,
    VPN_CONN,
    VPN_GW,
    all_tests,
    client,
    ctl,
    onprem_routes,
    peers,
    sim,
    single,
    start,
    status,
    stop,
    traffic,
)

__all__ = ["client", "ctl", "sim"]  # fixtures


@pytest.fixture(autouse=True)
def clean(ctl: SimControl) -> Iterator[None]:
    ctl.clear_faults()
    yield
    ctl.clear_faults()


def test_never_tested_location_is_listed_not_started(client: NetworkManagementClient) -> None:
    (entry,) = all_tests(client)
    assert (entry.peering_location, entry.status, entry.test_guid) == (LOCATION, "NotStarted", None)
    assert [c.name for c in entry.circuits] == [CIRCUIT]


def test_site_failover_withdraws_expressroute_routes_and_moves_traffic(
    client: NetworkManagementClient, ctl: SimControl
) -> None:
    assert len(onprem_routes(client, ER_GW)) == 2
    guid = start(client)
    try:
        (withdrawn,) = ctl.state()["withdrawn"]
        assert withdrawn["peeringLocation"] == LOCATION.lower() and withdrawn["gateway"].endswith(
            "/hybrid-er-gw"
        )
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
    assert ctl.state()["withdrawn"] == []
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
        "Route resilience": ("30", "40"),  # both BGP sessions, but one peering location only
        "Zone-redundant gateway": ("0", "20"),  # sku Standard
        "Advisory recommendations": ("20", "20"),  # the site-to-site VPN backs it up
        "Resiliency validation": ("20", "20"),  # the test above
    }
    assert info.overall_score == "70"
    assert (info.min_score_from_recommendations, info.max_score_from_recommendations) == ("10", "30")
    links = [r.call_to_action_link for c in info.components for r in c.recommendations]
    assert len(links) == 2 and all(link.startswith("https://learn.microsoft.com/") for link in links)
    assert info.next_eligible_compute_time > info.last_computed_time
    # Not recomputed before nextEligibleComputeTime, even when asked to.
    ctl.set_circuit_bgp(CIRCUIT, secondary="down")
    try:
        again = gws.begin_get_resiliency_information(RG, ER_GW, attempt_refresh=True).result()
        assert again.last_computed_time == info.last_computed_time and again.overall_score == "70"
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


def unknown_keys(model: Any, path: str = "") -> list[str]:
    """JSON keys of a deserialized SDK model (recursively) that are no field of its model class."""
    fields = type(model)._attr_to_rest_field
    rest = {f._rest_name: attr for attr, f in fields.items()}
    out = [f"{path}{key}" for key in dict(model) if key not in rest]
    for key, attr in rest.items():
        value = getattr(model, attr, None)
        items = (
            value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
        )
        for item in items:
            for inner in item if isinstance(item, list) else [item]:
                if hasattr(type(inner), "_attr_to_rest_field"):
                    out += unknown_keys(inner, f"{path}{key}.")
    return out


def test_every_answer_key_is_a_field_of_the_sdk_model(client: NetworkManagementClient) -> None:
    """The published examples' bodies are empty: the SDK models are the reference for the shapes."""
    gws = client.virtual_network_gateways
    guid = start(client)
    try:
        answers: list[Any] = [
            *all_tests(client),
            single(client, guid),
            gws.begin_get_resiliency_information(RG, ER_GW).result(),
            gws.begin_get_routes_information(RG, ER_GW).result(),
        ]
    finally:
        stop(client)
    answers.append(single(client, guid))
    for answer in answers:
        assert unknown_keys(answer) == [], type(answer).__name__
    # And the fields are populated, not merely allowed.
    assert all(v is not None for v in (answers[0].start_time, answers[0].circuits[0].nrp_resource_uri))


def test_every_gateway_action_is_routed() -> None:
    from hybridnet_dev.armsim.arm import ACTIONS
    from hybridnet_dev.armsim.gateway_actions import GATEWAY_ACTIONS

    assert set(ACTIONS.values()) == set(GATEWAY_ACTIONS)
