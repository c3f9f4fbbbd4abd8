"""Failover drills end to end: the simulator's ExpressRoute site failover simulation through the real
SDK, route truth, drills recorded in a real Azurite (issue 15's "done when")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.failover.drill import ABORTED, DONE, FAILING_OVER, HOLDING, PASSED, REFUSED, Drill
from shared.services.drill import last_drills, recover_drills, run_drill
from shared.settings import Settings
from tests.e2e_support import SECOND_PREFIX, Clock, SiteNet, net_fixtures, site_on_simulator, site_spec
from tests.stack import APPLIANCE


class Net(SiteNet):
    def drill(self, **kw: Any) -> Any:
        return run_drill(self.settings, self.site.name, now=self.clock, sleep=self.clock.sleep, **kw)

    def withdrawn(self) -> list[Any]:
        return list(self.control.state()["withdrawn"])


def _net(
    azurite: Any, tmp_path: Path, prefixes: list[str], window: dict[str, Any] | None = None
) -> Iterator[Net]:
    path, spec = site_spec(tmp_path, name="drill", prefixes=prefixes, window=window)
    with site_on_simulator(
        azurite,
        path,
        spec,
        HYBRIDNET_DRILL_MODE="enforce",
        HYBRIDNET_DRILL_FAILOVER_DEADLINE_SECONDS="60",
        HYBRIDNET_DRILL_HOLD_SECONDS="30",
        HYBRIDNET_DRILL_FAILBACK_DEADLINE_SECONDS="60",
        HYBRIDNET_DRILL_POLL_SECONDS="0",
        HYBRIDNET_FAILOVER_EVIDENCE_TIMEOUT="20",
        HYBRIDNET_ROUTES_MIN_SECONDS="0",
    ) as (settings, site, control, info):
        yield Net(settings, site, control, info, Clock())


net, net2 = net_fixtures(_net)


def test_drill_on_the_healthy_seed_passes_and_records_timings(net):
    dry = net.drill(dry_run=True)
    assert dry.would_run and dry.to_json()["wouldRun"] is True
    assert last_drills(net.settings, net.site.name) == []  # a dry run records nothing
    seen: list[str] = []
    run = net.drill(progress=lambda d: seen.append(d.phase))
    drill = run.drill
    assert (drill.phase, drill.result) == (DONE, PASSED), drill.reason
    assert drill.failover_seconds is not None and drill.failback_seconds is not None
    assert drill.test_id and drill.peering_location == "Silicon Valley"
    assert seen[:2] == ["starting", FAILING_OVER] and HOLDING in seen and seen[-1] == DONE
    assert net.withdrawn() == []  # ExpressRoute is back
    (stored,) = last_drills(net.settings, net.site.name)
    assert stored == drill
    assert run.arm_calls["startSiteFailoverTest"] == 1 and run.arm_calls["stopSiteFailoverTest"] == 1


def test_drill_with_the_vpn_appliance_down_is_refused_and_recorded(net):
    net.control.set_appliance(APPLIANCE, up=False)
    drill = net.drill().drill
    assert (drill.phase, drill.result) == (DONE, REFUSED)
    assert "vpn-not-connected" in [r.code for r in drill.refusals]
    assert "the VPN connection is" in drill.reason
    assert [d.id for d in last_drills(net.settings, net.site.name)] == [drill.id]
    assert net.withdrawn() == []  # never started


def test_report_mode_plans_and_records_only(net, monkeypatch):
    monkeypatch.setenv("HYBRIDNET_DRILL_MODE", "report")
    drill = run_drill(Settings.from_env(), net.site.name, now=net.clock).drill
    assert (drill.phase, drill.result) == (DONE, "planned") and "report" in drill.reason
    assert net.withdrawn() == []


def test_vpn_unable_to_carry_a_prefix_aborts_and_expressroute_is_back(net2):
    lng = net2.rid("localNetworkGateways", net2.site.vpn.local_network_gateway.name)

    def lose_second_prefix(drill: Drill) -> None:
        if drill.phase == FAILING_OVER:  # the simulation runs: the VPN no longer carries one prefix
            net2.control.patch_resource(
                lng, {"localNetworkAddressSpace": {"addressPrefixes": ["10.10.0.0/16"]}}
            )

    drill = net2.drill(progress=lose_second_prefix).drill
    assert (drill.phase, drill.result) == (DONE, ABORTED)
    assert drill.not_moved == (SECOND_PREFIX,) and SECOND_PREFIX in drill.reason
    assert drill.failback_seconds is not None  # ExpressRoute carries every prefix again
    assert net2.withdrawn() == []


class HostDied(Exception):
    pass


def test_drill_whose_host_died_is_stopped_by_the_next_timer_run(net):
    def die(drill: Drill) -> None:
        if drill.phase == HOLDING:
            raise HostDied

    with pytest.raises(HostDied):
        net.drill(progress=die)
    assert len(net.withdrawn()) == 1  # the simulation still runs
    assert recover_drills(net.settings, now=net.clock, sleep=net.clock.sleep) == []  # not overdue yet
    assert len(net.withdrawn()) == 1
    net.clock.now += timedelta(minutes=5)
    (drill,) = recover_drills(net.settings, now=net.clock, sleep=net.clock.sleep)
    assert (drill.phase, drill.result) == (DONE, ABORTED) and "host" in drill.reason
    assert net.withdrawn() == []
    assert last_drills(net.settings, net.site.name)[0] == drill


def test_failover_rows_caused_by_a_drill_carry_its_id(net):
    from shared.azure.failover_store import failover_events
    from shared.azure.tables import table_service
    from shared.services.failover import check_site

    assert check_site(net.settings, net.site, "poll", now=net.clock, routes="now").outcome == "baseline"

    outcomes: list[str] = []

    def check_while_holding(drill: Drill) -> None:
        if drill.phase == HOLDING and not outcomes:
            net.clock.now += timedelta(seconds=1)
            outcomes.append(check_site(net.settings, net.site, "poll", now=net.clock, routes="now").outcome)

    drill = net.drill(progress=check_while_holding).drill
    assert drill.result == PASSED and outcomes == ["recorded"]
    (row,) = failover_events(table_service(net.settings), site=net.site.name, limit=10)
    assert (row["kind"], row["evidence"]["drillId"]) == ("failover", drill.id)


def test_a_stop_that_fails_is_retried_and_one_that_hangs_is_left_to_the_timer(net):
    net.control.add_fault("failLro", method="POST", path="/stopSiteFailoverTest$", count=1)
    drill = net.drill().drill
    assert (drill.phase, drill.result) == (DONE, PASSED)
    assert any("stop failed" in e["note"] for e in drill.log)
    assert net.withdrawn() == []

    net.control.add_fault("failLro", method="POST", path="/stopSiteFailoverTest$")  # the stop hangs
    hanging = net.drill().drill
    assert hanging.phase == "stopping" and hanging.result is None
    assert len(net.withdrawn()) == 1  # the simulation still runs: never given up
    net.control.clear_faults()
    net.clock.now += timedelta(minutes=10)
    (done,) = recover_drills(net.settings, now=net.clock, sleep=net.clock.sleep)
    assert done.id == hanging.id and done.phase == DONE
    assert net.withdrawn() == []


def test_a_start_that_fails_aborts_the_drill_and_nothing_hangs(net):
    net.control.add_fault("failLro", method="POST", path="/startSiteFailoverTest$", count=1)
    drill = net.drill().drill
    assert (drill.phase, drill.result) == (DONE, ABORTED)
    assert "could not be started" in drill.reason and "InternalServerError" in drill.reason
    assert any("stop failed" in e["note"] for e in drill.log)  # nothing ran: the stop found no test
    assert drill.failback_seconds is not None
    assert net.withdrawn() == []
