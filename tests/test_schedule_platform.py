"""Timer schedules (issue 12, item 12): interval arithmetic on NCRONTAB with croniter, so the health
snapshot's staleness follows the real failover poll interval however the schedule is written."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from croniter import croniter

from shared.settings import Settings, SettingsError, schedule_interval


def test_every_five_minutes_written_as_a_range_with_a_step() -> None:
    """`0 0-59/5 * * * *` fell back to 120 s: a 5-minute poll then made /api/health 503 most of the time."""
    assert schedule_interval("0 0-59/5 * * * *") == 300
    settings = Settings.from_env({"HYBRIDNET_FAILOVER_SCHEDULE": "0 0-59/5 * * * *"})
    assert settings.health_stale_seconds == 600


@pytest.mark.parametrize(
    ("schedule", "seconds"),
    [
        ("0 * * * * *", 60),
        ("*/2 * * * * *", 2),
        ("0 */5 * * * *", 300),
        ("0 0,15,30,45 * * * *", 900),
        ("5,10 * * * * *", 55),  # the longest gap: :10 to :05 of the next minute
        ("* 0-29 * * * *", 1801),  # every second for half an hour, then 30 minutes of nothing
        ("0 0 */6 * * *", 6 * 3600),
        ("0 30 9 * * 1-5", 3 * 86400),  # Friday 09:30 to Monday 09:30
        ("0 30 9 * * Mon-Fri", 3 * 86400),
        ("*/5 * * * *", 300),  # 5 fields: no seconds, as NCrontab also accepts
        ("00:05:00", 300),  # TimeSpan
        ("1.00:00:00", 86400),
    ],
)
def test_longest_gap_between_runs(schedule: str, seconds: int) -> None:
    assert schedule_interval(schedule) == seconds


@pytest.mark.parametrize(
    ("schedule", "window"),
    [
        ("0 0-59/5 * * * *", timedelta(days=1)),
        ("5,10 * * * * *", timedelta(minutes=10)),
        ("0 30 9 * * 1-5", timedelta(days=14)),
        ("* 0-29 * * * *", timedelta(minutes=70)),
    ],
)
def test_agrees_with_walking_the_schedule(schedule: str, window: timedelta) -> None:
    """Cross-check against croniter's own iteration (seconds field moved last)."""
    fields = schedule.split()
    cron = croniter(" ".join(fields[1:] + fields[:1]), datetime(2026, 3, 2, tzinfo=UTC))
    runs = [cron.get_next(datetime)]
    while runs[-1] - runs[0] < window:
        runs.append(cron.get_next(datetime))
    longest = max((b - a).total_seconds() for a, b in itertools.pairwise(runs))
    assert schedule_interval(schedule) == longest


@pytest.mark.parametrize("schedule", ["every 5 minutes", "0 0 0 31 2 *", "61 * * * * *", "* * * *"])
def test_a_bad_failover_schedule_is_a_settings_error(schedule: str) -> None:
    assert schedule_interval(schedule) is None
    with pytest.raises(SettingsError, match="HYBRIDNET_FAILOVER_SCHEDULE="):
        Settings.from_env({"HYBRIDNET_FAILOVER_SCHEDULE": schedule})


def test_an_explicit_stale_setting_still_wins() -> None:
    env = {"HYBRIDNET_FAILOVER_SCHEDULE": "0 0-59/5 * * * *", "HYBRIDNET_HEALTH_STALE_SECONDS": "45"}
    assert Settings.from_env(env).health_stale_seconds == 45
