"""Byte counters follow the path that carries the traffic (per prefix: the longest match, ExpressRoute
preferred on an equal prefix); the standby VPN counts keepalives only; counters advance with time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from azure.mgmt.network import NetworkManagementClient

from bench.many_sites import write_many_sites
from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.physics import (
    BYTES_PER_SECOND,
    EGRESS_RATIO,
    KEEPALIVE_BYTES_PER_SECOND,
    TICK_SECONDS,
    Physics,
)
from hybridnet_dev.armsim.runner import SimulatorThread
from hybridnet_dev.armsim.seed import seed
from hybridnet_dev.armsim.sim import Simulator
from hybridnet_dev.armsim.store import Record
from shared.spec.model import NetworkSpec
from tests.physics_support import (
    CIRCUIT,
    ER_CONN,
    LNG,
    ONPREM,
    RG,
    VPN_CONN,
    client,
    ctl,
    load_spec,
    sim,
    traffic,
)

__all__ = ["client", "ctl", "sim"]  # fixtures


@pytest.fixture(autouse=True)
def restore(sim: SimulatorThread, ctl: SimControl) -> Iterator[None]:
    yield
    ctl.set_circuit(CIRCUIT, True, bgp={"primary": "up", "secondary": "up"}, advertise=[ONPREM])
    lng = f"/subscriptions/{sim.info.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Network/localNetworkGateways/{LNG}"
    ctl.patch_resource(lng, {"localNetworkAddressSpace": {"addressPrefixes": [ONPREM]}})


def rates(client: NetworkManagementClient, seconds: float = 0.5) -> dict[str, float]:
    """Ingress bytes/s of both connections over ``seconds``."""
    start = time.monotonic()
    before = {c: traffic(client, c)[0] for c in (ER_CONN, VPN_CONN)}
    time.sleep(seconds)
    after = {c: traffic(client, c)[0] for c in (ER_CONN, VPN_CONN)}
    elapsed = time.monotonic() - start
    return {c: (after[c] - before[c]) / elapsed for c in before}


def test_standby_vpn_counts_keepalives_until_it_carries_the_load(
    client: NetworkManagementClient, ctl: SimControl
) -> None:
    normal = rates(client)
    assert normal[ER_CONN] > 0.6 * BYTES_PER_SECOND
    assert normal[VPN_CONN] <= 2 * KEEPALIVE_BYTES_PER_SECOND  # standby: keepalives only

    ctl.set_circuit(CIRCUIT, False)
    failed_over = rates(client)
    assert failed_over[VPN_CONN] > 0.6 * BYTES_PER_SECOND
    assert failed_over[ER_CONN] == 0  # not connected: nothing at all

    ctl.set_circuit(CIRCUIT, True)
    ctl.set_circuit_bgp(CIRCUIT, primary="down", secondary="down")  # Connected, but no route
    no_bgp = rates(client)
    assert no_bgp[VPN_CONN] > 0.6 * BYTES_PER_SECOND
    assert 0 < no_bgp[ER_CONN] <= 2 * KEEPALIVE_BYTES_PER_SECOND


def test_longest_prefix_wins_and_expressroute_wins_a_tie(
    sim: SimulatorThread, client: NetworkManagementClient, ctl: SimControl
) -> None:
    lng = f"/subscriptions/{sim.info.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Network/localNetworkGateways/{LNG}"
    # The VPN announces a more specific half of the on-premises range: that half goes over the VPN.
    ctl.patch_resource(lng, {"localNetworkAddressSpace": {"addressPrefixes": [ONPREM, "10.10.128.0/17"]}})
    split = rates(client)
    assert 0.3 * BYTES_PER_SECOND < split[ER_CONN] < 0.7 * BYTES_PER_SECOND
    assert 0.3 * BYTES_PER_SECOND < split[VPN_CONN] < 0.7 * BYTES_PER_SECOND
    # ExpressRoute announces the same /17 too: equal prefixes, ExpressRoute preferred.
    ctl.advertise_circuit(CIRCUIT, [ONPREM, "10.10.128.0/17"])
    tie = rates(client)
    assert tie[ER_CONN] > 0.6 * BYTES_PER_SECOND and tie[VPN_CONN] <= 2 * KEEPALIVE_BYTES_PER_SECOND


def test_counters_advance_with_time_not_with_reads(client: NetworkManagementClient) -> None:
    start = time.monotonic()
    first_in, first_out = traffic(client, ER_CONN)
    for _ in range(25):
        traffic(client, ER_CONN)
    last_in, last_out = traffic(client, ER_CONN)
    elapsed = time.monotonic() - start
    # 27 reads in `elapsed` seconds add what `elapsed` seconds of load add, no more (plus one step of
    # the counters' resolution: the first read may show a value up to TICK_SECONDS old).
    window = elapsed + TICK_SECONDS
    assert last_in - first_in <= window * (BYTES_PER_SECOND + KEEPALIVE_BYTES_PER_SECOND) + 1
    assert last_out - first_out <= window * (BYTES_PER_SECOND + KEEPALIVE_BYTES_PER_SECOND) * EGRESS_RATIO + 1
    # And the time between two reads counts in full, however long it is.
    time.sleep(0.5)
    later_in, _ = traffic(client, ER_CONN)
    assert later_in - last_in >= 0.5 * BYTES_PER_SECOND * 0.9


# --- the model itself, on a clock the test controls (exact numbers) ---------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def seeded() -> tuple[Simulator, Clock]:
    sim = Simulator(subscription_id="00000000-0000-0000-0000-000000000000")
    clock = Clock()
    sim.physics.clock = clock
    seed(sim, load_spec())
    return sim, clock


def counted(sim: Simulator, name: str) -> int:
    return sim.physics.traffic(
        f"/subscriptions/{sim.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Network/connections/{name}"
    )[0]


def test_exact_counts_follow_the_carrying_path() -> None:
    sim, clock = seeded()
    counted(sim, ER_CONN)  # both connections come up at t=0
    clock.now += 10
    assert counted(sim, ER_CONN) == 10 * (BYTES_PER_SECOND + KEEPALIVE_BYTES_PER_SECOND)
    assert counted(sim, VPN_CONN) == 10 * KEEPALIVE_BYTES_PER_SECOND
    circuit = sim.physics.circuit_by_name(CIRCUIT)
    assert circuit is not None
    # Each session carries half of the ExpressRoute traffic (peering stats).
    assert (
        circuit.counters["primary"][0]
        == circuit.counters["secondary"][0]
        == 5 * (BYTES_PER_SECOND + KEEPALIVE_BYTES_PER_SECOND)
    )

    sim.physics.configure_circuit(CIRCUIT, bgp={"primary": "down", "secondary": "down"})
    clock.now += 10
    assert counted(sim, ER_CONN) == 10 * (BYTES_PER_SECOND + 2 * KEEPALIVE_BYTES_PER_SECOND)
    assert counted(sim, VPN_CONN) == 10 * (BYTES_PER_SECOND + 2 * KEEPALIVE_BYTES_PER_SECOND)


def test_more_specific_prefix_takes_its_share_exactly() -> None:
    sim, clock = seeded()
    # ExpressRoute announces the /16, the VPN's LNG a /18 inside it: a quarter of the range.
    lng = sim.store.list("localNetworkGateways")[0]
    lng.body["properties"]["localNetworkAddressSpace"]["addressPrefixes"] = ["10.10.64.0/18"]
    counted(sim, ER_CONN)
    clock.now += 100
    assert counted(sim, VPN_CONN) == 100 * (BYTES_PER_SECOND // 4 + KEEPALIVE_BYTES_PER_SECOND)
    assert counted(sim, ER_CONN) == 100 * (BYTES_PER_SECOND * 3 // 4 + KEEPALIVE_BYTES_PER_SECOND)


def test_bgp_session_duration_restarts_when_the_link_comes_back() -> None:
    sim, clock = seeded()
    gateway = next(g for g in sim.store.list("virtualNetworkGateways") if g.rid.name == "hybrid-er-gw")
    clock.now += 3725
    assert {p["connectedDuration"] for p in sim.physics.bgp_peers(gateway)} == {"01:02:05"}
    sim.physics.configure_circuit(CIRCUIT, up=False)
    assert {p["connectedDuration"] for p in sim.physics.bgp_peers(gateway)} == {"00:00:00"}
    clock.now += 50
    sim.physics.configure_circuit(CIRCUIT, up=True)
    clock.now += 7
    assert {p["connectedDuration"] for p in sim.physics.bgp_peers(gateway)} == {"00:00:07"}


def test_a_read_steps_only_its_own_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At scale a connection read must not evaluate every site (it did: 200 reads took 46 s at 100 sites)."""
    spec_path = write_many_sites(tmp_path / "sites.yaml", 20)
    sim = Simulator(subscription_id="00000000-0000-0000-0000-000000000000")
    clock = Clock()
    sim.physics.clock = clock
    seed(sim, NetworkSpec.model_validate(yaml.safe_load(Path(spec_path).read_text())))
    sim.physics.tick(force=True)
    evaluated: list[str] = []
    original = Physics._status

    def counting(self: Physics, connection: Record) -> str:
        evaluated.append(connection.rid.name)
        return original(self, connection)

    monkeypatch.setattr(Physics, "_status", counting)
    conn = sim.store.list("connections")[7]
    clock.now += 1
    assert sim.physics.connection_status(conn) == "Connected"
    site = {
        c.rid.name for c in sim.store.list("connections") if c.rid.resource_group == conn.rid.resource_group
    }
    assert len(site) == 2 and set(evaluated) == site  # its ExpressRoute and VPN connections, no other
