"""BGP as Azure reports it, through the real azure-mgmt-network SDK: the circuit's two sessions, what
on-premises announces over ExpressRoute and over the VPN, and the control API's knobs for them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from azure.mgmt.network import NetworkManagementClient

from hybridnet_dev.armsim.control import SimControl, SimControlError
from hybridnet_dev.armsim.runner import SimulatorThread
from tests.physics_support import (
    APPLIANCE,
    CIRCUIT,
    ER_CONN,
    ER_GW,
    ONPREM,
    VPN_CONN,
    VPN_GW,
    client,
    ctl,
    disable_vpn_bgp,
    enable_vpn_bgp,
    learned,
    onprem_routes,
    peers,
    sim,
    status,
)

__all__ = ["client", "ctl", "sim"]  # fixtures

MSEE = ("10.20.255.228", "10.20.255.229")  # GatewaySubnet 10.20.255.224/27: .4 and .5


@pytest.fixture(autouse=True)
def restore(ctl: SimControl) -> Iterator[None]:
    yield
    ctl.set_circuit(CIRCUIT, True, bgp={"primary": "up", "secondary": "up"}, advertise=[ONPREM])
    ctl.set_appliance(APPLIANCE, up=True, advertise=[ONPREM])


def test_bgp_down_keeps_the_connection_connected_but_withdraws_every_route(
    client: NetworkManagementClient, ctl: SimControl
) -> None:
    before = onprem_routes(client, ER_GW)
    assert {(r.next_hop, r.source_peer, r.origin, r.as_path, r.weight) for r in before} == {
        (MSEE[0], MSEE[0], "EBgp", "12076-65020", 32769),
        (MSEE[1], MSEE[1], "EBgp", "12076-65020", 32769),
    }
    state = ctl.set_circuit_bgp(CIRCUIT, primary="down", secondary="down")
    assert state["bgp"] == {"primary": "down", "secondary": "down"} and state["up"] is True

    assert status(client, ER_CONN) == "Connected"  # the connection follows the circuit, not BGP
    assert onprem_routes(client, ER_GW) == []
    er_peers = peers(client, ER_GW)
    assert [(p.neighbor, p.state, p.routes_received) for p in er_peers] == [
        (MSEE[0], "Connecting", 0),
        (MSEE[1], "Connecting", 0),
    ]
    # The VNet's own prefix is still there: the gateway is alive, it learns nothing from on-premises.
    assert [r.network for r in learned(client, ER_GW) if r.origin == "Network"] == ["10.20.0.0/16"]


def test_one_session_down_leaves_the_other_path(client: NetworkManagementClient, ctl: SimControl) -> None:
    ctl.set_circuit_bgp(CIRCUIT, primary="down")
    routes = onprem_routes(client, ER_GW)
    assert [(r.next_hop, r.source_peer) for r in routes] == [(MSEE[1], MSEE[1])]
    states = {p.neighbor: (p.state, p.routes_received) for p in peers(client, ER_GW)}
    assert states == {MSEE[0]: ("Connecting", 0), MSEE[1]: ("Connected", 1)}
    ctl.set_circuit_bgp(CIRCUIT, primary="up")
    assert len(onprem_routes(client, ER_GW)) == 2


def test_circuit_down_is_not_connected_and_idle(client: NetworkManagementClient, ctl: SimControl) -> None:
    ctl.set_circuit(CIRCUIT, False)
    assert status(client, ER_CONN) == "NotConnected"
    assert onprem_routes(client, ER_GW) == []
    assert {p.state for p in peers(client, ER_GW)} == {"Idle"}


def test_advertise_over_expressroute(client: NetworkManagementClient, ctl: SimControl) -> None:
    state = ctl.advertise_circuit(CIRCUIT, ["10.10.0.0/17", "192.168.50.0/24"])
    assert state["advertise"] == ["10.10.0.0/17", "192.168.50.0/24"]
    networks = sorted({r.network for r in learned(client, ER_GW) if r.origin == "EBgp"})
    assert networks == ["10.10.0.0/17", "192.168.50.0/24"]
    assert {p.routes_received for p in peers(client, ER_GW)} == {2}
    ctl.advertise_circuit(CIRCUIT, [])
    assert [r for r in learned(client, ER_GW) if r.origin == "EBgp"] == []


def test_vpn_static_routes_and_no_bgp_neighbour_without_bgp(client: NetworkManagementClient) -> None:
    routes = onprem_routes(client, VPN_GW)
    assert [(r.next_hop, r.origin, r.as_path) for r in routes] == [(APPLIANCE, "Network", "")]
    assert peers(client, VPN_GW) == []  # a static IPsec connection has no BGP neighbour


def test_bgp_over_vpn_learns_what_the_appliance_announces(
    sim: SimulatorThread, client: NetworkManagementClient, ctl: SimControl
) -> None:
    enable_vpn_bgp(sim, ctl, peer="10.10.255.254")
    try:
        ctl.advertise_appliance(APPLIANCE, ["10.10.0.0/16", "10.11.0.0/16"])
        routes = [r for r in learned(client, VPN_GW) if r.origin == "EBgp"]
        assert sorted((r.network, r.next_hop, r.source_peer, r.as_path) for r in routes) == [
            ("10.10.0.0/16", "10.10.255.254", "10.10.255.254", "65010"),
            ("10.11.0.0/16", "10.10.255.254", "10.10.255.254", "65010"),
        ]
        # The LNG's static prefixes stay (origin Network) next to the BGP-learned ones.
        assert [r.origin for r in onprem_routes(client, VPN_GW)] == ["Network", "EBgp"]
        (peer,) = peers(client, VPN_GW)
        assert (peer.neighbor, peer.asn, peer.state, peer.routes_received) == (
            "10.10.255.254",
            65010,
            "Connected",
            2,
        )

        ctl.set_appliance(APPLIANCE, up=False)
        assert status(client, VPN_CONN) == "NotConnected"
        assert [
            r for r in learned(client, VPN_GW) if r.origin != "Network" or r.network != "10.20.0.0/16"
        ] == []
        (peer,) = peers(client, VPN_GW)
        assert (peer.state, peer.routes_received) == ("Connecting", 0)
    finally:
        disable_vpn_bgp(sim, ctl)


def test_knobs_reject_bad_input_naming_it(sim: SimulatorThread, ctl: SimControl) -> None:
    url = f"{sim.info.control_url}/_sim/circuits/{CIRCUIT}"
    cases = [
        ({"advertise": ["10.10.0.1/16"]}, "10.10.0.1/16"),
        ({"advertise": "10.10.0.0/16"}, "list of CIDR prefixes"),
        ({"bgp": {"primary": "sideways"}}, "sideways"),
        ({"bgp": {"tertiary": "up"}}, "primary"),
        ({"up": "yes"}, "'up' must be a boolean"),
        ({"colour": "red"}, "Body must be"),
    ]
    for body, named in cases:
        resp = requests.put(url, json=body, timeout=5)
        assert resp.status_code == 400, body
        assert named in resp.json()["error"]["message"], body
    resp = requests.put(
        f"{sim.info.control_url}/_sim/appliances/{APPLIANCE}", json={"advertise": ["x"]}, timeout=5
    )
    assert resp.status_code == 400 and "'x'" in resp.json()["error"]["message"]
    with pytest.raises(SimControlError) as err:
        ctl.set_circuit("no-such-circuit", bgp={"primary": "down"})
    assert err.value.status == 404
    # Nothing was half-applied by the rejected requests.
    (circuit,) = ctl.state()["circuits"]
    assert circuit["bgp"] == {"primary": "up", "secondary": "up"} and circuit["advertise"] == [ONPREM]
