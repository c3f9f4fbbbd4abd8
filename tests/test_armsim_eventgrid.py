"""Event Grid delivery of ARM resource events to webhooks: handshakes, shapes, at-least-once, retries.

ARM calls go through the real azure-mgmt-network SDK with ``DefaultAzureCredential`` against the
simulator's managed-identity endpoint; the webhook is a tiny stdlib HTTP server in this module (and,
once, the local Functions host with its Event Grid trigger).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from azure.identity import DefaultAzureCredential
from azure.mgmt.network import NetworkManagementClient

from hybridnet_dev.armsim.armevents import OID_CLAIM, PORTAL_USER_OBJECT_ID
from hybridnet_dev.armsim.control import SimControl, SimControlError
from hybridnet_dev.armsim.runner import SimulatorInfo, SimulatorThread
from tests.helpers import wait_for
from tests.stack import sdk_client, seed_spec, simulator_fixtures

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
RG = "hybrid-network-rg"
FAST = {"retryDelays": [0.05, 0.1], "batchWindowMs": 0}


# --- a webhook that records what it receives ------------------------------------------------------
class Webhook:
    """A loopback webhook: answers both handshakes, records notifications, fails on demand."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.fail_next = 0
        self.fail_status = 500
        self.delay = 0.0
        self.validation = "ok"  # ok | wrong | refuse
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
                raw = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_OPTIONS(self) -> None:
                origin = self.headers.get("WebHook-Request-Origin", "")
                with hook.lock:
                    hook.requests.append({"method": "OPTIONS", "headers": dict(self.headers)})
                if hook.validation == "refuse":
                    self._answer(403)
                else:
                    self._answer(
                        200, headers={"WebHook-Allowed-Origin": origin if hook.validation == "ok" else "x"}
                    )

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"null")
                entry = {"method": "POST", "headers": dict(self.headers), "body": body}
                if self.headers.get("aeg-event-type") == "SubscriptionValidation":
                    with hook.lock:
                        hook.requests.append(entry)
                    code = body[0]["data"]["validationCode"]
                    if hook.validation == "refuse":
                        self._answer(404)
                    else:
                        self._answer(200, {"validationResponse": code if hook.validation == "ok" else "nope"})
                    return
                with hook.lock:
                    hook.requests.append(entry)
                    failing = hook.fail_next > 0
                    hook.fail_next -= 1 if failing else 0
                    delay = hook.delay
                if delay:
                    time.sleep(delay)
                try:
                    self._answer(hook.fail_status if failing else 200)
                except OSError:
                    pass  # the simulator gave up waiting (timeout test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/updates?code=secret-function-key"

    def notifications(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["headers"].get("aeg-event-type") == "Notification"]

    def events(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for request in self.notifications():
            body = request["body"]
            out.extend(body if isinstance(body, list) else [body])
        return out

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
        self.fail_next, self.fail_status, self.delay, self.validation = 0, 500, 0.0, "ok"


# --- fixtures -------------------------------------------------------------------------------------
sim, ctl = simulator_fixtures(seed_spec)


@pytest.fixture(scope="module")
def client(sim: SimulatorThread) -> NetworkManagementClient:
    # azure-core's own retry backoff (0.8), as this client has always had
    return sdk_client(sim, DefaultAzureCredential(), polling_interval=0.02, retry_backoff_factor=0.8)


@pytest.fixture(scope="module")
def server() -> Iterator[Webhook]:
    hook = Webhook()
    hook.thread.start()
    yield hook
    hook.server.shutdown()


@pytest.fixture()
def hook(server: Webhook, ctl: SimControl) -> Iterator[Webhook]:
    ctl.clear_event_subscriptions()
    ctl.clear_deliveries()
    server.reset()
    yield server
    ctl.clear_event_subscriptions()
    ctl.clear_deliveries()


def rid(info: SimulatorInfo, rtype: str, name: str) -> str:
    return f"/subscriptions/{info.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Network/{rtype}/{name}"


def lng_body(ip: str = "1.2.3.4") -> dict[str, Any]:
    return {
        "location": "eastus",
        "properties": {
            "gatewayIpAddress": ip,
            "localNetworkAddressSpace": {"addressPrefixes": ["10.99.0.0/16"]},
        },
    }


def fixture_event(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / f"EventGrid{name}.json").read_text())[0])


