"""Storage queue triggers and queue output bindings of the local Functions host, against a real Azurite.
The sample registers its queue functions only when SAMPLE_QUEUES is set, so the sample is loaded afresh
here (and forgotten afterwards: tests/test_funchost.py sees the app without them)."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

from hybridnet_dev.azurite import Azurite
from hybridnet_dev.funchost import FunctionHostError, LocalHost
from hybridnet_dev.funchost.loader import forget_app
from hybridnet_dev.funchost.storage_queues import (
    DEV_CONNECTION_STRING,
    LOCAL_MAX_POLLING_INTERVAL,
    QueueOptions,
    decode_message,
    output_messages,
    resolve_connection,
)
from tests.helpers import post, wait_for

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = str(REPO / "tests" / "funchost_sample")
MASTER_KEY = "master-key-for-queue-tests"
WORK_QUEUE = "work-items"
OUT_QUEUE = "sample-sites"


def sdk_queue(azurite: Azurite, name: str) -> QueueClient:
    queue = QueueClient.from_connection_string(azurite.connection_string, name)
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    return queue


def raw_texts(queue: QueueClient) -> list[str]:
    """Receive (and delete) every visible message's raw text."""
    texts = []
    for message in queue.receive_messages(messages_per_page=32, visibility_timeout=5):
        texts.append(message.content)
        queue.delete_message(message)
    return texts


def queue_count(queue: QueueClient) -> int:
    try:
        return int(queue.get_queue_properties().approximate_message_count or 0)
    except Exception:
        return 0


@pytest.fixture(scope="module")
def qhost(azurite: Azurite) -> Iterator[LocalHost]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAMPLE_QUEUES", "1")
        mp.setenv("SAMPLE_SCHEDULE", "0 0 0 1 1 *")
        mp.setenv("AzureWebJobsStorage", azurite.connection_string)
        mp.setenv("SAMPLE_WORK_QUEUE", WORK_QUEUE)
        mp.setenv("SAMPLE_OUT_QUEUE", OUT_QUEUE)
        forget_app("function_app", SAMPLE_DIR)
        try:
            with LocalHost("function_app", app_dir=SAMPLE_DIR, port=0, master_key=MASTER_KEY) as running:
                yield running
        finally:
            forget_app("function_app", SAMPLE_DIR)


def records(host: LocalHost, prefix: str) -> list[dict[str, Any]]:
    return [r for r in list(host.module.queue_messages) if str(r["body"]).startswith(prefix)]


# --- pure pieces ---------------------------------------------------------------------------------


def test_options_defaults_and_overrides() -> None:
    opts = QueueOptions.from_host_json({}, environ={})
    assert opts == QueueOptions()
    assert (opts.batch_size, opts.new_batch_threshold, opts.max_dequeue_count) == (16, 8, 5)
    assert opts.visibility_timeout == dt.timedelta(0) and opts.message_encoding == "base64"
    assert opts.max_polling_interval == LOCAL_MAX_POLLING_INTERVAL == dt.timedelta(seconds=2)
    host_json = {"extensions": {"queues": {"maxPollingInterval": "00:01:00", "batchSize": 4}}}
    env = {"AzureFunctionsJobHost__extensions__queues__messageEncoding": "none"}
    opts = QueueOptions.from_host_json(host_json, environ=env)
    assert opts.max_polling_interval == dt.timedelta(minutes=1)
    assert (opts.batch_size, opts.new_batch_threshold, opts.message_encoding) == (4, 2, "none")
    with pytest.raises(FunctionHostError, match="batchSize"):
        QueueOptions.from_host_json({"extensions": {"queues": {"batchSize": 64}}}, environ={})


def test_connection_and_encoding_helpers() -> None:
    assert resolve_connection("Conn", what="x", environ={"Conn": "UseDevelopmentStorage=true"}) == (
        DEV_CONNECTION_STRING
    )
    assert resolve_connection("Conn", what="x", environ={"AzureWebJobsConn": "AccountName=a;AccountKey=k"})
    with pytest.raises(FunctionHostError, match="'Missing' does not exist"):
        resolve_connection("Missing", what="x", environ={})
    assert output_messages(["a", "b"]) == ["a", "b"] and output_messages("one") == ["one"]
    assert decode_message(base64.b64encode("héllo".encode()).decode(), "base64") == "héllo"
    assert decode_message("plain text", "none") == "plain text"


# --- against Azurite -----------------------------------------------------------------------------


def test_http_output_binding_enqueues_base64_messages(qhost: LocalHost, azurite: Azurite) -> None:
    queue = sdk_queue(azurite, OUT_QUEUE)
    tag = uuid.uuid4().hex[:8]
    sites = [f"{tag}-site-{i}" for i in range(3)]
    assert post(f"{qhost.info.base_url}/sample/enqueue", {"sites": sites}).status == 202
    texts = raw_texts(queue)  # the host created the queue and sent before answering
    assert [base64.b64decode(t).decode() for t in texts] == sites


def test_failed_function_sends_nothing(qhost: LocalHost, azurite: Azurite) -> None:
    queue = sdk_queue(azurite, OUT_QUEUE)
    raw_texts(queue)
    assert post(f"{qhost.info.base_url}/sample/enqueue", {"sites": ["x"], "fail": True}).status == 500
    assert raw_texts(queue) == []


