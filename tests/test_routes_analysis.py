"""Route truth, pure: which connection carries each on-premises prefix (shared.failover.routes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.failover.routes import (
    EXPRESSROUTE,
    VPN,
    BgpPeer,
    Connection,
    FactState,
    GatewayReading,
    LearnedRoute,
    RouteDataError,
    analyse,
    classify_facts,
)

FIXTURES = Path(__file__).parent / "fixtures" / "routes"
ER_GW, VPN_GW = "er-gw", "vpn-gw"
MSEE = ("10.20.255.228", "10.20.255.229")
APPLIANCE = "40.50.60.70"


def er_conn(status: str = "Connected", name: str = "er-conn") -> Connection:
    return Connection(name, EXPRESSROUTE, ER_GW, status)


def vpn_conn(
    status: str = "Connected", name: str = "vpn-conn", ip: str = APPLIANCE, static: tuple[str, ...] = ()
) -> Connection:
    return Connection(name, VPN, VPN_GW, status, peer_addresses=(ip,), static_prefixes=static)


def er_routes(*prefixes: str, peers: tuple[str, ...] = MSEE) -> tuple[LearnedRoute, ...]:
    own = LearnedRoute("10.20.0.0/16", "", "10.20.255.238", "Network", "", 32768)
    learned = [LearnedRoute(p, peer, peer, "EBgp", "12076-65020", 32769) for p in prefixes for peer in peers]
    return (own, *learned)


def er_peers(*states: str) -> tuple[BgpPeer, ...]:
    return tuple(
        BgpPeer(MSEE[i % 2] if i < 2 else f"10.20.255.{230 + i}", s, 12076) for i, s in enumerate(states)
    )


def vpn_bgp_routes(*prefixes: str, peer: str = "192.168.255.1") -> tuple[LearnedRoute, ...]:
    return tuple(LearnedRoute(p, peer, peer, "EBgp", "65010", 32768) for p in prefixes)


def rows(analysis):  # {prefix: (state, carrier connection, alternative connection)}
    return {
        r.prefix: (
            r.state,
            r.carried_by.connection if r.carried_by else None,
            r.alternative.connection if r.alternative else None,
        )
        for r in analysis.rows
    }


def test_expressroute_wins_equal_prefix_over_static_vpn_prefix():
    a = analyse(
        declared=["10.10.0.0/16"],
        connections=[er_conn(), vpn_conn(static=("10.10.0.0/16",))],
        readings=[
            GatewayReading(
                ER_GW, EXPRESSROUTE, er_routes("10.10.0.0/16"), er_peers("Connected", "Connected")
            ),
            GatewayReading(VPN_GW, VPN, (), None),
        ],
    )
    assert rows(a) == {"10.10.0.0/16": ("primary", "er-conn", "vpn-conn")}
    assert [r.state for r in a.redundancy] == ["redundant"]
    assert a.facts() == {} and a.withdrawn == frozenset()


def test_more_specific_vpn_prefix_is_backup_preferred_for_that_range_only():
    a = analyse(
        declared=["10.10.0.0/16"],
        connections=[
            er_conn(),
            Connection("vpn-conn", VPN, VPN_GW, "Connected", ("192.168.255.1", APPLIANCE)),
        ],
        readings=[
            GatewayReading(
                ER_GW, EXPRESSROUTE, er_routes("10.10.0.0/16"), er_peers("Connected", "Connected")
            ),
            GatewayReading(VPN_GW, VPN, vpn_bgp_routes("10.10.1.0/24"), None),
        ],
    )
    assert rows(a) == {
        "10.10.0.0/16": ("primary", "er-conn", None),
        "10.10.1.0/24": ("backup-preferred", "vpn-conn", "er-conn"),
    }
    assert set(a.facts()) == {"backup-preferred 10.10.1.0/24"}


def test_withdrawn_expressroute_routes_while_connected_fail_over_to_the_vpn():
    a = analyse(
        declared=["10.10.0.0/16"],
        connections=[er_conn(), vpn_conn(static=("10.10.0.0/16",))],
        readings=[
            GatewayReading(ER_GW, EXPRESSROUTE, er_routes(), er_peers("Connected", "Connected")),
            GatewayReading(VPN_GW, VPN, (), None),
        ],
    )
    assert a.withdrawn == frozenset({EXPRESSROUTE})
    assert rows(a) == {"10.10.0.0/16": ("backup", "vpn-conn", None)}
    assert a.facts() == {}  # the failover is a condition, not a fact


def test_unreadable_routes_never_count_as_withdrawn():
    a = analyse(
        declared=["10.10.0.0/16"],
        connections=[er_conn(), vpn_conn(static=("10.10.0.0/16",))],
        readings=[GatewayReading(ER_GW, EXPRESSROUTE, None, None, error="learned routes: ARM answered 429")],
    )
    assert a.withdrawn == frozenset() and not a.complete
    assert [r.state for r in a.redundancy] == ["unknown"]


def test_one_secondary_session_down_is_redundancy_lost():
    a = analyse(
        declared=["10.10.0.0/16"],
        connections=[er_conn(), vpn_conn(static=("10.10.0.0/16",))],
        readings=[
            GatewayReading(
                ER_GW, EXPRESSROUTE, er_routes("10.10.0.0/16", peers=MSEE[:1]), er_peers("Connected", "Idle")
            )
        ],
    )
    assert [(r.state, r.connected, r.total) for r in a.redundancy] == [("not-redundant", 1, 2)]
    assert set(a.facts()) == {"redundancy-lost er-gw"}
    assert rows(a)["10.10.0.0/16"][0] == "primary"


def test_prefix_carried_by_no_path_is_unreachable_while_others_flow():
    a = analyse(
        declared=["10.10.0.0/16", "10.30.0.0/16"],
        connections=[er_conn(), vpn_conn("NotConnected", static=("10.10.0.0/16", "10.30.0.0/16"))],
        readings=[
            GatewayReading(ER_GW, EXPRESSROUTE, er_routes("10.10.0.0/16"), er_peers("Connected", "Connected"))
        ],
    )
    assert rows(a) == {
        "10.10.0.0/16": ("primary", "er-conn", None),
        "10.30.0.0/16": ("unreachable", None, None),
    }
    assert set(a.facts()) == {"prefix-unreachable 10.30.0.0/16"}


def test_nothing_carried_at_all_is_an_outage_not_per_prefix_facts():
    a = analyse(
        declared=["10.10.0.0/16", "10.30.0.0/16"],
        connections=[er_conn("NotConnected"), vpn_conn("NotConnected", static=("10.10.0.0/16",))],
        readings=[GatewayReading(ER_GW, EXPRESSROUTE, er_routes(), er_peers("Idle", "Idle"))],
    )
    assert {r.state for r in a.rows} == {"unreachable"}
    assert a.facts() == {}
    assert [r.state for r in a.redundancy] == ["down"]


def test_several_connections_per_path_are_data_not_assumptions():
    vpn_a = vpn_conn(name="vpn-a", ip="40.50.60.70", static=("10.10.0.0/16",))
    vpn_b = vpn_conn(name="vpn-b", ip="40.50.60.71", static=("10.10.0.0/16",))
    a = analyse(
        declared=["10.10.0.0/16"],
        connections=[er_conn("NotConnected"), vpn_a, vpn_b],
        readings=[GatewayReading(ER_GW, EXPRESSROUTE, er_routes(), er_peers("Idle", "Idle"))],
    )
    assert rows(a) == {"10.10.0.0/16": ("backup", "vpn-a", "vpn-b")}
    # two circuits on one gateway: four edge-router sessions, one down breaks redundancy
    four = er_peers("Connected", "Connected", "Connected", "Idle")
    b = analyse(
        declared=["10.10.0.0/16"],
        connections=[er_conn(name="er-1"), er_conn(name="er-2")],
        readings=[GatewayReading(ER_GW, EXPRESSROUTE, er_routes("10.10.0.0/16"), four)],
    )
    assert rows(b)["10.10.0.0/16"][:2] == ("primary", "er-1+er-2")
    assert [(r.state, r.connected, r.total) for r in b.redundancy] == [("not-redundant", 3, 4)]


def test_real_expressroute_gateway_shapes():
    """Real `list-learned-routes` / `list-bgp-peer-status` output (tests/fixtures/routes/SOURCES.md): the
    gateway's own Network route is no on-premises route, the 192.0.2.1/32 EBgp route is; its iBGP
    instances (asn 65515, one Connecting) do not break the private peering's redundancy."""
    learned = json.loads((FIXTURES / "er-gateway-learned-routes.json").read_text())["value"]
    peers = json.loads((FIXTURES / "er-gateway-bgp-peer-status.json").read_text())["value"]
    reading = GatewayReading(
        "erspvnetcust1gw1",
        EXPRESSROUTE,
        tuple(LearnedRoute.from_json(r) for r in learned),
        tuple(BgpPeer.from_json(p) for p in peers),
    )
    a = analyse(
        declared=["192.0.2.0/24"],
        connections=[Connection("cxn", EXPRESSROUTE, "erspvnetcust1gw1", "Connected")],
        readings=[reading],
    )
    assert rows(a) == {"192.0.2.0/24": ("unreachable", None, None), "192.0.2.1/32": ("primary", "cxn", None)}
    assert [(r.state, r.connected, r.total) for r in a.redundancy] == [("redundant", 2, 2)]
    assert a.withdrawn == frozenset()