def assert_same_shape(expected: dict[str, Any], actual: dict[str, Any]) -> None:
    """Same keys, nesting and value types as Microsoft's example (claims and evidence may add keys)."""
    assert set(actual) == set(expected)
    for key in ("subject", "eventType", "eventTime", "id", "dataVersion", "metadataVersion", "topic"):
        assert isinstance(actual[key], str), key
    data, want = actual["data"], expected["data"]
    assert set(want) <= set(data) <= set(want) | {"httpRequest"}
    for key, value in want.items():
        assert type(data[key]) is type(value), key
    assert set(data["authorization"]) == set(want["authorization"])
    assert set(want["authorization"]["evidence"]) <= set(data["authorization"]["evidence"])
    assert all(isinstance(v, str) for v in data["authorization"]["evidence"].values())
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in data["claims"].items())
    assert OID_CLAIM in data["claims"] and "appid" in data["claims"]
    if "httpRequest" in want:
        assert set(data["httpRequest"]) == set(want["httpRequest"])


# --- handshakes -----------------------------------------------------------------------------------
def test_event_grid_schema_handshake(hook: Webhook, ctl: SimControl, sim: SimulatorThread) -> None:
    sub_id = ctl.subscribe_events(hook.url)
    validation = [r for r in hook.requests if r["headers"].get("aeg-event-type") == "SubscriptionValidation"]
    assert len(validation) == 1
    event = validation[0]["body"][0]
    assert event["eventType"] == "Microsoft.EventGrid.SubscriptionValidationEvent"
    assert event["data"]["validationCode"]
    described = ctl.event_subscriptions()
    assert [s["id"] for s in described] == [sub_id]
    assert "secret-function-key" not in json.dumps(described) + json.dumps(ctl.state())


@pytest.mark.parametrize("mode", ["wrong", "refuse"])
def test_failed_handshake_rejects_the_subscription(hook: Webhook, ctl: SimControl, mode: str) -> None:
    hook.validation = mode
    for schema in ("EventGridSchema", "CloudEventSchemaV1_0"):
        with pytest.raises(SimControlError) as err:
            ctl.subscribe_events(hook.url, schema)
        assert err.value.status == 400
        assert "handshake" in err.value.body
    assert ctl.event_subscriptions() == []


def test_cloud_events_handshake(hook: Webhook, ctl: SimControl) -> None:
    ctl.subscribe_events(hook.url, "CloudEventSchemaV1_0")
    options = [r for r in hook.requests if r["method"] == "OPTIONS"]
    assert len(options) == 1
    assert options[0]["headers"]["WebHook-Request-Origin"] == "eventgrid.azure.net"


def test_bad_subscription_body_is_400(hook: Webhook, ctl: SimControl) -> None:
    with pytest.raises(SimControlError) as err:
        ctl.subscribe_events(hook.url, "Bogus")
    assert err.value.status == 400


# --- event shapes ---------------------------------------------------------------------------------
def test_sdk_write_and_delete_events_match_microsofts_examples(
    hook: Webhook, ctl: SimControl, client: NetworkManagementClient, sim: SimulatorThread
) -> None:
    ctl.subscribe_events(hook.url, **FAST)
    lngs = client.local_network_gateways
    lngs.begin_create_or_update(RG, "eg-lng", lng_body()).result()
    written = wait_for(lambda: hook.events())
    assert len(written) == 1
    event = written[0]
    assert_same_shape(fixture_event("ResourceWriteSuccess"), event)
    subject = rid(sim.info, "localNetworkGateways", "eg-lng")
    assert event["subject"] == event["data"]["resourceUri"] == subject
    assert event["topic"] == f"/subscriptions/{sim.info.subscription_id}/resourceGroups/{RG}"
    assert event["data"]["operationName"] == "Microsoft.Network/localNetworkGateways/write"
    assert event["data"]["resourceProvider"] == "Microsoft.Network"
    assert event["data"]["status"] == "Succeeded"
    assert event["data"]["claims"][OID_CLAIM] == sim.info.principal_id
    assert event["data"]["authorization"]["evidence"]["principalId"] == sim.info.principal_id
    assert "httpRequest" not in event["data"]  # a create, as in Microsoft's example
    notification = hook.notifications()[0]["headers"]
    assert notification["aeg-event-type"] == "Notification"
    assert notification["aeg-delivery-count"] == "0"

    # the app's role has no delete: the operator (Owner) deletes, as a person in the portal would
    operator = NetworkManagementClient(
        ctl.operator_credential(),
        sim.info.subscription_id,
        base_url=sim.info.arm_url,
        connection_verify=sim.info.ca_file,
        polling_interval=0.02,
    )
    operator.local_network_gateways.begin_delete(RG, "eg-lng").result()
    deleted = wait_for(lambda: [e for e in hook.events() if e["eventType"].endswith("DeleteSuccess")])
    assert len(deleted) == 1
    assert_same_shape(fixture_event("ResourceDeleteSuccess"), deleted[0])
    assert deleted[0]["data"]["httpRequest"]["method"] == "DELETE"
    assert deleted[0]["data"]["operationName"] == "Microsoft.Network/localNetworkGateways/delete"


