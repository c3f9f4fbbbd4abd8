"""POST /api/alerts through the local Functions host: Microsoft's common-alert-schema sample, aimed at
the seed site's resources, checks that site at once and records the transition exactly once."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridnet_dev.armsim.control import SimControl
from shared.azure.failover_store import failover_events
from shared.azure.tables import table_service
from shared.failover.alerts import site_resource_ids
from shared.settings import Settings
from shared.spec_source import current_spec
from tests.failover_support import unique_spec
from tests.helpers import post_json
from tests.stack import CIRCUIT, ROOT, app_host, app_on_simulator

SAMPLE = json.loads((Path(__file__).parent / "fixtures/alerts/common-alert-schema-sample.json").read_text())


@pytest.fixture(scope="module")
def stack(azurite, tmp_path_factory) -> Iterator[tuple[str, str, SimControl, Settings]]:
    spec_path, _ = unique_spec(tmp_path_factory.mktemp("alerts"))
    # Each alert here is checked on its own (no minimum interval): what they test is recording exactly
    # once. Coalescing bursts of alerts: tests/test_alerts_lease.py.
    with (
        app_on_simulator(
            storage=azurite.connection_string, spec_path=spec_path, HYBRIDNET_FAILOVER_ALERT_MIN_SECONDS="0"
        ) as app,
        app_host() as host,
    ):
        yield host.info.base_url, host.info.function_key, app.control, Settings.from_env()


def _alert(target: str, condition: str) -> bytes:
    payload = copy.deepcopy(SAMPLE)
    payload["data"]["essentials"]["alertTargetIDs"] = [target.lower()]  # as Azure Monitor sends ids
    payload["data"]["essentials"]["monitorCondition"] = condition
    return json.dumps(payload).encode()


def test_alerts_need_the_function_key(stack):
    base, _key, _control, _settings = stack
    status, _ = post_json(f"{base}/api/alerts", _alert("/x", "Fired"))
    assert status == 401


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{oops", "BadJson"),
        (json.dumps({"schemaId": "Microsoft.Insights/activityLogs"}).encode(), "NotCommonAlertSchema"),
        (json.dumps(SAMPLE).encode(), "UnknownAlertTarget"),  # Microsoft's sample names a VM
    ],
)
def test_bad_or_unknown_alerts_are_400_with_a_reason(stack, body, code):
    base, key, _control, _settings = stack
    status, answer = post_json(f"{base}/api/alerts?code={key}", body)
    assert status == 400
    assert answer["error"]["code"] == code and answer["error"]["message"]


def test_a_circuit_alert_records_the_failover_once_even_when_redelivered(stack):
    base, key, control, settings = stack
    site = current_spec(settings).sites[0]
    circuit_id, vpn_connection_id = (
        site_resource_ids(site, settings.subscription_id)[5],
        site_resource_ids(site, settings.subscription_id)[3],
    )
    status, answer = post_json(f"{base}/api/alerts?code={key}", _alert(circuit_id, "Resolved"))
    assert status == 200, answer
    assert answer["sites"][0]["outcome"] == "baseline"

    control.set_circuit(CIRCUIT, up=False)
    try:
        fired = _alert(circuit_id, "Fired")
        status, answer = post_json(f"{base}/api/alerts?code={key}", fired)
        assert status == 200, answer
        (result,) = answer["sites"]
        assert result["site"] == site.name and result["outcome"] == "recorded"
        assert result["event"]["kind"] == "failover" and result["event"]["detectedBy"] == "alert"
        assert "Fired" in result["event"]["detail"]
        status, again = post_json(f"{base}/api/alerts?code={key}", fired)  # redelivery
        assert status == 200 and again["sites"][0]["outcome"] == "unchanged"
        # A VPN alert for the same site finds nothing new either.
        status, vpn = post_json(f"{base}/api/alerts?code={key}", _alert(vpn_connection_id, "Fired"))
        assert status == 200 and vpn["sites"][0]["outcome"] == "unchanged"
    finally:
        control.set_circuit(CIRCUIT, up=True)
    status, answer = post_json(f"{base}/api/alerts?code={key}", _alert(circuit_id, "Resolved"))
    assert answer["sites"][0]["event"]["kind"] == "failback"
    kinds = [e["kind"] for e in failover_events(table_service(settings), site=site.name)]
    assert kinds == ["failback", "failover"]


def test_the_app_registers_the_alert_route_and_the_poll():
    code = (
        "import json, function_app\n"
        "for f in function_app.app.get_functions():\n"
        "    print(json.dumps([f.get_function_name(), f.get_trigger().get_dict_repr()], default=str))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    functions = dict(json.loads(line) for line in out.splitlines())
    assert functions["failover_alert"]["route"] == "alerts"
    assert functions["failover_alert"]["authLevel"] == "FUNCTION"
    assert functions["failover_poll"]["schedule"] == "%HYBRIDNET_FAILOVER_SCHEDULE%"
