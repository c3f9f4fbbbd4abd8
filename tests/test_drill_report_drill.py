"""Failover drills in the health report (schema 1.5) and as CloudEvents Hybridnet.Drill.*."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from jsonschema import Draft202012Validator

from shared.failover.drill import PASSED
from shared.report.html import render_html
from shared.report.schema import HEALTH_SCHEMA, SCHEMA_VERSION
from shared.report.text import render_text
from shared.services.drill import run_drill
from shared.services.health import health_report, poll_sites
from shared.settings import Settings
from tests.test_drill_e2e_drill import Net, _net

__all__ = ["Net"]


@pytest.fixture
def net(azurite, tmp_path):
    yield from _net(azurite, tmp_path, ["10.10.0.0/16"])


def _site(net: Net, settings: Settings) -> dict:
    poll_sites(settings, [net.site], now=net.clock)
    report, _status = health_report(settings, site=net.site.name, now=net.clock)
    assert report["schemaVersion"] == SCHEMA_VERSION == "1.5"
    Draft202012Validator(HEALTH_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(report)
    (site,) = report["sites"]
    return site


def test_drill_shows_in_the_report_and_is_published(net, monkeypatch):
    monkeypatch.setenv("HYBRIDNET_EVENTS_TOPIC_ENDPOINT", net.info.topic_endpoint)
    monkeypatch.setenv("HYBRIDNET_EVENTS_TOPIC_KEY", net.info.topic_key)
    monkeypatch.setenv("HYBRIDNET_DRILL_MAX_AGE_DAYS", "7")
    monkeypatch.setenv("HYBRIDNET_HEALTH_CACHE_SECONDS", "0")
    settings = Settings.from_env()
    site = _site(net, settings)
    assert site["drill"]["last"] is None and site["drill"]["degraded"] is True
    assert site["status"] == "degraded" and "no passing failover drill in the last 7 days" in site["reason"]

    drill = run_drill(settings, net.site.name, now=net.clock, sleep=net.clock.sleep).drill
    assert drill is not None and drill.result == PASSED
    received = json.dumps(net.control.topic_events("hybridnet"))
    assert "Hybridnet.Drill.Passed" in received and drill.id in received

    site = _site(net, settings)
    assert site["drill"]["last"]["result"] == PASSED and site["drill"]["degraded"] is False
    assert site["drill"]["last"]["failoverSeconds"] == drill.failover_seconds
    assert site["drill"]["daysSincePass"] is not None and site["drill"]["daysSincePass"] < 1
    assert site["status"] == "healthy"
    report, _ = health_report(settings, site=net.site.name, now=net.clock)
    assert "failover drill: last passed" in render_text(report)
    assert "Failover drill" in render_html(report)

    net.clock.now += timedelta(days=8)
    site = _site(net, settings)
    assert site["drill"]["degraded"] is True and "last passed 8" in site["reason"]


def test_drill_max_age_is_off_by_default(net):
    site = _site(net, Settings.from_env())
    assert site["drill"] == {
        "last": None,
        "lastPassAt": None,
        "daysSincePass": None,
        "maxAgeDays": None,
        "degraded": False,
    }