def test_shared_key_reset_is_an_action_event(
    hook: Webhook, ctl: SimControl, client: NetworkManagementClient, sim: SimulatorThread
) -> None:
    ctl.subscribe_events(hook.url, includedEventTypes=["Microsoft.Resources.ResourceActionSuccess"], **FAST)
    conns = client.virtual_network_gateway_connections
    conns.begin_reset_shared_key(RG, "hybrid-vpn-connection", {"keyLength": 32}).result()
    events = wait_for(lambda: hook.events())
    assert [e["eventType"] for e in events] == ["Microsoft.Resources.ResourceActionSuccess"]
    assert_same_shape(fixture_event("ResourceActionSuccess"), events[0])
    assert events[0]["subject"] == rid(sim.info, "connections", "hybrid-vpn-connection") + "/sharedkey"
    assert events[0]["data"]["httpRequest"]["method"] == "POST"
    assert events[0]["data"]["authorization"]["evidence"]["principalId"] == sim.info.principal_id


def test_shared_key_set_is_a_write_event(
    hook: Webhook, ctl: SimControl, client: NetworkManagementClient, sim: SimulatorThread
) -> None:
    ctl.subscribe_events(
        hook.url, subjectBeginsWith=rid(sim.info, "connections", "hybrid-vpn-connection"), **FAST
    )
    conns = client.virtual_network_gateway_connections
    conns.begin_set_shared_key(RG, "hybrid-vpn-connection", {"value": "S3cretKeyForEvents"}).result()
    events = wait_for(lambda: hook.events())
    assert [e["data"]["operationName"] for e in events] == ["Microsoft.Network/connections/sharedKey/write"]
    assert "S3cretKeyForEvents" not in json.dumps(ctl.deliveries())


def test_out_of_band_edit_carries_the_portal_user(
    hook: Webhook, ctl: SimControl, sim: SimulatorThread
) -> None:
    ctl.subscribe_events(hook.url, **FAST)
    target = rid(sim.info, "localNetworkGateways", "hybrid-onprem-lng")
    ctl.patch_resource(
        target, {"localNetworkAddressSpace": {"addressPrefixes": ["10.10.0.0/16", "10.11.0.0/24"]}}
    )
    event = wait_for(lambda: hook.events())[0]
    assert event["subject"] == target
    assert event["eventType"] == "Microsoft.Resources.ResourceWriteSuccess"
    oid = event["data"]["claims"][OID_CLAIM]
    assert oid == PORTAL_USER_OBJECT_ID != sim.info.principal_id
    assert event["data"]["authorization"]["evidence"]["principalId"] == PORTAL_USER_OBJECT_ID
    state = ctl.state()
    assert state["portalUserObjectId"] == PORTAL_USER_OBJECT_ID
    assert state["principalId"] == sim.info.principal_id
    assert ctl.info()["principalId"] == sim.info.to_json()["principalId"] == sim.info.principal_id


def test_cloud_event_schema_delivery(hook: Webhook, ctl: SimControl, sim: SimulatorThread) -> None:
    ctl.subscribe_events(hook.url, "CloudEventSchemaV1_0", claimsAsString=True, **FAST)
    target = rid(sim.info, "localNetworkGateways", "hybrid-onprem-lng")
    ctl.patch_resource(target, {"gatewayIpAddress": "40.50.60.70"})
    request = wait_for(lambda: hook.notifications())[0]
    assert request["headers"]["Content-Type"].startswith("application/cloudevents+json")
    event = request["body"]
    assert set(event) == {"id", "source", "specversion", "type", "subject", "time", "data"}
    assert event["specversion"] == "1.0"
    assert event["source"] == f"/subscriptions/{sim.info.subscription_id}/resourceGroups/{RG}"
    assert event["type"] == "Microsoft.Resources.ResourceWriteSuccess"
    assert json.loads(event["data"]["claims"])[OID_CLAIM] == PORTAL_USER_OBJECT_ID


