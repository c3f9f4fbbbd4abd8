"""Failover drill triggers: `hybridnet drill`, POST /api/drill, the drill timer and the spec's
maintenance window."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shared import cli
from shared.failover.drill import DONE, PASSED
from shared.services.drill import last_drills, scheduled_drills
from shared.settings import Settings
from shared.spec.model import MaintenanceWindow
from tests.e2e_support import T0
from tests.helpers import post_json
from tests.stack import APPLIANCE, app_host
from tests.test_drill_e2e_drill import Net, _net

__all__ = ["Net"]


@pytest.fixture
def net(azurite, tmp_path):
    yield from _net(azurite, tmp_path, ["10.10.0.0/16"])


def test_maintenance_window_contains_and_crosses_midnight():
    window = MaintenanceWindow(days=["sat"], start="23:00", end="02:00")
    sat = datetime(2026, 3, 7, 23, 30, tzinfo=UTC)  # a Saturday
    assert window.contains(sat) and window.contains(sat + timedelta(hours=2))  # Sunday 01:30
    assert not window.contains(sat + timedelta(hours=3)) and not window.contains(sat - timedelta(hours=1))
    assert MaintenanceWindow(start="02:00", end="04:00").contains(datetime(2026, 3, 4, 3, tzinfo=UTC))
    with pytest.raises(ValidationError, match="days"):
        MaintenanceWindow(days=["someday"], start="02:00", end="04:00")
    with pytest.raises(ValidationError, match="HH:MM"):
        MaintenanceWindow(start="2am", end="04:00")


def test_cli_dry_run_and_drill_with_progress(net, capsys, monkeypatch):
    monkeypatch.setenv("HYBRIDNET_DRILL_HOLD_SECONDS", "0")
    assert cli.main(["drill", "--site", net.site.name, "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["wouldRun"] is True
    assert cli.main(["drill", "--site", net.site.name]) == 0
    out, err = capsys.readouterr()
    assert ": passed" in out and "failover " in out and "failback " in out
    assert "failing-over" in err and "holding" in err and "done" in err  # progress as it goes
    net.control.set_appliance(APPLIANCE, up=False)
    assert cli.main(["drill", "--site", net.site.name, "--dry-run"]) == 2
    assert "would not run" in capsys.readouterr().out
    assert cli.main(["drill", "--site", "atlantis"]) == 1


def test_http_drill_dry_run_refusal_and_errors(net):
    with app_host() as host:
        base, info = f"{host.info.base_url}/api/drill", host.info
        assert post_json(f"{base}?site={net.site.name}", key=info.function_key)[0] == 401  # admin only
        assert post_json(base, key=info.master_key)[0] == 400
        assert post_json(f"{base}?site={net.site.name}&dryRun=perhaps", key=info.master_key)[0] == 400
        assert post_json(f"{base}?site=atlantis", key=info.master_key)[0] == 404
        status, body = post_json(f"{base}?site={net.site.name}&dryRun=true", key=info.master_key, timeout=60)
        assert (status, body["wouldRun"]) == (200, True)
        net.control.set_appliance(APPLIANCE, up=False)
        status, body = post_json(f"{base}?site={net.site.name}", key=info.master_key, timeout=60)
        assert status == 409 and body["drill"]["result"] == "refused"
        assert "vpn-not-connected" in [r["code"] for r in body["drill"]["refusals"]]


def test_timer_drills_only_inside_the_maintenance_window_once(azurite, tmp_path):
    sunday_morning = {"days": ["sun"], "start": "07:00", "end": "09:00"}  # T0 is Sunday 08:00 UTC
    gen = _net(azurite, tmp_path, ["10.10.0.0/16"], window=sunday_morning)
    net = next(gen)
    try:
        net.clock.now = T0 - timedelta(hours=2)  # outside the window
        assert scheduled_drills(net.settings, now=net.clock, sleep=net.clock.sleep) == []
        net.clock.now = T0
        (drill,) = scheduled_drills(net.settings, now=net.clock, sleep=net.clock.sleep)
        assert (drill.phase, drill.result) == (DONE, PASSED)
        assert scheduled_drills(net.settings, now=net.clock, sleep=net.clock.sleep) == []  # once a day
        report = Settings.from_env()
        assert report.drill_mode == "enforce"
        assert len(last_drills(net.settings, net.site.name)) == 1
    finally:
        gen.close()
