"""No bare 500 on any route: every HTTP function of function_app, through the local Functions host,
answers a JSON error with a code. A broken spec or setting is a 500 ConfigurationError; Table Storage
stopped or ARM out of reach is a 503 with Retry-After; bad JSON is a 400; an Event Grid event without
an id is rejected and not recorded."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.azurite import Azurite, free_port
from hybridnet_dev.funchost.server import LocalHost
from shared.azure.table_names import EVENTS_SEEN, table
from shared.azure.tables import table_service
from shared.drift.events import OBJECT_ID_CLAIM
from shared.settings import Settings
from tests import helpers
from tests.helpers import Reply
from tests.stack import LNG, RG_ID, ROOT, SUB, app_host, app_on_simulator, deliver_arm_events

ALERT = json.loads((ROOT / "tests/fixtures/alerts/common-alert-schema-sample.json").read_text())
PERSON_OID = "5e5e5e5e-6666-7777-8888-999999999999"


@pytest.fixture(scope="module")
def stack(azurite) -> Iterator[tuple[LocalHost, SimControl]]:
    with app_on_simulator(
        storage=azurite.connection_string,
        HYBRIDNET_DRIFT_MODE="report",
        # Every alert here is checked (not coalesced into a check made against another test's storage).
        HYBRIDNET_FAILOVER_ALERT_MIN_SECONDS="0",
    ) as app:
        app.env.setenv("HYBRIDNET_APP_PRINCIPAL_IDS", app.sim.principal_id)
        with app_host() as running:
            yield running, app.control


def call(
    host: LocalHost, method: str, path: str, *, body: bytes | None = None, key: str | None = None
) -> Reply:
    """A request to the local host, with the master key unless `key` says otherwise."""
    return helpers.call(
        method,
        f"{host.info.base_url}{path}",
        headers={"Content-Type": "application/json"},
        body=body,
        key=key or host.info.master_key,
        timeout=60,
    )


def json_error(answer: Reply) -> dict[str, Any]:
    """The error document of a non-2xx answer; fails on an empty or non-JSON body (a bare 500)."""
    status, headers, body = answer
    assert status >= 400, (status, body)
    assert headers.get("content-type", "").startswith("application/json"), (status, headers, body)
    document = json.loads(body)
    assert set(document["error"]) >= {"code", "message"} and document["error"]["message"], document
    return document


def alert_for(resource_id: str) -> bytes:
    payload = copy.deepcopy(ALERT)
    payload["data"]["essentials"]["alertTargetIDs"] = [resource_id.lower()]
    payload["data"]["essentials"]["monitorCondition"] = "Fired"
    return json.dumps(payload).encode()


CONNECTION = f"{RG_ID}/connections/hybrid-vpn-connection"


def every_route(host: LocalHost) -> dict[str, Reply]:
    return {
        "reconcile": call(host, "POST", "/api/reconcile?site=seed&dryRun=true", body=b""),
        "rotate": call(host, "POST", "/api/rotate?site=seed", body=b""),
        "alerts": call(host, "POST", "/api/alerts", body=alert_for(CONNECTION)),
        "health": call(host, "GET", "/api/health"),
    }


def test_every_http_function_is_guarded_by_the_one_error_mapping(stack):
    host, _ = stack
    http = [f for f in host.functions if f.trigger.type == "httpTrigger"]
    assert {f.name for f in http} >= {
        "reconcile_now",
        "rotate_now",
        "failover_alert",
        "health",
        "health_schema",
    }
    assert [f.name for f in http if not getattr(f.user_function, "__json_errors__", False)] == []


def test_a_broken_spec_file_is_a_500_configuration_error_on_every_route(stack, tmp_path, monkeypatch):
    host, _ = stack
    broken = tmp_path / "broken.yaml"
    broken.write_text("sites:\n  - name: seed\n    resourceGroup: [unclosed\n")
    monkeypatch.setenv("HYBRIDNET_SPEC_PATH", str(broken))
    for route, answer in every_route(host).items():
        assert answer[0] == 500, (route, answer)
        error = json_error(answer)["error"]
        assert error["code"] == "ConfigurationError", (route, error)
        assert "broken.yaml" in error["message"], (route, error)


def test_a_missing_spec_file_and_a_bad_setting_are_500_configuration_errors(stack, tmp_path, monkeypatch):
    host, _ = stack
    monkeypatch.setenv("HYBRIDNET_SPEC_PATH", str(tmp_path / "nowhere.yaml"))
    for route, answer in every_route(host).items():
        error = json_error(answer)["error"]
        assert (answer[0], error["code"]) == (500, "ConfigurationError"), (route, error)
        assert "HYBRIDNET_SPEC_PATH" in error["message"]
    monkeypatch.delenv("HYBRIDNET_SPEC_PATH")
    monkeypatch.setenv("HYBRIDNET_DRIFT_MODE", "sometimes")
    for route, answer in every_route(host).items():
        error = json_error(answer)["error"]
        assert (answer[0], error["code"]) == (500, "ConfigurationError"), (route, error)
        assert "HYBRIDNET_DRIFT_MODE='sometimes'" in error["message"]


def test_table_storage_stopped_is_a_503_with_retry_after(stack, monkeypatch):
    host, _ = stack
    private = Azurite().start()
    try:
        monkeypatch.setenv("AzureWebJobsStorage", private.connection_string)
        monkeypatch.setenv("HYBRIDNET_HEALTH_CACHE_SECONDS", "0")
        assert call(host, "POST", "/api/reconcile?site=seed&dryRun=true", body=b"")[0] == 200
    finally:
        private.stop()
    answers = {
        "reconcile": call(host, "POST", "/api/reconcile?site=seed&dryRun=true", body=b""),
        "alerts": call(host, "POST", "/api/alerts", body=alert_for(CONNECTION)),
        "health": call(host, "GET", "/api/health"),
    }
    for route, answer in answers.items():
        status, headers, _ = answer
        error = json_error(answer)["error"]
        assert status == 503, (route, error)
        assert error["code"] == "DependencyUnavailable", (route, error)
        assert "Table Storage" in error["message"] and "could not be reached" in error["message"]
        assert int(headers["retry-after"]) > 0 and error["retryAfterSeconds"] == int(headers["retry-after"])
        assert "AccountKey" not in error["message"]


def test_arm_unreachable_is_a_503_and_a_dry_run_that_errs_is_not_2xx(stack, monkeypatch):
    host, control = stack
    monkeypatch.setenv("HYBRIDNET_ARM_ENDPOINT", f"https://127.0.0.1:{free_port()}")  # nothing listens
    monkeypatch.setenv("HYBRIDNET_ARM_RETRY_TOTAL", "0")
    status, headers, _ = answer = call(host, "POST", "/api/reconcile?site=seed&dryRun=true", body=b"")
    document = json_error(answer)
    assert status == 503 and int(headers["retry-after"]) > 0
    assert document["error"]["code"] == "ObservationFailed", document
    assert document["error"]["run"]["outcome"] == "error" and document["error"]["run"]["site"] == "seed"
    status, headers, _ = answer = call(host, "POST", "/api/alerts", body=alert_for(CONNECTION))
    assert status == 503 and int(headers["retry-after"]) > 0
    assert json_error(answer)["error"]["code"] == "ObservationFailed", json_error(answer)
    # ARM reachable again: the same dry run is a 200.
    monkeypatch.undo()
    assert control.state() is not None
    assert call(host, "POST", "/api/reconcile?site=seed&dryRun=true", body=b"")[0] == 200


def test_deeply_nested_invalid_or_oversized_json_is_a_400(stack):
    host, _ = stack
    nested = call(host, "POST", "/api/alerts", body=b"[" * 100_000 + b"]" * 100_000)
    assert nested[0] == 400 and json_error(nested)["error"]["code"] == "BadJson"
    assert "nested" in json_error(nested)["error"]["message"]
    half = call(host, "POST", "/api/alerts", body=b'{"schemaId": "azureMonitorCommonAlertSchema", "data": {')
    assert half[0] == 400 and json_error(half)["error"]["code"] == "BadJson"
    big = call(host, "POST", "/api/alerts", body=b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}')
    assert big[0] == 400 and json_error(big)["error"]["code"] == "BodyTooLarge"
    # Deep nesting inside a string is just text.
    texty = call(host, "POST", "/api/alerts", body=json.dumps({"schemaId": "[" * 10_000}).encode())
    assert texty[0] == 400 and json_error(texty)["error"]["code"] == "NotCommonAlertSchema"


def _arm_event(event_id: str | None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "topic": f"/subscriptions/{SUB}/resourceGroups/hybrid-network-rg",
        "subject": LNG,
        "eventType": "Microsoft.Resources.ResourceWriteSuccess",
        "eventTime": "2026-01-01T00:00:00Z",
        "dataVersion": "",
        "metadataVersion": "1",
        "data": {"resourceUri": LNG, "status": "Succeeded", "claims": {OBJECT_ID_CLAIM: PERSON_OID}},
    }
    if event_id is not None:
        event["id"] = event_id
    return event


def _seen(event_id: str) -> bool:
    key = hashlib.sha256(event_id.encode()).hexdigest()
    seen = table(table_service(Settings.from_env()), EVENTS_SEEN)
    return any(True for _ in seen.query_entities("RowKey eq @k", parameters={"k": key}))


def test_an_event_grid_event_without_an_id_is_rejected_not_recorded_as_none(stack, caplog):
    host, _ = stack
    caplog.set_level(logging.INFO)
    assert (
        deliver_arm_events(host.info, [_arm_event(None)]) == 500
    )  # the function refused it: Event Grid dead-letters
    assert not _seen("None")
    logged = [f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records]
    assert any("event with no id rejected" in line for line in logged)
    # Sentinel: a proper event afterwards is handled (recorded as seen).
    good = str(uuid.uuid4())
    assert deliver_arm_events(host.info, [_arm_event(good)]) == 202
    assert _seen(good)
    assert not _seen("None")