def test_gets_raise_no_events(
    hook: Webhook, ctl: SimControl, client: NetworkManagementClient, sim: SimulatorThread
) -> None:
    ctl.subscribe_events(hook.url, **FAST)
    client.local_network_gateways.get(RG, "hybrid-onprem-lng")
    list(client.virtual_network_gateway_connections.list(RG))
    # Sentinel: a write after the reads must raise an event; once it is here, the reads' would be too.
    ctl.patch_resource(
        rid(sim.info, "localNetworkGateways", "hybrid-onprem-lng"), {"gatewayIpAddress": "40.50.60.70"}
    )
    (event,) = wait_for(lambda: hook.events())
    assert event["eventType"] == "Microsoft.Resources.ResourceWriteSuccess"
    assert [d["eventId"] for d in ctl.deliveries()] == [event["id"]]


# --- Event Grid's delivery quirks -----------------------------------------------------------------
def test_duplicate_delivers_every_event_twice(hook: Webhook, ctl: SimControl, sim: SimulatorThread) -> None:
    ctl.subscribe_events(hook.url, duplicate=True, **FAST)
    ctl.patch_resource(
        rid(sim.info, "localNetworkGateways", "hybrid-onprem-lng"), {"gatewayIpAddress": "40.50.60.70"}
    )
    events = wait_for(lambda: len(hook.events()) >= 2 and hook.events())
    assert len(events) == 2 and events[0]["id"] == events[1]["id"]
    # Sentinel: a later write, delivered twice too; the first event still counts exactly two copies.
    ctl.patch_resource(
        rid(sim.info, "localNetworkGateways", "hybrid-onprem-lng"), {"gatewayIpAddress": "40.50.60.71"}
    )
    events = wait_for(lambda: len(hook.events()) >= 4 and hook.events())
    ids = [e["id"] for e in events]
    assert len(ids) == 4 and ids.count(ids[0]) == 2 and len(set(ids)) == 2


def test_double_writes_raise_two_write_events(
    hook: Webhook, ctl: SimControl, client: NetworkManagementClient
) -> None:
    ctl.subscribe_events(hook.url, doubleWrites=True, **FAST)
    client.local_network_gateways.begin_create_or_update(
        RG, "hybrid-onprem-lng", lng_body("40.50.60.70")
    ).result()
    events = wait_for(lambda: len(hook.events()) >= 2 and hook.events())
    assert [e["eventType"] for e in events] == ["Microsoft.Resources.ResourceWriteSuccess"] * 2
    assert events[0]["id"] != events[1]["id"] and events[0]["subject"] == events[1]["subject"]


def test_retries_after_500_then_delivers(hook: Webhook, ctl: SimControl, sim: SimulatorThread) -> None:
    hook.fail_next = 2
    ctl.subscribe_events(hook.url, **FAST)
    ctl.patch_resource(
        rid(sim.info, "localNetworkGateways", "hybrid-onprem-lng"), {"gatewayIpAddress": "40.50.60.70"}
    )
    wait_for(lambda: any(d["outcome"] == "delivered" for d in ctl.deliveries()))
    log = ctl.deliveries()
    assert [(d["attempt"], d["status"], d["outcome"]) for d in log] == [
        (1, 500, "retrying"),
        (2, 500, "retrying"),
        (3, 200, "delivered"),
    ]
    assert [r["headers"]["aeg-delivery-count"] for r in hook.notifications()] == ["0", "1", "2"]
    assert len({d["eventId"] for d in log}) == 1
    assert "secret-function-key" not in json.dumps(log)


def test_gives_up_and_dead_letters(hook: Webhook, ctl: SimControl, sim: SimulatorThread) -> None:
    hook.fail_next = 100
    hook.fail_status = 503
    ctl.subscribe_events(hook.url, maxDeliveryAttempts=3, **FAST)
    ctl.patch_resource(
        rid(sim.info, "localNetworkGateways", "hybrid-onprem-lng"), {"gatewayIpAddress": "40.50.60.70"}
    )
    wait_for(lambda: any(d["outcome"] == "deadLettered" for d in ctl.deliveries()))
    assert [d["outcome"] for d in ctl.deliveries()] == ["retrying", "retrying", "deadLettered"]


def test_400_is_dead_lettered_without_retry(hook: Webhook, ctl: SimControl, sim: SimulatorThread) -> None:
    hook.fail_next, hook.fail_status = 100, 400
    ctl.subscribe_events(hook.url, **{**FAST, "retryDelays": [0]})  # a retry, were there one: at once
    target = rid(sim.info, "localNetworkGateways", "hybrid-onprem-lng")
    ctl.patch_resource(target, {"gatewayIpAddress": "40.50.60.70"})
    (first,) = wait_for(lambda: ctl.deliveries())
    # Sentinel: the webhook answers again and a later write is delivered; the 400 was never retried.
    hook.fail_next = 0
    ctl.patch_resource(target, {"gatewayIpAddress": "40.50.60.71"})
    wait_for(lambda: any(d["outcome"] == "delivered" for d in ctl.deliveries()))
    log = ctl.deliveries()
    assert [(d["status"], d["outcome"]) for d in log if d["eventId"] == first["eventId"]] == [
        (400, "deadLettered")
    ]
    assert [(d["status"], d["outcome"]) for d in log] == [(400, "deadLettered"), (200, "delivered")]


