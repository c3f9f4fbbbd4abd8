"""The local Functions host over real loopback HTTP, against tests/funchost_sample."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from hybridnet_dev.funchost import FunctionHostError, LocalHost
from tests.helpers import call, funchost_process, wait_for

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = str(REPO / "tests" / "funchost_sample")
FUNCTION_KEY = "fn-key-for-tests"
MASTER_KEY = "master-key-for-tests"
EVENTGRID_KEY = "eg-key-for-tests"


@pytest.fixture(scope="module")
def host() -> Iterator[LocalHost]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAMPLE_SCHEDULE", "* * * * * *")
        mp.setenv("SAMPLE_GREETING", "hello")
        with LocalHost(
            "function_app",
            app_dir=SAMPLE_DIR,
            port=0,
            function_key=FUNCTION_KEY,
            master_key=MASTER_KEY,
            eventgrid_key=EVENTGRID_KEY,
        ) as running:
            yield running


@pytest.fixture()
def sample(host: LocalHost) -> Any:
    module = host.module
    module.events.clear()
    module.invocations.clear()
    return module


def url(host: LocalHost, path: str) -> str:
    return f"{host.info.base_url}{path}"


# --- app loading and HTTP ------------------------------------------------------------------------


def test_info_and_loading_by_path_without_clashing(host: LocalHost) -> None:
    info = host.info
    assert info.base_url.startswith("http://127.0.0.1:") and info.port > 0
    assert (info.function_key, info.master_key, info.eventgrid_key) == (
        FUNCTION_KEY,
        MASTER_KEY,
        EVENTGRID_KEY,
    )
    assert set(info.functions) == {
        "hello",
        "site",
        "admin_only",
        "slow_async",
        "boom",
        "tick",
        "on_event",
        "from_blueprint",
    }
    assert host.module.__name__ != "function_app"
    assert SAMPLE_DIR not in sys.path  # nothing else to import there: `import function_app` stays unaffected
    assert Path(host.module.__file__).resolve() == Path(SAMPLE_DIR, "function_app.py").resolve()
    assert set(info.to_json()) == {"baseUrl", "functionKey", "masterKey", "eventGridKey", "functions"}


def test_route_prefix_from_host_json_and_request_shape(host: LocalHost, sample: Any) -> None:
    status, headers, body = call(
        "POST", url(host, "/sample/hello?x=1&y=2"), headers={"x-sample": "h"}, body=b"payload"
    )
    assert status == 200
    assert headers["content-type"].startswith("application/json")
    assert headers["x-reply"] == "yes"
    seen = json.loads(body)
    assert seen["method"] == "POST"
    assert seen["params"] == {"x": "1", "y": "2"}
    assert seen["url"].endswith("/sample/hello?x=1&y=2")
    assert seen["body"] == "payload"
    assert seen["header"] == "h"
    assert seen["greeting"] == "hello"
    assert seen["thread"].startswith("funchost-fn")  # sync functions run in the thread pool
    assert call("GET", url(host, "/api/hello"))[0] == 404
    assert call("GET", url(host, "/sample/HELLO"))[0] == 200  # literals match case-insensitively


def test_function_level_keys(host: LocalHost, sample: Any) -> None:
    target = url(host, "/sample/sites/s1/items/7")
    assert call("GET", target)[0] == 401
    assert call("GET", target, headers={"x-functions-key": "wrong"})[0] == 401
    assert call("GET", target + "?code=wrong")[0] == 401
    assert call("GET", target, headers={"x-functions-key": FUNCTION_KEY})[0] == 201
    assert call("GET", target + f"?code={FUNCTION_KEY}")[0] == 201
    assert call("GET", target, headers={"x-functions-key": MASTER_KEY})[0] == 201
    assert call("GET", target, headers={"x-functions-key": EVENTGRID_KEY})[0] == 401


def test_route_params_methods_and_outputs(host: LocalHost, sample: Any) -> None:
    key = {"x-functions-key": FUNCTION_KEY}
    status, _, body = call("PUT", url(host, "/sample/sites/s1/items/7"), headers=key)
    assert status == 201 and json.loads(body) == {"site": "s1", "item": "7"}
    status, _, body = call("GET", url(host, "/sample/sites/s2/items"), headers=key)
    assert status == 201 and json.loads(body) == {"site": "s2"}
    assert call("GET", url(host, "/sample/sites/s1/items/abc"), headers=key)[0] == 404  # {item:int?}
    assert call("DELETE", url(host, "/sample/sites/s1/items/7"), headers=key)[0] == 404  # method not allowed
    assert call("GET", url(host, "/sample/nothing-here"))[0] == 404
    outputs = [o for o in host.outputs if o.function == "site"]
    assert outputs and outputs[-1].binding == "msg" and outputs[-1].binding_type == "queue"
    assert json.loads(outputs[-1].value) == {"site": "s2"}


def test_admin_level_needs_master_key(host: LocalHost, sample: Any) -> None:
    target = url(host, "/sample/admin-only")
    assert call("POST", target)[0] == 401
    assert call("POST", target, headers={"x-functions-key": FUNCTION_KEY})[0] == 401
    status, headers, body = call("POST", target, headers={"x-functions-key": MASTER_KEY})
    assert (status, body) == (200, b"admin ok")
    assert headers["content-type"].startswith("text/plain")


def test_async_function_runs_on_the_loop(host: LocalHost, sample: Any) -> None:
    status, headers, body = call("GET", url(host, "/sample/slow-async"))
    assert (status, body) == (200, b"async ok")
    assert headers["x-thread"] == "funchost"


def test_blueprint_function_with_optional_param(host: LocalHost, sample: Any) -> None:
    assert call("GET", url(host, "/sample/bp/ann"))[2] == b"bp ann"
    assert call("GET", url(host, "/sample/bp"))[2] == b"bp nobody"
    assert call("POST", url(host, "/sample/bp/ann"))[0] == 404


def test_failing_http_function_is_500(host: LocalHost, sample: Any) -> None:
    assert call("GET", url(host, "/sample/boom"))[0] == 500


def test_concurrent_requests(host: LocalHost, sample: Any) -> None:
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(call("GET", url(host, "/sample/slow-async"))[0]))
        for _ in range(10)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 10


# --- timers and the admin API --------------------------------------------------------------------


def test_timer_fires_on_schedule(host: LocalHost, sample: Any) -> None:
    start = len(sample.timer_calls)
    assert wait_for(lambda: len(sample.timer_calls) > start, timeout=2.5)
    request = sample.timer_calls[-1]
    assert isinstance(request, func.TimerRequest)
    assert isinstance(request.past_due, bool)
    assert request.schedule_status["Next"]


def test_admin_endpoint_fires_timer(host: LocalHost, sample: Any) -> None:
    target = url(host, "/admin/functions/tick")
    body = json.dumps({"input": ""}).encode()
    assert call("POST", target, body=body)[0] == 401
    assert call("POST", target, body=body, headers={"x-functions-key": FUNCTION_KEY})[0] == 401

    def manual_calls() -> int:
        return sum(1 for r in list(sample.timer_calls) if r.schedule_status.get("Next") is None)

    before = manual_calls()
    status, _, _ = call(
        "POST", target, body=body, headers={"x-functions-key": MASTER_KEY, "Content-Type": "application/json"}
    )
    assert status == 202
    assert wait_for(lambda: manual_calls() == before + 1)
    master = {"x-functions-key": MASTER_KEY}
    assert call("POST", url(host, "/admin/functions/nope"), body=body, headers=master)[0] == 404
    assert call("POST", url(host, "/admin/functions/hello"), body=body, headers=master)[0] == 400


def test_missing_schedule_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAMPLE_SCHEDULE", raising=False)
    with pytest.raises(FunctionHostError, match="SAMPLE_SCHEDULE"):
        LocalHost("function_app", app_dir=SAMPLE_DIR, port=0).start()


# --- Event Grid ----------------------------------------------------------------------------------


def eventgrid(
    host: LocalHost,
    payload: Any,
    *,
    event_type: str | None = "Notification",
    key: str | None = EVENTGRID_KEY,
    function: str = "on_event",
    content_type: str = "application/json",
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    query = f"?functionName={function}" + (f"&code={key}" if key is not None else "")
    all_headers = {"Content-Type": content_type, **(headers or {})}
    if event_type:
        all_headers["aeg-event-type"] = event_type
    body = None if payload is None else json.dumps(payload).encode()
    return call(method, url(host, "/runtime/webhooks/eventgrid" + query), headers=all_headers, body=body)


def eg_event(n: int, **data: Any) -> dict[str, Any]:
    return {
        "id": f"evt-{n}",
        "topic": "/subscriptions/s/resourceGroups/rg",
        "subject": f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/connections/c{n}",
        "eventType": "Microsoft.Resources.ResourceWriteSuccess",
        "eventTime": "2024-05-01T10:00:00.1234567Z",
        "data": {"n": n, **data},
        "dataVersion": "2",
        "metadataVersion": "1",
    }


def test_eventgrid_subscription_validation(host: LocalHost, sample: Any) -> None:
    payload = [
        {
            "id": "v1",
            "topic": "/subscriptions/s",
            "subject": "",
            "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6", "validationUrl": "https://x"},
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": "2024-05-01T10:00:00Z",
            "metadataVersion": "1",
            "dataVersion": "1",
        }
    ]
    status, _, body = eventgrid(host, payload, event_type="SubscriptionValidation")
    assert status == 200
    assert json.loads(body) == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    assert sample.events == []


def test_eventgrid_notification_batch(host: LocalHost, sample: Any) -> None:
    status, _, _ = eventgrid(host, [eg_event(1), eg_event(2)])
    assert status == 202
    got = sorted(sample.events, key=lambda e: e.id)
    assert [e.id for e in got] == ["evt-1", "evt-2"]
    assert all(isinstance(e, func.EventGridEvent) for e in got)
    assert got[0].subject.endswith("/connections/c1")
    assert got[1].get_json() == {"n": 2}
    assert got[0].event_type == "Microsoft.Resources.ResourceWriteSuccess"
    assert got[0].topic == "/subscriptions/s/resourceGroups/rg"
    assert got[0].event_time is not None and got[0].event_time.year == 2024


def test_eventgrid_keys(host: LocalHost, sample: Any) -> None:
    assert eventgrid(host, [eg_event(1)], key=None)[0] == 401
    assert eventgrid(host, [eg_event(1)], key="wrong")[0] == 401
    assert eventgrid(host, [eg_event(1)], key=FUNCTION_KEY)[0] == 401
    assert sample.events == []
    assert eventgrid(host, [eg_event(1)], key=MASTER_KEY)[0] == 202
    assert len(sample.events) == 1


def test_eventgrid_unknown_or_wrong_function(host: LocalHost, sample: Any) -> None:
    status, _, body = eventgrid(host, [eg_event(1)], function="nope")
    assert status == 404 and b"cannot find function: 'nope'" in body
    assert eventgrid(host, [eg_event(1)], function="hello")[0] == 404  # not an eventGridTrigger
    assert eventgrid(host, [eg_event(1)], event_type="Bogus")[0] == 400


def test_eventgrid_failure_is_500(host: LocalHost, sample: Any) -> None:
    status, _, body = eventgrid(host, [eg_event(1), eg_event(2, fail=True)])
    assert status == 500
    assert b"Functions.on_event" in body and b"asked to fail" not in body
    assert [e.id for e in sample.events] == ["evt-1"]


def cloud_event(n: int) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"ce-{n}",
        "source": "/subscriptions/s/resourceGroups/rg",
        "subject": f"connections/c{n}",
        "type": "Microsoft.Resources.ResourceWriteSuccess",
        "time": "2024-05-01T10:00:00Z",
        "datacontenttype": "application/json",
        "data": {"n": n},
    }


def test_cloudevents_handshake(host: LocalHost, sample: Any) -> None:
    origin = {"WebHook-Request-Origin": "eventgrid.azure.net"}
    status, headers, _ = eventgrid(host, None, event_type=None, method="OPTIONS", headers=origin)
    assert status == 200
    assert headers["webhook-allowed-origin"] == "eventgrid.azure.net"
    assert headers["webhook-allowed-rate"] == "*"
    assert eventgrid(host, None, event_type=None, method="OPTIONS", headers=origin, key=None)[0] == 401


def test_cloudevents_batch_and_single(host: LocalHost, sample: Any) -> None:
    batch_type = "application/cloudevents-batch+json"
    assert eventgrid(host, [cloud_event(1), cloud_event(2)], content_type=batch_type)[0] == 202
    assert eventgrid(host, cloud_event(3), content_type="application/cloudevents+json")[0] == 202
    assert eventgrid(host, [cloud_event(4)], event_type=None)[0] == 202  # array of objects with specversion
    got = sorted(sample.events, key=lambda e: e.id)
    assert [e.id for e in got] == ["ce-1", "ce-2", "ce-3", "ce-4"]
    # The library's converter (as the worker uses it) presents CloudEvents as func.CloudEvent.
    first = got[0]
    assert isinstance(first, func.CloudEvent)
    assert first.subject == "connections/c1" and first.get_json() == {"n": 1}
    assert first.type == "Microsoft.Resources.ResourceWriteSuccess"
    assert first.source == "/subscriptions/s/resourceGroups/rg"
    assert first.time is not None


def test_manual_eventgrid_invocation_through_admin_api(host: LocalHost, sample: Any) -> None:
    body = json.dumps({"input": json.dumps(eg_event(9))}).encode()
    status = call(
        "POST", url(host, "/admin/functions/on_event"), body=body, headers={"x-functions-key": MASTER_KEY}
    )[0]
    assert status == 202
    assert wait_for(lambda: [e.id for e in sample.events] == ["evt-9"])


# --- the command line ----------------------------------------------------------------------------


def test_cli_prints_one_json_line_and_stops_on_sigterm() -> None:
    sample = {"SAMPLE_SCHEDULE": "* * * * * *"}
    with funchost_process(app_dir="tests/funchost_sample", cwd=REPO, env=sample) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        info = json.loads(line)
        assert set(info) == {"baseUrl", "functionKey", "masterKey", "eventGridKey", "functions"}
        assert info["baseUrl"].startswith("http://127.0.0.1:")
        assert "hello" in info["functions"] and "from_blueprint" in info["functions"]
        status, _, _ = call("GET", f"{info['baseUrl']}/sample/sites/x/items?code={info['functionKey']}")
        assert status == 201
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert out == ""  # exactly one line on stdout
        assert "GET /sample/sites/x/items 201" in err  # access log on stderr, query (key) never logged
        assert info["functionKey"] not in err
