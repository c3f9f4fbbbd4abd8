"""Failover classification, alert parsing and the state entity mapping: pure, no I/O."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.azure.failover_store import event_row_key, state_entity, state_from_entity
from shared.failover.alerts import AlertError, parse_alert, site_resource_ids, sites_for_targets
from shared.failover.classify import (
    TRANSITIONS,
    Condition,
    Observation,
    SiteState,
    TransitionKind,
    classify,
    condition_of,
)
from shared.failover.paths import ActivePath
from tests.stack import SUB, seed_spec

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
C, N = "Connected", "NotConnected"
H, B, F, O = Condition.HEALTHY, Condition.BACKUP_DOWN, Condition.FAILED_OVER, Condition.OUTAGE  # noqa: E741
STATUSES = {H: (C, C), B: (C, N), F: (N, C), O: (N, N)}
ALERT_FIXTURE = Path(__file__).parent / "fixtures/alerts/common-alert-schema-sample.json"


def obs(condition: Condition, seconds: float = 0) -> Observation:
    er, vpn = STATUSES[condition]
    return Observation(er, vpn, T0 + timedelta(seconds=seconds))


def run(conditions: list[Condition], hold: int = 1, step: float = 60) -> list[TransitionKind | None]:
    """Feed a sequence of observations (one per `step` seconds); the kinds recorded, in order."""
    state: SiteState | None = None
    out: list[TransitionKind | None] = []
    for i, condition in enumerate(conditions):
        state, transition = classify(state, obs(condition, i * step), hold)
        out.append(transition.kind if transition else None)
    return out


@pytest.mark.parametrize(
    ("er", "vpn", "condition"),
    [
        (C, C, H),
        (C, N, B),
        (C, "Unknown", B),
        (C, None, B),
        (N, C, F),
        ("Unknown", C, F),
        (None, C, F),
        (N, N, O),
        (None, None, O),
        ("Connecting", "Connecting", O),
    ],
)
def test_condition_of_statuses(er, vpn, condition):
    assert condition_of(er, vpn) is condition


def test_conditions_name_path_and_backup():
    assert [(c.path, c.backup_up) for c in (H, B, F, O)] == [
        (ActivePath.EXPRESSROUTE, True),
        (ActivePath.EXPRESSROUTE, False),
        (ActivePath.VPN, True),
        (ActivePath.NONE, False),
    ]


EXPECTED = {
    (H, B): "backup-lost",
    (H, F): "failover",
    (H, O): "outage",  # both lost together: an outage, not a failover
    (B, H): "backup-restored",
    (B, F): "failover",
    (B, O): "outage",
    (F, H): "failback",
    (F, B): "failback",
    (F, O): "outage",
    (O, H): "recovery",  # onto ExpressRoute
    (O, B): "recovery",
    (O, F): "recovery",  # onto the VPN
}


def test_the_transition_table_covers_every_pair_of_distinct_conditions():
    pairs = {(a, b) for a, b in itertools.product(Condition, Condition) if a is not b}
    assert set(TRANSITIONS) == pairs == set(EXPECTED)


@pytest.mark.parametrize(("before", "after"), sorted(EXPECTED, key=str))
def test_every_change_is_one_transition(before, after):
    assert run([before, after]) == [None, TransitionKind(EXPECTED[(before, after)])]
    _, transition = classify(classify(None, obs(before))[0], obs(after, 60))
    assert transition is not None
    assert (transition.from_path, transition.to_path) == (before.path, after.path)
    assert transition.detected_at == transition.started_at == T0 + timedelta(seconds=60)


@pytest.mark.parametrize("condition", list(Condition))
def test_first_observation_is_a_baseline_and_repeats_change_nothing(condition):
    state, transition = classify(None, obs(condition))
    assert transition is None and state.condition is condition and state.since == T0
    again, transition = classify(state, obs(condition, 60))
    assert transition is None and again is state  # identical: nothing to write


@pytest.mark.parametrize("condition", list(Condition))
def test_baseline_opens_the_episodes_of_its_condition(condition):
    state, _ = classify(None, obs(condition))
    assert (state.expressroute_down_since is not None) == (condition.path is not ActivePath.EXPRESSROUTE)
    assert (state.backup_down_since is not None) == (not condition.backup_up)
    assert (state.outage_since is not None) == (condition is O)


def test_failback_duration_is_the_whole_expressroute_loss():
    state, _ = classify(None, obs(H))
    state, t = classify(state, obs(F, 100))
    assert t and t.kind is TransitionKind.FAILOVER and t.duration_seconds is None
    state, t = classify(state, obs(O, 200))
    assert t and t.kind is TransitionKind.OUTAGE
    state, t = classify(state, obs(F, 260))
    assert t and t.kind is TransitionKind.RECOVERY and t.duration_seconds == 60  # the outage only
    state, t = classify(state, obs(H, 400))
    assert t and t.kind is TransitionKind.FAILBACK and t.duration_seconds == 300  # ER lost at 100
    assert state.expressroute_down_since is None and state.outage_since is None


def test_recovery_onto_expressroute_closes_the_outage():
    state, _ = classify(None, obs(H))
    state, _ = classify(state, obs(O, 30))
    state, t = classify(state, obs(B, 90))
    assert t and t.kind is TransitionKind.RECOVERY and t.to_path is ActivePath.EXPRESSROUTE
    assert t.duration_seconds == 60
    state, t = classify(state, obs(H, 150))
    assert t and t.kind is TransitionKind.BACKUP_RESTORED and t.duration_seconds == 120  # VPN down since 30


def test_backup_lost_then_restored_duration():
    state, _ = classify(None, obs(H))
    state, t = classify(state, obs(B, 10))
    assert t and t.kind is TransitionKind.BACKUP_LOST
    state, t = classify(state, obs(H, 70.5))
    assert t and t.kind is TransitionKind.BACKUP_RESTORED and t.duration_seconds == 60.5


def test_failback_with_the_backup_down_then_restored():
    assert run([H, F, B, H]) == [None, "failover", "failback", "backup-restored"]


@pytest.mark.parametrize(
    ("sequence", "hold", "expected"),
    [
        # flapping under the hold count: nothing
        ([H, F, H, F, H, F, H], 2, [None] * 7),
        ([H, F, F, H, F, F, H], 3, [None] * 7),
        # a held change counts once, at the hold-th observation
        ([H, F, F], 2, [None, None, "failover"]),
        ([H, F, F, F, F], 3, [None, None, None, "failover", None]),
        # a different condition restarts the streak
        ([H, F, O, O], 2, [None, None, None, "outage"]),
        # hold 1: every change at once
        ([H, F, H, F], 1, [None, "failover", "failback", "failover"]),
        # the baseline needs no hold
        ([O, O, F, F], 2, [None, None, None, "recovery"]),
    ],
)
def test_hold_count(sequence, hold, expected):
    assert run(sequence, hold) == [TransitionKind(e) if e else None for e in expected]


def test_a_held_transition_starts_at_the_first_observation_of_the_streak():
    state, _ = classify(None, obs(H))
    state, t = classify(state, obs(F, 60), hold_count=3)
    assert t is None and state.pending is F and state.pending_count == 1
    state, t = classify(state, obs(F, 120), hold_count=3)
    assert t is None and state.pending_count == 2
    state, t = classify(state, obs(F, 180), hold_count=3)
    assert t and t.started_at == T0 + timedelta(seconds=60) and t.detected_at == T0 + timedelta(seconds=180)
    assert state.pending is None and state.since == T0 + timedelta(seconds=60)
    state, t = classify(state, obs(H, 240), hold_count=1)
    assert t and t.duration_seconds == 180


def test_a_flap_ending_clears_the_pending_streak():
    state, _ = classify(None, obs(H))
    pending, _ = classify(state, obs(F, 60), hold_count=2)
    cleared, t = classify(pending, obs(H, 120), hold_count=2)
    assert t is None and cleared == state and cleared != pending


def test_hold_count_must_be_positive():
    with pytest.raises(ValueError, match="hold_count"):
        classify(None, obs(H), 0)


# --- the state entity -----------------------------------------------------------------------------------
@pytest.mark.parametrize("hold", [1, 3])
def test_state_entity_round_trips(hold):
    state, _ = classify(None, obs(H))
    state, _ = classify(state, obs(F, 60), hold)
    entity = state_entity("seed", state, "abc")
    assert state_from_entity(entity) == state
    assert ("pendingCount" in entity) == (hold > 1)  # the streak is stored only with hold > 1
    assert entity["path"] == state.path.value and entity["lastEventId"] == "abc"


def test_event_row_keys_sort_newest_first():
    keys = [event_row_key(T0 + timedelta(milliseconds=ms), "x") for ms in (0, 1, 1000, 86_400_000)]
    assert keys == sorted(keys, reverse=True)
    assert all(k.startswith("e") and k < "state" for k in keys)


# --- alerts ---------------------------------------------------------------------------------------------
def test_microsofts_sample_parses_and_names_a_resource_no_site_owns():
    alert = parse_alert(ALERT_FIXTURE.read_bytes())
    assert alert.monitor_condition == "Resolved" and alert.alert_rule == "WCUS-R2-Gen2"
    sites, unknown = sites_for_targets(alert.target_ids, seed_spec().sites, SUB)
    assert sites == [] and unknown == list(alert.target_ids)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "BadJson"),
        (b"[1, 2]", "NotCommonAlertSchema"),
        (b'{"schemaId": "Microsoft.Insights/activityLogs", "data": {}}', "NotCommonAlertSchema"),
        (b'{"schemaId": "azureMonitorCommonAlertSchema", "data": {}}', "NotCommonAlertSchema"),
        (
            b'{"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {"alertTargetIDs": []}}}',
            "NoAlertTarget",
        ),
        (
            b'{"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": '
            b'{"alertTargetIDs": ["/x"], "monitorCondition": "Maybe"}}}',
            "BadMonitorCondition",
        ),
    ],
)
def test_bad_alerts_say_why(body, code):
    with pytest.raises(AlertError) as caught:
        parse_alert(body)
    assert caught.value.code == code and str(caught.value)


def test_targets_match_any_path_resource_case_insensitively():
    site = seed_spec().sites[0]
    ids = site_resource_ids(site, SUB)
    assert any(i.endswith("/expressRouteCircuits/hybrid-er-circuit") for i in ids)
    for resource_id in ids:
        found, unknown = sites_for_targets([resource_id.lower()], [site], SUB)
        assert found == [site] and unknown == []
    payload = json.loads(ALERT_FIXTURE.read_text())
    payload["data"]["essentials"]["alertTargetIDs"].append(ids[3].upper())
    found, unknown = sites_for_targets(parse_alert(json.dumps(payload)).target_ids, [site], SUB)
    assert found == [site] and len(unknown) == 1


# --- settings -------------------------------------------------------------------------------------------
def test_failover_settings_defaults_and_errors():
    from shared.settings import Settings, SettingsError

    settings = Settings.from_env({})
    assert (settings.failover_hold_count, settings.failover_retention_days) == (1, 365)
    assert settings.events_topic_endpoint is None
    with pytest.raises(SettingsError, match="HYBRIDNET_FAILOVER_HOLD_COUNT"):
        Settings.from_env({"HYBRIDNET_FAILOVER_HOLD_COUNT": "0"})
    with pytest.raises(SettingsError, match="HYBRIDNET_EVENTS_TOPIC_KEY"):
        Settings.from_env({"HYBRIDNET_EVENTS_TOPIC_ENDPOINT": "https://t.example/api/events"})
    with pytest.raises(SettingsError, match="https"):
        Settings.from_env(
            {"HYBRIDNET_EVENTS_TOPIC_ENDPOINT": "http://t/api/events", "HYBRIDNET_EVENTS_TOPIC_KEY": "k"}
        )
    secret = Settings.from_env(
        {"HYBRIDNET_EVENTS_TOPIC_ENDPOINT": "https://t/api/events", "HYBRIDNET_EVENTS_TOPIC_KEY": "s3cr3t"}
    )
    assert "s3cr3t" not in repr(secret)
