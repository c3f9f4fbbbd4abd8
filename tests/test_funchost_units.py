"""Pure parts of the local Functions host: route templates, schedules, settings, keys."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from hybridnet_dev.funchost.config import apply_local_settings, load_host_config, resolve_placeholders
from hybridnet_dev.funchost.errors import FunctionHostError
from hybridnet_dev.funchost.http_trigger import compile_route
from hybridnet_dev.funchost.keys import HostKeys
from hybridnet_dev.funchost.timer_trigger import IntervalSchedule, parse_schedule, timer_request

UTC = dt.UTC


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("hello", "/hello", {}),
        ("hello", "/Hello/", {}),
        ("hello", "/hello/x", None),
        ("sites/{site}", "/sites/hub-1", {"site": "hub-1"}),
        ("sites/{site}/{name?}", "/sites/a", {"site": "a"}),
        ("sites/{site}/{name?}", "/sites/a/b", {"site": "a", "name": "b"}),
        ("items/{id:int}", "/items/42", {"id": "42"}),
        ("items/{id:int}", "/items/x", None),
        (
            "items/{id:guid}",
            "/items/0f8fad5b-d9cb-469f-a165-70867728950e",
            {"id": "0f8fad5b-d9cb-469f-a165-70867728950e"},
        ),
        ("files/{*rest}", "/files/a/b/c", {"rest": "a/b/c"}),
        ("files/{*rest}", "/files", {}),
        ("report/{name=latest}", "/report", {"name": "latest"}),
        ("dl/{name}.{ext}", "/dl/report.json", {"name": "report", "ext": "json"}),
        ("", "/", {}),
    ],
)
def test_route_templates(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert compile_route(template).match(path) == expected


def test_route_precedence_prefers_literals() -> None:
    assert compile_route("sites/new").precedence < compile_route("sites/{site}").precedence
    assert compile_route("sites/{site}").precedence < compile_route("sites/{*rest}").precedence


def test_ncrontab_seconds_first() -> None:
    every_five_minutes = parse_schedule("0 */5 * * * *", what="t")
    at = dt.datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert every_five_minutes.next_after(at) == dt.datetime(2024, 1, 1, 0, 5, 0, tzinfo=UTC)
    every_second = parse_schedule("* * * * * *", what="t")
    assert every_second.next_after(at) == dt.datetime(2024, 1, 1, 0, 0, 2, tzinfo=UTC)
    thirty = parse_schedule("30 0 9 * * 1-5", what="t")  # 09:00:30 on weekdays
    assert thirty.next_after(at) == dt.datetime(2024, 1, 1, 9, 0, 30, tzinfo=UTC)  # a Monday
    five_fields = parse_schedule("*/10 * * * *", what="t")
    assert five_fields.next_after(at) == dt.datetime(2024, 1, 1, 0, 10, 0, tzinfo=UTC)


def test_timespan_and_bad_schedules() -> None:
    assert parse_schedule("00:05:00", what="t") == IntervalSchedule(dt.timedelta(minutes=5))
    with pytest.raises(FunctionHostError, match="function 'x'"):
        parse_schedule("every minute", what="function 'x'")
    with pytest.raises(FunctionHostError):
        parse_schedule("99 * * * * *", what="t")


def test_timer_request_through_the_converter() -> None:
    req = timer_request(past_due=True, last=None, next_=dt.datetime(2024, 1, 1, tzinfo=UTC))
    assert req.past_due is True
    assert req.schedule_status["Next"].startswith("2024-01-01T00:00:00")
    assert req.schedule == {"AdjustForDST": True}


def test_placeholders() -> None:
    env = {"SCHED": "0 */5 * * * *"}
    assert resolve_placeholders("%SCHED%", what="t", environ=env) == "0 */5 * * * *"
    with pytest.raises(FunctionHostError, match=r"'MISSING'.*not set"):
        resolve_placeholders("%MISSING%", what="function 'f' (timerTrigger)", environ=env)


def test_local_settings_do_not_override_environment(tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text(
        json.dumps(
            {
                "IsEncrypted": False,
                "Values": {"A": "from-file", "B": "from-file"},
                "Host": {"LocalHttpPort": 7123},
            }
        )
    )
    env = {"A": "from-env"}
    assert apply_local_settings(tmp_path, env) == ["B"]
    assert env == {"A": "from-env", "B": "from-file"}
    assert load_host_config(tmp_path).local_http_port == 7123


def test_host_json_route_prefix(tmp_path: Path) -> None:
    assert load_host_config(tmp_path).route_prefix == "api"
    (tmp_path / "host.json").write_text(
        json.dumps({"version": "2.0", "extensions": {"http": {"routePrefix": ""}}})
    )
    assert load_host_config(tmp_path).route_prefix == ""
    (tmp_path / "host.json").write_text("{not json")
    with pytest.raises(FunctionHostError, match=r"host\.json"):
        load_host_config(tmp_path)


def test_keys() -> None:
    keys = HostKeys.create(function_key="f", master_key="m", eventgrid_key="e")
    assert keys.allows("anonymous", None)
    assert keys.allows("function", "f") and keys.allows("function", "m") and not keys.allows("function", "e")
    assert keys.allows("admin", "m") and not keys.allows("admin", "f")
    assert keys.allows("system", "e") and keys.allows("system", "m") and not keys.allows("system", "f")
    generated = HostKeys.create()
    assert len({generated.function_key, generated.master_key, generated.eventgrid_key}) == 3
