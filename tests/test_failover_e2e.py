"""Failover history through the real SDKs: the simulator's connections, records in a real Azurite."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorInfo
from shared import cli
from shared.azure.failover_store import (
    event_entity,
    failover_events,
    failover_table,
    new_event_id,
    read_state,
)
from shared.azure.tables import table_service
from shared.failover.classify import Observation, classify
from shared.services import failover as failover_service
from shared.services.failover import ObservationFailed, check_site, cleanup_history
from shared.settings import Settings
from shared.spec import Site
from shared.spec_source import current_spec
from tests.failover_support import FaultyTransport, faulty_tables, unique_spec
from tests.stack import APPLIANCE, CIRCUIT, app_on_simulator

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Net:
    settings: Settings
    site: Site
    control: SimControl
    info: SimulatorInfo
    env: pytest.MonkeyPatch
    connection_string: str
    clock: Clock

    def check(self, detected_by: str = "poll", **kwargs: object) -> str:
        return check_site(self.settings, self.site, detected_by, now=self.clock, **kwargs).outcome  # type: ignore[arg-type]

    def events(self) -> list[dict]:
        return failover_events(table_service(self.settings), site=self.site.name)

    def kinds(self) -> list[str]:
        return [e["kind"] for e in self.events()]

    def with_settings(self, **values: str) -> None:
        for name, value in values.items():
            self.env.setenv(name, value)
        self.settings = Settings.from_env()


@pytest.fixture
def net(azurite, tmp_path) -> Iterator[Net]:
    spec_path, _name = unique_spec(tmp_path)
    with app_on_simulator(storage=azurite.connection_string, spec_path=spec_path) as app:
        settings = Settings.from_env()
        site = current_spec(settings).sites[0]
        yield Net(settings, site, app.control, app.sim, app.env, azurite.connection_string, Clock())


def test_circuit_down_is_a_failover_and_back_up_a_failback_with_its_duration(net):
    # the baseline with the site's first route check, as the route timer takes it (a poll leaves a
    # site's first route check to the route timer's slice: shared.failover.route_cadence)
    assert net.check("route-check", routes="now") == "baseline"
    assert net.check() == "unchanged" and net.events() == []
    net.control.set_circuit(CIRCUIT, up=False)
    net.clock.advance(60)
    assert net.check() == "recorded"
    (failover,) = net.events()
    assert failover["kind"] == "failover"
    assert (failover["fromPath"], failover["toPath"]) == ("expressroute", "vpn")
    assert (failover["expressRouteStatus"], failover["vpnStatus"]) == ("NotConnected", "Connected")
    assert (
        failover["detectedBy"] == "poll"
        and failover["detectedAt"] == (T0 + timedelta(seconds=60)).isoformat()
    )
    # seen in the connection status: no learned-routes POST per transition (route checks are coalesced,
    # tests/test_routes_cadence.py); the evidence is the latest route view, stale since the change
    assert (
        failover["evidence"]["cause"] == "connection-status" and failover["evidence"]["routesStale"] is True
    )
    assert failover["evidence"]["routes"]["prefixes"][0]["carriedBy"]["path"] == "expressroute"
    assert failover["durationSeconds"] is None

    net.clock.advance(300)
    assert net.check() == "unchanged"  # still on the VPN: nothing new
    net.control.set_circuit(CIRCUIT, up=True)
    net.clock.advance(125)
    assert net.check("alert") == "recorded"
    failback, _ = net.events()
    assert failback["kind"] == "failback" and failback["toPath"] == "expressroute"
    assert failback["durationSeconds"] == 425.0
    assert failback["detectedBy"] == "alert"
    assert failback["evidence"]["cause"] == "connection-status"


def test_appliance_down_while_the_circuit_is_up_is_backup_lost(net):
    net.check()
    net.control.set_appliance(APPLIANCE, up=False)
    net.clock.advance(10)
    assert net.check() == "recorded"
    net.control.set_appliance(APPLIANCE, up=True)
    net.clock.advance(50)
    assert net.check() == "recorded"
    restored, lost = net.events()
    assert lost["kind"] == "backup-lost" and lost["backupUp"] is False
    assert (lost["fromPath"], lost["toPath"]) == ("expressroute", "expressroute")
    assert lost["vpnStatus"] == "NotConnected"
    assert lost["evidence"]["routesStale"] is True
    assert restored["kind"] == "backup-restored" and restored["durationSeconds"] == 50.0


def test_both_down_is_an_outage_then_recovery(net):
    net.check()
    net.control.set_circuit(CIRCUIT, up=False)
    net.control.set_appliance(APPLIANCE, up=False)
    net.clock.advance(5)
    assert net.check() == "recorded"
    net.control.set_appliance(APPLIANCE, up=True)
    net.clock.advance(30)
    assert net.check() == "recorded"
    assert net.kinds() == ["recovery", "outage"]
    recovery = net.events()[0]
    assert recovery["toPath"] == "vpn" and recovery["durationSeconds"] == 30.0


def test_flapping_under_the_hold_count_records_nothing(net):
    net.with_settings(HYBRIDNET_FAILOVER_HOLD_COUNT="3")
    net.check()
    for _ in range(3):
        net.control.set_circuit(CIRCUIT, up=False)
        assert net.check() == "pending"
        assert net.check() == "pending"
        net.control.set_circuit(CIRCUIT, up=True)
        assert net.check() == "pending"  # the streak ends (a state write, no row)
        assert net.check() == "unchanged"
    assert net.events() == []
    net.control.set_circuit(CIRCUIT, up=False)
    assert [net.check() for _ in range(3)] == ["pending", "pending", "recorded"]
    assert net.kinds() == ["failover"]


def test_a_transition_not_confirmed_by_the_fresh_read_is_not_recorded(net, monkeypatch):
    net.check()
    original = failover_service.observe
    calls = {"n": 0}

    def first_read_says_down(client, site, now):
        calls["n"] += 1
        if calls["n"] == 1:  # a one-off bad read: ExpressRoute NotConnected
            return Observation("NotConnected", "Connected", now())
        return original(client, site, now)

    monkeypatch.setattr(failover_service, "observe", first_read_says_down)
    assert net.check() == "unchanged"
    assert calls["n"] == 2 and net.events() == []


def test_redelivered_alerts_and_parallel_detectors_record_one_row_per_transition(net):
    net.check()
    net.control.set_circuit(CIRCUIT, up=False)
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def detector(kind: str) -> None:
        barrier.wait()
        outcomes.append(net.check(kind))

    threads = [threading.Thread(target=detector, args=("alert" if i % 2 else "poll",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes).count("recorded") == 1, outcomes
    assert set(outcomes) <= {"recorded", "already-recorded", "unchanged"}
    assert net.kinds() == ["failover"]
    assert net.check("alert") == "unchanged"  # the same alert delivered again
    assert net.kinds() == ["failover"]


@pytest.mark.parametrize(
    "faults",
    [
        ["503-before"],
        ["503-after"],
        ["timeout-before"],
        ["timeout-after"],
        ["503-before", "503-before", "timeout-after"],  # retried twice by the SDK, then the answer lost
        ["timeout-before", "503-after"],  # not landed -> written again -> landed, answer replaced by 503
    ],
)
def test_table_faults_mid_transaction_are_retried_never_lost_or_doubled(net, faults):
    tables, transport = faulty_tables(net.connection_string)
    net.check(tables=tables)  # baseline
    net.control.set_circuit(CIRCUIT, up=False)
    transport.faults = list(faults)
    result = check_site(net.settings, net.site, "poll", tables=tables, now=net.clock)
    assert transport.injected == faults and transport.faults == []
    assert result.outcome == "recorded" and result.event is not None
    (row,) = net.events()
    assert row["kind"] == "failover" and row["eventId"] == result.event["eventId"]
    assert check_site(net.settings, net.site, "poll", tables=tables).outcome == "unchanged"
    assert len(net.events()) == 1


def test_an_unreadable_connection_is_not_an_outage(net):
    net.with_settings(HYBRIDNET_ARM_RETRY_TOTAL="0")
    net.check()
    net.control.add_fault(method="GET", path="connections/hybrid-vpn-connection$", kind="error", status=500)
    try:
        with pytest.raises(ObservationFailed, match="hybrid-vpn-connection"):
            net.check()
    finally:
        net.control.clear_faults()
    assert net.events() == []


def test_a_no_change_check_costs_one_table_read_and_no_write(net):
    tables, transport = faulty_tables(net.connection_string)
    net.check(tables=tables)
    transport.reset_counts()
    for _ in range(3):
        assert net.check(tables=tables) == "unchanged"
    assert dict(transport.counts) == {"GET": 3}


def test_publishing_failure_never_loses_the_row(net, caplog):
    net.with_settings(
        HYBRIDNET_EVENTS_TOPIC_ENDPOINT="https://127.0.0.1:9/api/events", HYBRIDNET_EVENTS_TOPIC_KEY="k"
    )
    net.check()
    net.control.set_circuit(CIRCUIT, up=False)
    result = check_site(net.settings, net.site, "poll")
    assert result.outcome == "recorded" and result.published is False
    assert net.kinds() == ["failover"]
    assert "not published" in caplog.text


def test_transitions_are_published_as_cloud_events(net, caplog):
    caplog.set_level(logging.WARNING)
    net.with_settings(
        HYBRIDNET_EVENTS_TOPIC_ENDPOINT=net.info.topic_endpoint,  # type: ignore[attr-defined]
        HYBRIDNET_EVENTS_TOPIC_KEY=net.info.topic_key,  # type: ignore[attr-defined]
    )
    net.check()
    net.control.set_circuit(CIRCUIT, up=False)
    result = check_site(net.settings, net.site, "poll")
    assert result.published is True
    assert not [r for r in caplog.records if "is not a known attribute" in r.getMessage()]  # no SDK noise
    received = net.control.topic_events("hybridnet")  # type: ignore[attr-defined]
    body = json.dumps(received)
    assert result.event is not None and result.event["eventId"] in body
    assert "Hybridnet.Failover.Failover" in body


def test_retention_deletes_old_rows_in_batches(net):
    tables = table_service(net.settings)
    client = failover_table(tables)
    net.check()
    baseline = read_state(tables, net.site.name).state
    old_obs = Observation("NotConnected", "Connected", T0)
    _, transition = classify(baseline, old_obs)
    assert transition is not None
    for day in range(205):  # more than two transactions' worth in one partition
        moment = T0 - timedelta(days=400 + day)
        t = type(transition)(**{**transition.__dict__, "detected_at": moment, "started_at": moment})
        client.create_entity(
            event_entity(net.site.name, new_event_id(), t, old_obs, detected_by="manual", evidence={})
        )
    net.control.set_circuit(CIRCUIT, up=False)
    assert net.check() == "recorded"  # a fresh row, kept
    # Retention 365 days (default) a day after T0: only this test's 400+ day old rows are due.
    assert cleanup_history(net.settings, now=lambda: T0 + timedelta(days=1)) == 205
    assert net.kinds() == ["failover"]
    assert client.get_entity(net.site.name, "state")["condition"] == "failed-over"  # state never deleted


def test_failover_events_since_and_across_sites(net):
    net.check()
    for up in (False, True, False):
        net.control.set_circuit(CIRCUIT, up=up)
        net.clock.advance(60)
        net.check()
    tables = table_service(net.settings)
    assert [e["kind"] for e in failover_events(tables, site=net.site.name, limit=2)] == [
        "failover",
        "failback",
    ]
    since = T0 + timedelta(seconds=120)
    assert [e["kind"] for e in failover_events(tables, site=net.site.name, since=since)] == [
        "failover",
        "failback",
    ]
    everywhere = failover_events(tables, since=since, limit=1000)
    mine = [e for e in everywhere if e["site"] == net.site.name]
    assert len(mine) == 2
    stamps = [e["detectedAt"] for e in everywhere]
    assert stamps == sorted(stamps, reverse=True)


def test_cli_lists_failovers(net, capsys):
    net.check()
    net.control.set_circuit(CIRCUIT, up=False)
    net.clock.advance(60)
    net.check()
    net.control.set_circuit(CIRCUIT, up=True)
    net.clock.advance(90)
    net.check()
    assert cli.main(["failovers", "--site", net.site.name]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["DETECTED", "AT", "SITE"]
    assert "failback" in lines[1] and "vpn -> expressroute" in lines[1] and "0h01m30s" in lines[1]
    assert "failover" in lines[2] and "expressroute -> vpn" in lines[2]
    assert cli.main(["failovers", "--site", net.site.name, "--json", "--since", "2025-03-01T08:01:30Z"]) == 0
    (only,) = json.loads(capsys.readouterr().out)
    assert only["kind"] == "failback" and only["durationSeconds"] == 90.0
    assert cli.main(["failovers", "--site", "nowhere"]) == 0
    assert "no failover events" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["failovers", "--since", "yesterday"])


def test_faulty_transport_counts_every_attempt(net):
    tables, transport = faulty_tables(net.connection_string)
    assert isinstance(transport, FaultyTransport)
    net.check(tables=tables)
    assert transport.counts["batch"] == 1  # the baseline: one transaction


def test_the_timer_polls_every_site_and_cleans_up_at_most_hourly(net, monkeypatch):
    from azure.functions.timer import TimerRequest

    from shared.triggers import failover as triggers

    monkeypatch.setattr(triggers, "_last_cleanup", [])
    cleanups: list[int] = []
    monkeypatch.setattr(failover_service, "cleanup_history", lambda settings: cleanups.append(1) or 0)
    triggers.failover_poll(TimerRequest(past_due=False))  # baseline
    net.control.set_circuit(CIRCUIT, up=False)
    triggers.failover_poll(TimerRequest(past_due=False))
    assert net.kinds() == ["failover"] and net.events()[0]["detectedBy"] == "poll"
    assert cleanups == [1]  # the first run of an instance, then not again within the hour
    assert triggers.cleanup_due(now=10**9) is True and triggers.cleanup_due(now=10**9 + 60) is False