def test_timeout_counts_as_a_failed_attempt(hook: Webhook, ctl: SimControl, sim: SimulatorThread) -> None:
    ctl.subscribe_events(hook.url, timeoutSeconds=0.2, maxDeliveryAttempts=2, **FAST)
    hook.delay = 0.5
    started = time.monotonic()
    ctl.patch_resource(
        rid(sim.info, "localNetworkGateways", "hybrid-onprem-lng"), {"gatewayIpAddress": "40.50.60.70"}
    )
    assert time.monotonic() - started < 0.4  # delivery never runs inside the edit
    wait_for(lambda: len(ctl.deliveries()) >= 2)
    log = ctl.deliveries()
    assert [(d["status"], d["outcome"]) for d in log] == [(0, "retrying"), (0, "deadLettered")]
    assert "no answer" in log[0]["error"]


def test_batches_up_to_max_events_per_batch(hook: Webhook, ctl: SimControl, sim: SimulatorThread) -> None:
    ctl.subscribe_events(hook.url, maxEventsPerBatch=3, batchWindowMs=150, retryDelays=[0.05])
    target = rid(sim.info, "localNetworkGateways", "hybrid-onprem-lng")
    for n in range(5):
        ctl.patch_resource(target, {"gatewayIpAddress": f"40.50.60.{70 + n}"})
    wait_for(lambda: len(hook.events()) >= 5)
    sizes = sorted(len(r["body"]) for r in hook.notifications())
    assert sizes == [2, 3]


def test_shuffle_and_filters(hook: Webhook, ctl: SimControl, sim: SimulatorThread) -> None:
    ctl.subscribe_events(
        hook.url,
        shuffle=True,
        batchWindowMs=100,
        includedEventTypes=["Microsoft.Resources.ResourceWriteSuccess"],
        subjectEndsWith="/hybrid-onprem-lng",
    )
    target = rid(sim.info, "localNetworkGateways", "hybrid-onprem-lng")
    for n in range(8):
        ctl.patch_resource(target, {"gatewayIpAddress": f"40.50.60.{70 + n}"})
    ctl.put_resource(rid(sim.info, "localNetworkGateways", "other-lng"), lng_body())
    ctl.delete_resource(rid(sim.info, "localNetworkGateways", "other-lng"))
    wait_for(lambda: len(hook.events()) >= 8)
    # Sentinel: one more write that passes the filters; once it is here, nothing else came.
    ctl.patch_resource(target, {"gatewayIpAddress": "40.50.60.99"})
    events = wait_for(lambda: len(hook.events()) >= 9 and hook.events())
    assert len(events) == 9 and len({e["id"] for e in events}) == 9
    assert {e["subject"] for e in events} == {target}


def test_end_to_end_through_the_local_functions_host(
    ctl: SimControl, sim: SimulatorThread, client: NetworkManagementClient
) -> None:
    from hybridnet_dev.funchost import LocalHost

    ctl.clear_event_subscriptions()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAMPLE_SCHEDULE", "0 0 0 1 1 *")
        with LocalHost("function_app", app_dir=str(ROOT / "tests" / "funchost_sample"), port=0) as host:
            host.module.events.clear()
            endpoint = f"{host.info.base_url}/runtime/webhooks/eventgrid?functionName=on_event&code={host.info.eventgrid_key}"
            for schema in ("EventGridSchema", "CloudEventSchemaV1_0"):
                ctl.subscribe_events(endpoint, schema, **FAST)
            client.local_network_gateways.begin_create_or_update(RG, "hybrid-onprem-lng", lng_body()).result()
            assert wait_for(lambda: len(host.module.events) >= 2)
            received = host.module.events
            types = {
                getattr(e, "event_type", None) or e.type for e in received
            }  # EventGridEvent | CloudEvent
            assert types == {"Microsoft.Resources.ResourceWriteSuccess"}
            assert all(e.get_json()["claims"][OID_CLAIM] == sim.info.principal_id for e in received)
            ctl.clear_event_subscriptions()
    assert all(d["outcome"] == "delivered" for d in ctl.deliveries())
    ctl.clear_deliveries()