def test_bad_prefix_is_named():
    with pytest.raises(RouteDataError, match=r"'10\.10\.0\.0/33'"):
        analyse(declared=["10.10.0.0/33"], connections=[], readings=[])


# --- fact transitions -----------------------------------------------------------------------------------

T0, T1, T2, T3 = (f"2026-01-01T00:0{i}:00+00:00" for i in range(4))
LOST = {"redundancy-lost er-gw": {"redundancy": []}}


def test_first_route_observation_is_a_baseline():
    state, transitions = classify_facts(None, LOST, at=T0)
    assert transitions == [] and state.active == {"redundancy-lost er-gw": T0}


def test_fact_appears_and_clears_exactly_once_with_its_duration():
    state, t = classify_facts(FactState(), LOST, at=T1)
    assert [(x.kind, x.subject) for x in t] == [("redundancy-lost", "er-gw")]
    same, t = classify_facts(state, LOST, at=T2)
    assert t == [] and same == state
    cleared, t = classify_facts(state, {}, at=T3)
    assert [(x.kind, x.duration_seconds) for x in t] == [("redundancy-restored", 120.0)]
    assert cleared.active == {}


def test_hold_count_applies_to_facts():
    state, t = classify_facts(FactState(), LOST, at=T1, hold_count=2)
    assert t == [] and state.pending == {"redundancy-lost er-gw": (True, 1, T1)}
    flap, t = classify_facts(state, {}, at=T2, hold_count=2)
    assert t == [] and flap.pending == {}
    state, _ = classify_facts(flap, LOST, at=T2, hold_count=2)
    state, t = classify_facts(state, LOST, at=T3, hold_count=2)
    assert [(x.kind, x.started_at) for x in t] == [("redundancy-lost", T2)]
    assert FactState.from_json(json.loads(json.dumps(state.to_json()))) == state


@pytest.mark.parametrize(
    ("fact", "appear", "clear"),
    [
        ("backup-preferred 10.10.1.0/24", "backup-preferred", "backup-preferred-cleared"),
        ("prefix-unreachable 10.30.0.0/16", "prefix-unreachable", "prefix-restored"),
    ],
)
def test_paired_kinds(fact, appear, clear):
    state, t = classify_facts(FactState(), {fact: {}}, at=T1)
    assert [x.kind for x in t] == [appear]
    _, t = classify_facts(state, {}, at=T2)
    assert [x.kind for x in t] == [clear]


def test_facts_beyond_the_limit_wait_for_the_next_check():
    observed = {f"prefix-unreachable 10.{i}.0.0/16": {} for i in range(5)}
    state, t = classify_facts(FactState(), observed, at=T1, limit=3)
    assert len(t) == 3 and len(state.active) == 3
    state, t = classify_facts(state, observed, at=T2, limit=3)
    assert len(t) == 2 and len(state.active) == 5