def test_timer_output_feeds_queue_trigger_and_messages_are_deleted(
    qhost: LocalHost, azurite: Azurite
) -> None:
    tag = uuid.uuid4().hex[:8]
    qhost.module.timer_sites[:] = [f"{tag}-a", f"{tag}-b", f"{tag}-c", f"{tag}-d"]
    status = post(
        f"{qhost.info.base_url}/admin/functions/enqueue_timer", {"input": ""}, key=MASTER_KEY
    ).status
    assert status == 202
    assert wait_for(lambda: len(records(qhost, tag)) == 4)
    seen = records(qhost, tag)
    assert sorted(r["body"] for r in seen) == sorted(qhost.module.timer_sites)
    assert all(r["dequeue_count"] == 1 and r["id"] and r["pop_receipt"] for r in seen)
    assert len({r["id"] for r in seen}) == 4
    assert all(isinstance(r["insertion_time"], dt.datetime) for r in seen)
    assert all(r["expiration_time"] > r["insertion_time"] for r in seen)
    assert all(str(r["thread"]).startswith("funchost-fn") for r in seen)  # sync: in the thread pool
    assert wait_for(lambda: queue_count(sdk_queue(azurite, WORK_QUEUE)) == 0)


def test_failures_are_retried_then_poisoned(qhost: LocalHost, azurite: Azurite) -> None:
    queue = sdk_queue(azurite, WORK_QUEUE)
    poison = sdk_queue(azurite, f"{WORK_QUEUE}-poison")
    tag = uuid.uuid4().hex[:8]
    always, once = f"fail-always-{tag}", f"fail-once-{tag}"
    queue.send_message(base64.b64encode(always.encode()).decode())
    queue.send_message(base64.b64encode(once.encode()).decode())
    # maxDequeueCount 2 in the sample's host.json: two attempts, then the poison queue.
    assert wait_for(lambda: [r["dequeue_count"] for r in records(qhost, always)] == [1, 2])
    assert wait_for(lambda: [r["dequeue_count"] for r in records(qhost, once)] == [1, 2])
    assert len({r["id"] for r in records(qhost, always)}) == 1
    texts: list[str] = []
    assert wait_for(lambda: bool(texts.extend(raw_texts(poison)) or texts))
    assert texts == [base64.b64encode(always.encode()).decode()]  # the same message text
    assert wait_for(lambda: queue_count(queue) == 0)
    # Sentinel: a later message that must be processed; by then no third attempt of either came.
    sentinel = f"ok-sentinel-{tag}"
    queue.send_message(base64.b64encode(sentinel.encode()).decode())
    assert wait_for(lambda: records(qhost, sentinel))
    assert len(records(qhost, always)) == 2 and len(records(qhost, once)) == 2


def test_non_base64_message_is_poisoned_without_invoking(qhost: LocalHost, azurite: Azurite) -> None:
    queue = sdk_queue(azurite, WORK_QUEUE)
    poison = sdk_queue(azurite, f"{WORK_QUEUE}-poison")
    raw = f"not base64 {uuid.uuid4().hex[:8]}!"
    queue.send_message(raw)
    texts: list[str] = []
    assert wait_for(lambda: bool(texts.extend(raw_texts(poison)) or texts))
    assert texts == [raw]
    assert records(qhost, "not base64") == []


def test_admin_api_invokes_queue_function_directly(qhost: LocalHost, azurite: Azurite) -> None:
    tag = f"admin-{uuid.uuid4().hex[:8]}"
    status = post(f"{qhost.info.base_url}/admin/functions/work", {"input": tag}, key=MASTER_KEY).status
    assert status == 202
    assert wait_for(lambda: len(records(qhost, tag)) == 1)
    record = records(qhost, tag)[0]
    assert record["id"] is None and record["dequeue_count"] == 0 and record["pop_receipt"] is None


def test_message_encoding_none_delivers_raw_messages(
    qhost: LocalHost, azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AzureFunctionsJobHost__extensions__queues__messageEncoding", "none")
    monkeypatch.setenv("SAMPLE_WORK_QUEUE", "raw-items")
    monkeypatch.setenv("SAMPLE_OUT_QUEUE", "raw-sites")
    tag = f"raw {uuid.uuid4().hex[:8]}"
    queue = sdk_queue(azurite, "raw-items")
    with LocalHost("function_app", app_dir=SAMPLE_DIR, port=0) as second:
        queue.send_message(f"{tag} <not base64>")
        assert wait_for(lambda: len(records(second, tag)) == 1)
        assert records(second, tag)[0]["body"] == f"{tag} <not base64>"
        assert post(f"{second.info.base_url}/sample/enqueue", {"sites": ["s1"]}).status == 202
        assert raw_texts(sdk_queue(azurite, "raw-sites")) == ["s1"]  # sent as is
        started = time.monotonic()
    assert time.monotonic() - started < 5  # clean stop: pollers cancelled promptly


def test_missing_connection_setting_is_a_clear_startup_error(
    qhost: LocalHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AzureWebJobsStorage")
    with pytest.raises(FunctionHostError, match="'AzureWebJobsStorage' does not exist"):
        LocalHost("function_app", app_dir=SAMPLE_DIR, port=0).start()
