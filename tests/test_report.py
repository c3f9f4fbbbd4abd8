"""The health report built from plain inputs (pure): status rules, schema validity in every state,
escaping, rendering, no secrets."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from jsonschema import Draft202012Validator

from shared.report.build import SiteInputs, build_report, http_status
from shared.report.html import CONTENT_SECURITY_POLICY, render_html
from shared.report.schema import HEALTH_SCHEMA, SCHEMA_VERSION
from shared.report.snapshot import merge, site_entry
from shared.report.text import render_text
from shared.settings import Settings, SettingsError, schedule_interval
from tests.failover_support import event_row

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
VALIDATOR = Draft202012Validator(HEALTH_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _gateway(name: str, state: str = "Succeeded") -> dict:
    return {"name": name, "exists": True, "sku": "VpnGw1", "provisioningState": state, "error": None}


def _connection(name: str, status: str) -> dict:
    return {
        "name": name,
        "exists": True,
        "connectionStatus": status,
        "provisioningState": "Succeeded",
        "ingressBytes": 123456,
        "egressBytes": 654321,
        "error": None,
    }


def _entry(name: str, er: str, vpn: str, *, at: datetime = NOW, previous: dict | None = None) -> dict:
    from shared.failover.classify import condition_of

    condition = condition_of(er, vpn)
    return site_entry(
        name,
        observed_at=at,
        observed_by="poll",
        gateways={"expressRoute": _gateway("er-gw"), "vpn": _gateway("vpn-gw")},
        connections={"expressRoute": _connection("er-conn", er), "vpn": _connection("vpn-conn", vpn)},
        condition=condition.value,
        active_path=condition.path.value,
        error=None,
        previous=previous,
    )


def _event(kind: str, at: datetime, **evidence: int) -> dict:
    return event_row(at=at, event_id=f"id{int(at.timestamp())}", kind=kind, evidence=evidence)


def _run(**open_by_severity: int) -> dict:
    return {
        "runId": "r1",
        "trigger": "timer",
        "mode": "report",
        "outcome": "drift",
        "startedAt": NOW.isoformat(),
        "finishedAt": NOW.isoformat(),
        "findings": [
            {
                "severity": "high",
                "kind": "mismatch",
                "fix": "safe",
                "resourceId": "/x",
                "field": "properties.sharedKey",
                "message": "routing weight differs",
                "expected": "SECRET-EXPECTED",
                "actual": "SECRET-ACTUAL",
            }
        ],
        "actions": [],
        "openBySeverity": open_by_severity,
        "error": None,
    }


def _report(snapshot: dict | None, inputs: list[SiteInputs] | None = None, **kwargs) -> dict:
    inputs = inputs if inputs is not None else [SiteInputs("seed", ["10.10.0.0/16"])]
    report = build_report(snapshot, inputs, now=kwargs.pop("now", NOW), stale_after=120, **kwargs)
    VALIDATOR.validate(report)
    return report


def _snapshot(*entries: dict) -> dict:
    return merge(None, list(entries), taken_at=NOW, source="poll")


def test_the_schema_is_draft_2020_12_and_versioned():
    Draft202012Validator.check_schema(HEALTH_SCHEMA)
    assert HEALTH_SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert HEALTH_SCHEMA["properties"]["schemaVersion"] == {"const": SCHEMA_VERSION}


@pytest.mark.parametrize(
    ("er", "vpn", "status", "path", "code"),
    [
        ("Connected", "Connected", "healthy", "expressroute", 200),
        ("Connected", "NotConnected", "degraded", "expressroute", 200),
        ("NotConnected", "Connected", "failover", "vpn", 200),
        ("NotConnected", "NotConnected", "outage", "none", 503),
    ],
)
def test_each_state_is_valid_and_has_its_status(er, vpn, status, path, code):
    report = _report(_snapshot(_entry("seed", er, vpn)))
    (site,) = report["sites"]
    assert (report["status"], site["status"], site["activePath"]) == (status, status, path)
    assert report["stale"] is False and report["reason"]
    assert http_status(report, ("outage", "stale")) == code
    assert http_status(report, ()) == 200


def test_stale_snapshot_is_degraded_and_503():
    old = NOW - timedelta(seconds=121)
    report = _report(
        merge(None, [_entry("seed", "Connected", "Connected", at=old)], taken_at=old, source="poll")
    )
    assert report["stale"] and report["status"] == "degraded"
    assert "stale after 120s" in report["sites"][0]["reason"]
    assert http_status(report, ("outage", "stale")) == 503
    assert http_status(report, ("outage",)) == 200


def test_no_snapshot_yet_is_stale_not_a_crash():
    report = _report(None)
    assert report["stale"] and report["sites"][0]["activePath"] == "unknown"
    assert report["sites"][0]["gateways"] is None


def test_overall_status_is_the_worst_site_and_names_it():
    inputs = [SiteInputs("a"), SiteInputs("b"), SiteInputs("c")]
    snapshot = _snapshot(
        _entry("a", "Connected", "Connected"),
        _entry("b", "NotConnected", "Connected"),
        _entry("c", "Connected", "NotConnected"),
    )
    report = _report(snapshot, inputs)
    assert report["status"] == "failover"
    assert report["reason"].startswith("b: failover")
    assert "c: degraded" in report["reason"] and "a:" not in report["reason"]


def test_gateway_not_succeeded_drift_and_rotation_degrade_a_healthy_site():
    entry = _entry("seed", "Connected", "Connected")
    entry["gateways"]["vpn"]["provisioningState"] = "Updating"
    report = _report(_snapshot(entry))
    assert "VPN gateway vpn-gw provisioning state Updating" in report["sites"][0]["reason"]
    inputs = SiteInputs(
        "seed",
        latest_run=_run(high=1, low=2),
        rotation={
            "state": "completed",
            "nextDueAt": (NOW - timedelta(days=1)).isoformat(),
            "keyAgeDays": 91.0,
        },
    )
    report = _report(_snapshot(_entry("seed", "Connected", "Connected")), [inputs])
    site = report["sites"][0]
    assert site["status"] == "degraded"
    assert site["drift"]["openFindings"] == {"total": 3, "bySeverity": {"high": 1, "low": 2}}
    assert site["keyRotation"]["overdue"] is True
    assert "1 open critical/high drift finding(s)" in site["reasons"]
    assert "SECRET" not in json.dumps(report)  # expected/actual values never leave the run record


def test_failovers_timeline_last_30_days_and_learned_routes():
    events = [
        _event(
            "failback",
            NOW - timedelta(hours=1),
            onPremRoutesViaExpressRoute=1,
            onPremRoutesViaVpn=0,
        ),
        _event(
            "failover",
            NOW - timedelta(hours=2),
            onPremRoutesViaExpressRoute=0,
            onPremRoutesViaVpn=1,
        ),
        _event("failover", NOW - timedelta(days=40)),
    ]
    report = _report(_snapshot(_entry("seed", "Connected", "Connected")), [SiteInputs("seed", events=events)])
    failovers = report["sites"][0]["failovers"]
    assert failovers["countLast30Days"] == 2 and len(failovers["recent"]) == 3
    assert [e["kind"] for e in failovers["timeline"]["events"]] == ["failback", "failover"]
    assert failovers["secondsSinceLast"] == 3600
    learned = report["sites"][0]["routes"]["learnedRoutes"]
    assert learned["carrier"] == "expressroute" and learned["matchesActivePath"] is True


def test_status_since_carries_forward_until_the_status_changes():
    first = _entry("seed", "Connected", "Connected", at=NOW)
    later = _entry("seed", "Connected", "NotConnected", at=NOW + timedelta(minutes=1), previous=first)
    assert later["connections"]["expressRoute"]["statusSince"] == NOW.isoformat()
    assert later["connections"]["vpn"]["statusSince"] == (NOW + timedelta(minutes=1)).isoformat()


def test_merge_keeps_other_sites_and_drops_sites_gone_from_the_spec():
    snapshot = _snapshot(_entry("a", "Connected", "Connected"), _entry("gone", "Connected", "Connected"))
    merged = merge(
        snapshot, [_entry("b", "Connected", "Connected")], taken_at=NOW, source="refresh", known=["a", "b"]
    )
    assert sorted(merged["sites"]) == ["a", "b"] and merged["source"] == "refresh"


HOSTILE = '<script>alert("x")</script>&"\''


def test_html_escapes_everything_and_is_self_contained():
    entry = _entry(HOSTILE, "NotConnected", "Connected")
    entry["connections"]["vpn"]["name"] = HOSTILE
    inputs = [
        SiteInputs(
            HOSTILE,
            [HOSTILE],
            latest_run=_run(high=1),
            events=[_event("failover", NOW)],
        )
    ]
    report = _report(_snapshot(entry), inputs)
    report["sites"][0]["drift"]["findings"][0]["message"] = HOSTILE
    page = render_html(report)
    assert "<script" not in page and HOSTILE not in page
    assert "&lt;script&gt;" in page
    for external in ("http://", "https://", "src=", "<link", "@import", "url("):
        assert external not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "Status: FAILOVER" in page
    assert "script-src" not in CONTENT_SECURITY_POLICY and "default-src 'none'" in CONTENT_SECURITY_POLICY


def test_text_summary():
    report = _report(_snapshot(_entry("seed", "NotConnected", "Connected")))
    text = render_text(report)
    assert text.startswith("FAILOVER: seed: failover")
    assert "site seed: failover — active path vpn" in text


def test_health_settings():
    assert schedule_interval("0 * * * * *") == 60 and schedule_interval("*/2 * * * * *") == 2
    assert schedule_interval("5,10 * * * * *") == 55  # the longest gap: from :10 to :05 of the next minute
    assert Settings.from_env({}).health_stale_seconds == 120
    assert Settings.from_env({"HYBRIDNET_FAILOVER_SCHEDULE": "*/5 * * * * *"}).health_stale_seconds == 10
    assert Settings.from_env({"HYBRIDNET_HEALTH_STALE_SECONDS": "30"}).health_stale_seconds == 30
    assert Settings.from_env({"HYBRIDNET_HEALTH_503_ON": "never"}).health_503_on == ()
    assert Settings.from_env({"HYBRIDNET_HEALTH_503_ON": "stale"}).health_503_on == ("stale",)
    with pytest.raises(SettingsError, match="HYBRIDNET_HEALTH_503_ON"):
        Settings.from_env({"HYBRIDNET_HEALTH_503_ON": "sometimes"})


def test_a_snapshot_merge_never_goes_back_in_time():
    from datetime import UTC, datetime

    from shared.report.snapshot import merge

    newer = {"name": "seed", "observedAt": "2026-11-25T12:00:05+00:00", "activePath": "vpn"}
    older = {"name": "seed", "observedAt": "2026-11-25T12:00:01+00:00", "activePath": "expressroute"}
    taken = datetime(2026, 11, 25, 12, 0, 6, tzinfo=UTC)
    merged = merge({"sites": {"seed": newer}}, [older], taken_at=taken, source="poll")
    assert merged["sites"]["seed"]["activePath"] == "vpn"
    assert merge({"sites": {"seed": older}}, [newer], taken_at=taken, source="poll")["sites"]["seed"] == newer
