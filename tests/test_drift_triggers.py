"""The drift triggers through the local Functions host: timer -> queue -> worker, and Event Grid
deliveries (deduplicated, coalesced, the app's own writes ignored), with Azurite queues and tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from azure.storage.queue import QueueClient

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.funchost.server import LocalHost
from shared.azure.run_log import latest_runs
from shared.azure.tables import table_service
from shared.drift.events import OBJECT_ID_CLAIM
from shared.settings import Settings
from shared.triggers.drift import RECONCILE_QUEUE
from tests.helpers import post, post_json, wait_for
from tests.stack import LNG, app_host, app_on_simulator, arm_event_webhook

APP_OID = "0a0a0a0a-1111-2222-3333-444444444444"
PERSON_OID = "5e5e5e5e-6666-7777-8888-999999999999"


@pytest.fixture
def host(azurite) -> Iterator[tuple[LocalHost, SimControl, Settings]]:
    with app_on_simulator(storage=azurite.connection_string, HYBRIDNET_DRIFT_MODE="enforce") as app:
        app.env.setenv("HYBRIDNET_APP_PRINCIPAL_IDS", f"{APP_OID},{app.sim.principal_id}")
        # Each test starts with no pending marker and no old runs of its own.
        with app_host() as running:
            yield running, app.control, Settings.from_env()


def _runs(settings: Settings, trigger: str, since: str) -> list[dict]:
    return [
        r
        for r in latest_runs(table_service(settings), "seed", limit=50)
        if r["trigger"] == trigger and r["startedAt"] > since
    ]


def _queued(settings: Settings) -> int:
    """Messages in the reconcile queue, invisible ones (in flight, or waiting for a retry) included."""
    queue = QueueClient.from_connection_string(settings.tables_connection_string or "", RECONCILE_QUEUE)
    return int(queue.get_queue_properties().approximate_message_count or 0)


def _sentinel(host: LocalHost, settings: Settings) -> dict:
    """A reconcile queued by hand after everything else: once its run is recorded and the queue is
    empty, whatever was queued before it has run too. Returns its run."""
    since = _now()
    reply = post(f"{host.info.base_url}/api/reconcile?site=seed", key=host.info.master_key)
    assert reply.status == 202, reply
    (run,) = wait_for(lambda: _runs(settings, "manual", since))
    wait_for(lambda: _queued(settings) == 0, what="an empty reconcile queue")
    return run


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat()


def arm_event(event_id: str, oid: str, subject: str = LNG) -> dict:
    return {
        "id": event_id,
        "topic": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/hybrid-network-rg",
        "subject": subject,
        "eventType": "Microsoft.Resources.ResourceWriteSuccess",
        "eventTime": _now(),
        "dataVersion": "",
        "metadataVersion": "1",
        "data": {
            "resourceUri": subject,
            "operationName": "Microsoft.Network/localNetworkGateways/write",
            "status": "Succeeded",
            "claims": {OBJECT_ID_CLAIM: oid},
            "authorization": {"scope": subject, "action": "Microsoft.Network/localNetworkGateways/write"},
        },
    }


def deliver(host: LocalHost, events: list[dict]) -> int:
    info = host.info
    url = f"{info.base_url}/runtime/webhooks/eventgrid?functionName=arm_event&code={info.eventgrid_key}"
    return post(url, events, headers={"aeg-event-type": "Notification"}).status


def graph_lng_ip(settings: Settings) -> str | None:
    from shared.azure.resource_graph import graph_client, network_query, query_rows

    query = network_query(["hybrid-network-rg"], types=["microsoft.network/localnetworkgateways"])
    rows = query_rows(graph_client(settings), subscription=settings.require_subscription(), query=query)
    return rows[0]["properties"].get("gatewayIpAddress") if rows else None


def test_timer_queues_each_site_and_the_worker_reconciles_it(host):
    running, control, settings = host
    since = _now()
    control._call("PUT", "/_sim/resourcegraph", {"lagSeconds": 1})
    control.patch_resource(LNG, {"gatewayIpAddress": "40.50.60.99"})
    # The timer pass observes through Resource Graph, which lags ARM: fire once Graph shows the change.
    wait_for(lambda: graph_lng_ip(settings) == "40.50.60.99", what="Resource Graph to show the change")
    url = f"{running.info.base_url}/admin/functions/reconcile_timer"
    assert post(url, {"input": ""}, key=running.info.master_key).status == 202
    (run,) = wait_for(lambda: _runs(settings, "timer", since))
    assert run["outcome"] == "fixed"
    assert control.state() is not None


def test_event_burst_with_redeliveries_becomes_one_reconcile(host):
    running, control, settings = host
    since = _now()
    control.patch_resource(LNG, {"localNetworkAddressSpace": {"addressPrefixes": ["10.10.0.0/17"]}})
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    # Event Grid: at least once, in batches, one write may raise two events.
    assert deliver(running, [arm_event(first, PERSON_OID), arm_event(first, PERSON_OID)]) == 202
    assert deliver(running, [arm_event(second, PERSON_OID), arm_event(first, PERSON_OID)]) == 202
    (run,) = wait_for(lambda: _runs(settings, "event", since))
    assert run["outcome"] == "fixed"
    assert _sentinel(running, settings)["outcome"] == "in-sync"
    assert len(_runs(settings, "event", since)) == 1


def test_events_caused_by_the_app_itself_trigger_nothing(host):
    running, control, settings = host
    since = _now()
    control.patch_resource(LNG, {"gatewayIpAddress": "40.50.60.98"})
    assert deliver(running, [arm_event(str(uuid.uuid4()), APP_OID)]) == 202
    # The sentinel's run still finds the drift: the app's own event fixed nothing and queued nothing.
    assert _sentinel(running, settings)["outcome"] == "fixed"
    assert _runs(settings, "event", since) == []
    writes = [r for r in control.requests() if r["method"] != "GET"]
    assert len(writes) == 1 and writes[0]["path"].endswith("localNetworkGateways/hybrid-onprem-lng")


def test_the_simulator_delivers_events_and_the_apps_own_writes_cause_no_loop(host):
    running, control, settings = host
    since = _now()
    control.subscribe_events(
        arm_event_webhook(running.info),
        duplicate=True,  # at least once: every batch arrives twice
    )
    control.clear_requests()
    control.patch_resource(LNG, {"gatewayIpAddress": "40.50.60.97"})  # a person, in the portal
    (run,) = wait_for(lambda: _runs(settings, "event", since))
    assert run["outcome"] == "fixed"
    # The app's own PUT raised an event too; it is delivered, and ignored.
    app_oid = control.info()["principalId"]

    def own_write_delivered() -> list[dict]:
        return [
            d
            for d in control.deliveries()
            if d["outcome"] == "delivered" and d["event"]["data"]["claims"].get(OBJECT_ID_CLAIM) == app_oid
        ]

    assert len(wait_for(own_write_delivered)) >= 2  # delivered twice (duplicate), handled zero times
    assert _sentinel(running, settings)["outcome"] == "in-sync"
    assert len(_runs(settings, "event", since)) == 1
    puts = [r for r in control.requests() if r["method"] == "PUT"]
    assert len(puts) == 1 and puts[0]["path"].endswith("localNetworkGateways/hybrid-onprem-lng")


def test_cloudevents_schema_deliveries_queue_the_site_too(host):
    running, control, settings = host
    since = _now()
    control.subscribe_events(
        arm_event_webhook(running.info),
        schema="CloudEventSchemaV1_0",
    )
    control.patch_resource(LNG, {"gatewayIpAddress": "40.50.60.96"})
    (run,) = wait_for(lambda: _runs(settings, "event", since))
    assert run["outcome"] == "fixed"


def test_reconcile_now_over_http(host):
    running, control, settings = host
    info = running.info

    def reconcile_now(query: str, key: str) -> tuple[int, dict]:
        return post_json(f"{info.base_url}/api/reconcile?{query}", key=key)

    assert reconcile_now("site=seed", info.function_key)[0] == 401
    assert reconcile_now("", info.master_key)[0] == 400
    assert reconcile_now("site=seed&dryRun=perhaps", info.master_key)[0] == 400
    assert reconcile_now("site=seed&verbose=1", info.master_key)[0] == 400
    status, body = reconcile_now("site=atlantis", info.master_key)
    assert status == 404 and body["error"]["known"] == ["seed"]
    control.patch_resource(LNG, {"gatewayIpAddress": "40.50.60.95"})
    status, body = reconcile_now("site=seed&dryRun=true", info.master_key)
    assert status == 200 and body["outcome"] == "drift-reported" and body["mode"] == "report"
    since = _now()
    status, body = reconcile_now("site=seed", info.master_key)  # enforce mode: queued, applied by the worker
    assert status == 202 and body == {"queued": "seed", "mode": "enforce"}
    (run,) = wait_for(lambda: _runs(settings, "manual", since))
    assert run["outcome"] == "fixed"
