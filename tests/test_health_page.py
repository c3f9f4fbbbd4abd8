"""The health page: findings the latest run fixed shown as fixed, readable times with the ISO value on
hover, events at the same moment still told apart on the 30-day timeline. Rendered from reports built
by the real builder (and, once, from a run a real reconcile recorded in Azurite), then in headless
Chromium."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from hybridnet_dev.armsim.control import SimControl
from shared.drift.plan import Mode
from shared.report.build import SiteInputs, build_report
from shared.report.html import MARK_R, MAX_LANES, render_html, time_zone
from shared.report.schema import HEALTH_SCHEMA
from shared.report.snapshot import merge, site_entry
from shared.services.health import health_report
from shared.services.reconciler import reconcile
from shared.settings import Settings
from tests.failover_support import event_row
from tests.stack import LNG, app_host, app_on_simulator, put_rogue_connection

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
VALIDATOR = Draft202012Validator(HEALTH_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _finding(resource: str, severity: str, message: str, field: str | None = None) -> dict:
    return {
        "severity": severity,
        "kind": "mismatch",
        "fix": "safe",
        "resourceId": resource,
        "field": field,
        "message": message,
    }


LNG_FINDING = _finding("/lng", "high", "on-premises prefixes differ", "addressPrefixes")
WEIGHT_FINDING = _finding("/conn", "medium", "routing weight differs", "routingWeight")
ROGUE_FINDING = {**_finding("/rogue", "high", "an unexpected connection"), "kind": "unexpected"}


def _run(outcome: str, findings: list[dict], remaining: list[dict] | None, **open_by_severity: int) -> dict:
    run = {
        "runId": "r1",
        "trigger": "event",
        "mode": "enforce",
        "outcome": outcome,
        "startedAt": (NOW - timedelta(minutes=3)).isoformat(),
        "finishedAt": (NOW - timedelta(minutes=3)).isoformat(),
        "findings": findings,
        "actions": [],
        "openBySeverity": open_by_severity,
        "error": None,
    }
    if remaining is not None:
        run["remaining"] = remaining
    return run


def _entry(name: str = "seed") -> dict:
    connection = {"exists": True, "provisioningState": "Succeeded", "connectionStatus": "Connected"}
    gateway = {"exists": True, "sku": "VpnGw1", "provisioningState": "Succeeded", "error": None}
    return site_entry(
        name,
        observed_at=NOW - timedelta(seconds=30),
        observed_by="poll",
        gateways={"expressRoute": {**gateway, "name": "er-gw"}, "vpn": {**gateway, "name": "vpn-gw"}},
        connections={
            "expressRoute": {**connection, "name": "er-conn"},
            "vpn": {**connection, "name": "vpn-conn"},
        },
        condition="healthy",
        active_path="expressroute",
        error=None,
        previous=None,
    )


def _event(at: datetime, kind: str = "failover", n: int = 0) -> dict:
    return event_row(at=at, event_id=f"e{at.timestamp()}-{n}", kind=kind)


def _report(run: dict | None = None, events: list[dict] | None = None) -> dict:
    snapshot = merge(None, [_entry()], taken_at=NOW - timedelta(seconds=30), source="poll")
    inputs = [SiteInputs("seed", ["10.10.0.0/16"], latest_run=run, events=events or [])]
    report = build_report(snapshot, inputs, now=NOW, stale_after=120)
    VALIDATOR.validate(report)
    return report


def _rows(page: str) -> list[tuple[str, str]]:
    """(status, message) of each finding row of the page."""
    return re.findall(
        r'<tr class="(?:open|fixed)"><td class="st-\w+">(\w+)</td><td[^>]*>\w+</td><td>[^<]*</td><td>([^<]*)</td>',
        page,
    )


# --- fixed findings ------------------------------------------------------------------------------


def test_a_run_that_fixed_everything_shows_its_findings_as_fixed():
    report = _report(_run("fixed", [LNG_FINDING, WEIGHT_FINDING], remaining=[]))
    assert [f["status"] for f in report["sites"][0]["drift"]["findings"]] == ["fixed", "fixed"]
    page = render_html(report)
    assert _rows(page) == [("fixed", "on-premises prefixes differ"), ("fixed", "routing weight differs")]
    assert "Open findings: none. Fixed by this run: 2 (1 high, 1 medium)." in page


def test_a_run_that_fixed_some_shows_which_are_still_open_first():
    run = _run(
        "drift-remains", [LNG_FINDING, ROGUE_FINDING, WEIGHT_FINDING], remaining=[ROGUE_FINDING], high=1
    )
    page = render_html(_report(run))
    assert _rows(page) == [
        ("open", "an unexpected connection"),
        ("fixed", "on-premises prefixes differ"),
        ("fixed", "routing weight differs"),
    ]
    assert "Open findings: 1 high. Fixed by this run: 2 (1 high, 1 medium)." in page


def test_a_report_only_run_fixes_nothing():
    page = render_html(_report(_run("drift-reported", [LNG_FINDING], remaining=[LNG_FINDING], high=1)))
    assert _rows(page) == [("open", "on-premises prefixes differ")]
    assert "Fixed by this run" not in page


def test_a_run_that_ended_in_error_vouches_for_nothing():
    run = _run("error", [LNG_FINDING], remaining=[])  # applied, then the second look failed
    page = render_html(_report(run))
    assert _rows(page) == [("open", "on-premises prefixes differ")]
    assert "Open findings: not known (the run ended before it observed again)." in page


def test_a_row_recorded_before_remaining_existed_follows_its_outcome():
    assert _rows(render_html(_report(_run("fixed", [LNG_FINDING], remaining=None)))) == [
        ("fixed", "on-premises prefixes differ")
    ]
    old_partial = _run("drift-remains", [LNG_FINDING], remaining=None, high=1)
    assert _rows(render_html(_report(old_partial))) == [("open", "on-premises prefixes differ")]


# --- times ---------------------------------------------------------------------------------------


def test_times_are_readable_with_the_iso_value_on_hover():
    event_at = NOW - timedelta(hours=2, minutes=5)
    page = render_html(_report(_run("fixed", [LNG_FINDING], remaining=[]), [_event(event_at)]))
    iso = event_at.isoformat()
    assert f'<time datetime="{iso}" title="{iso}">1 Mar 2025 09:55:00 UTC (2h05m ago)</time>' in page
    assert f'Latest run <time datetime="{(NOW - timedelta(minutes=3)).isoformat()}"' in page
    # No raw ISO text outside the hover attributes.
    visible = re.sub(r"<[^>]*>", "", re.sub(r"<title>[^<]*</title>", "", page))  # hover titles aside
    assert "T09:55:00" not in visible and "+00:00" not in visible.split("report schema")[0]


def test_times_follow_the_zone_they_are_shown_in():
    page = render_html(_report(None, [_event(NOW - timedelta(hours=1))]), zone=time_zone("Europe/Paris"))
    assert ">1 Mar 2025 12:00:00 CET (60m ago)</time>" in page
    assert time_zone("Not/AZone") is UTC and time_zone(None) is UTC


# --- the 30-day timeline -------------------------------------------------------------------------


def _marks(page: str) -> list[tuple[float, float, str]]:
    return [
        (float(x), float(y), title)
        for x, y, title in re.findall(
            r'<circle cx="([\d.]+)" cy="([\d.]+)"[^>]*><title>([^<]*)</title>', page
        )
    ]


def test_events_at_the_same_moment_stay_distinguishable():
    moment = NOW - timedelta(days=3)
    events = [_event(moment, "failover", 1), _event(moment, "failback", 2), _event(moment, "outage", 3)]
    events.append(_event(NOW - timedelta(days=10), "failover", 4))
    marks = _marks(render_html(_report(None, events)))
    assert len(marks) == 4
    for i, (x1, y1, _) in enumerate(marks):
        for x2, y2, _ in marks[i + 1 :]:
            assert math.dist((x1, y1), (x2, y2)) >= 2 * MARK_R, marks  # no mark hides another
    assert len({title for _, _, title in marks}) == 4


def test_a_burst_beyond_the_lanes_becomes_one_counted_mark():
    moment = NOW - timedelta(days=1)
    events = [_event(moment, "failover" if n % 2 else "failback", n) for n in range(MAX_LANES + 3)]
    page = render_html(_report(None, events))
    assert len(_marks(page)) == MAX_LANES
    (overflow,) = re.findall(r">\+(\d+)<title>([^<]*)</title>", page)
    assert overflow[0] == "3" and overflow[1].count("at 28 Feb 2025 12:00:00 UTC") == 3


# --- a run recorded by a real reconcile ----------------------------------------------------------


@pytest.fixture
def network(azurite) -> Iterator[tuple[Settings, SimControl]]:
    with app_on_simulator(
        storage=azurite.connection_string,
        HYBRIDNET_HEALTH_CACHE_SECONDS="0",
        HYBRIDNET_HEALTH_REFRESH_MIN_SECONDS="0",
    ) as app:
        yield Settings.from_env(), app.control


def test_a_real_run_that_fixed_drift_shows_it_fixed_and_the_rest_open(network):
    settings, control = network
    control.patch_resource(LNG, {"localNetworkAddressSpace": {"addressPrefixes": ["10.10.1.0/24"]}})
    put_rogue_connection(control)
    result = reconcile(settings, "seed", trigger="manual", mode=Mode.ENFORCE)
    assert result.outcome == "drift-remains", result.to_json()
    report, _status = health_report(settings)
    VALIDATOR.validate(report)
    statuses = {f["kind"]: f["status"] for f in report["sites"][0]["drift"]["findings"]}
    assert statuses == {"unexpected": "open", "mismatch": "fixed"}
    page = render_html(report)
    rows = [status for status, _ in _rows(page)]
    assert rows[0] == "open" and set(rows[1:]) == {"fixed"}, rows  # open first
    assert re.search(r"Fixed by this run: [12] \(", page)


# --- in a browser --------------------------------------------------------------------------------


def test_the_page_renders_in_headless_chromium_with_its_times_marks_and_statuses(tmp_path: Path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.fail("chromium is not installed: `make test` installs it, or says what to run")
    moment = NOW - timedelta(days=2)
    events = [_event(moment, "failover", 1), _event(moment, "failback", 2)]
    page_file = tmp_path / "health.html"
    page_file.write_text(render_html(_report(_run("fixed", [LNG_FINDING], remaining=[]), events)))
    dom = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            page_file.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    html = dom.stdout
    assert "Open findings: none. Fixed by this run: 1 (1 high)." in html, dom.stderr[-2000:]
    assert _rows(html) == [("fixed", "on-premises prefixes differ")]
    marks = _marks(html)
    assert len(marks) == 2 and marks[0][:2] != marks[1][:2]
    assert re.search(
        r'<time datetime="2025-02-27T12:00:00\+00:00" title="[^"]+">27 Feb 2025 12:00:00 UTC', html
    )


def test_the_served_page_shows_times_in_the_apps_time_zone(network, monkeypatch):
    from tests.helpers import call

    monkeypatch.setenv("WEBSITE_TIME_ZONE", "Europe/Paris")
    with app_host() as host:
        reply = call(
            "GET", f"{host.info.base_url}/api/health?refresh=true&format=html", key=host.info.function_key
        )
    page = reply.body.decode()
    # The status depends on what the shared Azurite holds from other tests; the times are what counts.
    assert reply.status in (200, 503) and reply.headers["content-type"].startswith("text/html"), page[:2000]
    footer = re.search(r'<footer>Generated <time datetime="([^"]+)" title="\1">([^<]+)</time>', page)
    assert footer is not None, page[-2000:]
    utc = datetime.fromisoformat(footer.group(1))
    paris = utc.astimezone(time_zone("Europe/Paris"))
    assert footer.group(2).startswith(f"{paris.day} {paris:%b %Y %H:%M:%S} {paris.tzname()}")
    assert paris.tzname() in ("CET", "CEST")
