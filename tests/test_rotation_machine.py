"""The rotation state machine (pure)."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.rotation import machine
from shared.rotation.keygen import KeySpecError, acceptable_shared_key, generate_shared_key
from shared.rotation.machine import Paths, Phase, RotationState, Step

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HEALTHY = Paths("Connected", "Connected")
ER_DOWN = Paths("NotConnected", "Connected")
PEER_PENDING = Paths("Connected", "NotConnected")
BOTH_DOWN = Paths("NotConnected", "NotConnected")
DEADLINE = timedelta(hours=24)


def test_due_key_starts_only_while_expressroute_carries_traffic():
    old = RotationState(phase=Phase.COMPLETED, last_rotated_at=NOW - timedelta(days=100))
    age = machine.key_age_days(old, NOW)
    assert age == pytest.approx(100)
    assert machine.decide_start(
        old, HEALTHY, age_days=age, max_age_days=90, manual=False, force=False, now=NOW
    ).start
    refused = machine.decide_start(
        old, ER_DOWN, age_days=age, max_age_days=90, manual=False, force=False, now=NOW
    )
    assert not refused.start and refused.reason.startswith("refused: ExpressRoute is NotConnected")
    forced = machine.decide_start(
        old, ER_DOWN, age_days=age, max_age_days=90, manual=True, force=True, now=NOW
    )
    assert forced.start and "forced" in forced.reason


def test_young_key_is_not_due_unless_on_demand():
    young = RotationState(phase=Phase.COMPLETED, last_rotated_at=NOW - timedelta(days=3))
    age = machine.key_age_days(young, NOW)
    assert not machine.decide_start(
        young, HEALTHY, age_days=age, max_age_days=90, manual=False, force=False, now=NOW
    ).start
    assert machine.decide_start(
        young, HEALTHY, age_days=age, max_age_days=90, manual=True, force=False, now=NOW
    ).start


def test_unknown_age_is_due():
    assert machine.decide_start(
        RotationState(), HEALTHY, age_days=None, max_age_days=90, manual=False, force=False, now=NOW
    ).start
    assert machine.key_age_days(RotationState(), NOW) is None  # never rotated: unknown, so due


def test_no_second_rotation_while_one_is_in_progress():
    running = machine.started(RotationState(), "r1", NOW)
    decision = machine.decide_start(
        running, HEALTHY, age_days=None, max_age_days=90, manual=True, force=True, now=NOW
    )
    assert not decision.start and "already started" in decision.reason


@pytest.mark.parametrize(
    ("phase", "paths", "expected"),
    [
        (Phase.STARTED, BOTH_DOWN, Step.ESCROW),
        (Phase.ESCROWED, HEALTHY, Step.APPLY),
        (Phase.ESCROWED, ER_DOWN, Step.ROLLBACK),  # never re-key the VPN while it may be the only path
        (Phase.AWAITING_PEER, HEALTHY, Step.COMPLETE),
        (Phase.AWAITING_PEER, PEER_PENDING, Step.WAIT),
        (Phase.AWAITING_PEER, BOTH_DOWN, Step.ROLLBACK),
        (Phase.AWAITING_PEER, ER_DOWN, Step.COMPLETE),  # the VPN is up with the new key: done
        (Phase.ROLLING_BACK, HEALTHY, Step.ROLLBACK),  # a rollback, once begun, is finished
        (Phase.COMPLETED, BOTH_DOWN, Step.WAIT),
        (Phase.ROLLED_BACK, HEALTHY, Step.WAIT),
        (Phase.IDLE, HEALTHY, Step.WAIT),
    ],
)
def test_next_step(phase, paths, expected):
    state = RotationState(
        phase=phase, rotation_id="r1", started_at=NOW, awaiting_since=NOW, peer_seen_down=True
    )
    assert machine.next_step(state, paths, NOW + timedelta(minutes=5), DEADLINE) is expected


def test_a_connected_status_right_after_the_key_change_is_not_trusted():
    applied = machine.awaiting_peer(machine.started(RotationState(), "r1", NOW), NOW)
    soon = NOW + timedelta(minutes=1)
    assert machine.next_step(applied, HEALTHY, soon, DEADLINE) is Step.WAIT  # may be stale
    assert machine.next_step(applied, PEER_PENDING, soon, DEADLINE) is Step.PEER_DOWN
    assert machine.next_step(machine.peer_down(applied), HEALTHY, soon, DEADLINE) is Step.COMPLETE
    assert machine.next_step(applied, HEALTHY, NOW + timedelta(minutes=10), DEADLINE) is Step.COMPLETE


def test_a_rotation_forced_without_expressroute_does_not_roll_back_for_it():
    forced = machine.awaiting_peer(machine.started(RotationState(), "r1", NOW, expressroute_up=False), NOW)
    assert machine.next_step(machine.peer_down(forced), BOTH_DOWN, NOW, DEADLINE) is Step.WAIT
    normal = machine.awaiting_peer(machine.started(RotationState(), "r1", NOW), NOW)
    assert machine.next_step(normal, BOTH_DOWN, NOW, DEADLINE) is Step.ROLLBACK


def test_overdue_peer_alerts_once_and_keeps_waiting():
    waiting = machine.peer_down(machine.awaiting_peer(machine.started(RotationState(), "r1", NOW), NOW))
    later = NOW + DEADLINE
    assert machine.next_step(waiting, PEER_PENDING, later, DEADLINE) is Step.ALERT
    assert machine.next_step(machine.alerted(waiting), PEER_PENDING, later, DEADLINE) is Step.WAIT


def test_transitions_keep_what_the_next_step_needs():
    state = machine.escrowed(machine.started(RotationState(), "r1", NOW), "v-new", "v-old")
    assert (state.phase, state.staged_version, state.previous_version) == (Phase.ESCROWED, "v-new", "v-old")
    published = machine.awaiting_peer(state, NOW, pending_version="v-published")
    assert (published.phase, published.pending_version) == (Phase.AWAITING_PEER, "v-published")
    done = machine.completed(published, NOW)
    assert done.phase is Phase.COMPLETED and done.last_rotated_at == NOW
    restarted = machine.started(done, "r2", NOW)
    assert restarted.pending_version is None and not restarted.alerted and restarted.last_rotated_at == NOW


def test_generated_keys_fit_azure_and_appliances():
    for _ in range(200):
        key = generate_shared_key()
        assert len(key) == 48 and key.isalnum() and acceptable_shared_key(key)
    with_symbols = generate_shared_key(128, symbols=True)
    assert len(with_symbols) == 128 and acceptable_shared_key(with_symbols)
    assert not acceptable_shared_key("0xdeadbeef") and not acceptable_shared_key("has space")
    assert not acceptable_shared_key("a-b") and not acceptable_shared_key("a~b")
    with pytest.raises(KeySpecError):
        generate_shared_key(129)


def test_a_rolled_back_rotation_is_retried_after_a_cooldown_not_at_once():
    rolled = machine.rolled_back(machine.started(RotationState(), "r1", NOW), "ExpressRoute lost")
    soon = machine.decide_start(
        rolled,
        HEALTHY,
        age_days=None,
        max_age_days=90,
        manual=False,
        force=False,
        now=NOW + timedelta(hours=1),
    )
    assert not soon.start and "rolled back" in soon.reason
    later = machine.decide_start(
        rolled,
        HEALTHY,
        age_days=None,
        max_age_days=90,
        manual=False,
        force=False,
        now=NOW + timedelta(hours=25),
    )
    assert later.start
    assert machine.decide_start(
        rolled, HEALTHY, age_days=None, max_age_days=90, manual=True, force=False, now=NOW
    ).start


def test_an_adopted_key_ages_from_its_adoption_until_it_is_rotated():
    from dataclasses import replace

    from shared.rotation.findings import key_findings
    from shared.rotation.status import describe_rotation
    from tests.stack import seed_spec

    site = seed_spec().sites[0]
    adopted = RotationState(adopted_at=NOW - timedelta(days=100))
    assert machine.key_age_days(adopted, NOW) == pytest.approx(100)
    (finding,) = key_findings("seed", "id", adopted, max_age_days=90, now=NOW)
    assert "100 days old" in finding.message
    shown = describe_rotation(adopted, site, NOW)
    assert shown["state"] == "adopted" and shown["keyAgeDays"] == 100 and shown["enabled"] is False
    rotated = replace(adopted, last_rotated_at=NOW - timedelta(days=3))
    assert machine.key_age_days(rotated, NOW) == pytest.approx(3)
    assert key_findings("seed", "id", rotated, max_age_days=90, now=NOW) == []
    assert machine.key_age_days(RotationState(), NOW) is None


def test_rotation_mode_and_switch_reject_bad_values_by_name():
    import yaml

    from shared.settings import Settings, SettingsError
    from shared.spec import SpecError, parse_data
    from tests.stack import SEED_PATH

    assert Settings.from_env({}).rotation_mode == "report"
    assert Settings.from_env({"HYBRIDNET_ROTATION_MODE": "enforce"}).rotation_mode == "enforce"
    with pytest.raises(SettingsError, match="HYBRIDNET_ROTATION_MODE='yes' must be one of: report, enforce"):
        Settings.from_env({"HYBRIDNET_ROTATION_MODE": "yes"})
    document = yaml.safe_load(SEED_PATH.read_text())
    assert parse_data(document).sites[0].rotation.enabled is False
    document["sites"][0]["rotation"] = {"enabled": "yes"}
    with pytest.raises(SpecError) as bad:
        parse_data(document)
    assert any(e.startswith("sites[0].rotation.enabled") for e in bad.value.errors), bad.value.errors
    document["sites"][0]["rotation"] = {"enabled": True, "mode": "enforce"}
    with pytest.raises(SpecError) as unknown:
        parse_data(document)
    assert any("sites[0].rotation.mode" in e for e in unknown.value.errors), unknown.value.errors
