"""The simulator's Event Grid custom topic, driven by the real azure-eventgrid publisher client.

azure-eventgrid 4.22.1 builds its basic-topic client without the constructor's keyword arguments
(``EventGridPublisherClient(endpoint, cred, connection_verify=CA)`` still verifies against the system
store, and ``retry_total``/timeouts are ignored too), so the CA goes with each ``send(...)`` call, whose
keyword arguments do reach the transport.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent, EventGridPublisherClient

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorThread


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread(None, empty=True) as running:
        yield running


@pytest.fixture()
def ctl(sim: SimulatorThread) -> Iterator[SimControl]:
    control = SimControl(sim.info.control_url)
    control.clear_faults()
    control.clear_topic_events()
    yield control
    control.clear_faults()


class Publisher:
    """The SDK client with the simulator's CA (and no retries) on every send."""

    def __init__(self, sim: SimulatorThread, endpoint: str | None, key: str | None) -> None:
        self.client = EventGridPublisherClient(
            endpoint or sim.info.topic_endpoint, AzureKeyCredential(key or sim.info.topic_key)
        )
        self.ca_file = sim.info.ca_file

    def send(self, events: Any) -> None:
        self.client.send(events, connection_verify=self.ca_file, retry_total=0)


def publisher(sim: SimulatorThread, endpoint: str | None = None, key: str | None = None) -> Publisher:
    return Publisher(sim, endpoint, key)


def send_to_topic(
    sim: SimulatorThread, body: Any, content_type: str, key: str | None = None
) -> requests.Response:
    return requests.post(
        sim.info.topic_endpoint + "/api/events",
        params={"api-version": "2018-01-01"},
        data=json.dumps(body),
        headers={"aeg-sas-key": key if key is not None else sim.info.topic_key, "Content-Type": content_type},
        verify=sim.info.ca_file,
        timeout=5,
    )


def test_info_exposes_the_topic(sim: SimulatorThread, ctl: SimControl) -> None:
    assert sim.info.topic_endpoint.startswith("https://127.0.0.1:")
    assert sim.info.topic_endpoint.endswith("/eventgrid/topics/hybridnet")
    info = ctl.info()
    assert info["topicEndpoint"] == sim.info.topic_endpoint and info["topicKey"] == sim.info.topic_key
    assert sim.info.topic_key not in json.dumps(ctl.state())


@pytest.mark.parametrize("suffix", ["", "/api/events"])
def test_sdk_publishes_cloud_events(sim: SimulatorThread, ctl: SimControl, suffix: str) -> None:
    events = [
        CloudEvent(
            source="/hybridnet/failover/sites/dub",
            type="Hybridnet.Failover.Failover",
            data={"n": n},
            subject="dub",
        )
        for n in range(3)
    ]
    publisher(sim, sim.info.topic_endpoint + suffix).send(events)
    received = ctl.topic_events()
    assert [e["id"] for e in received] == [e.id for e in events]
    assert received[0]["specversion"] == "1.0"
    assert received[0]["type"] == "Hybridnet.Failover.Failover"
    assert received[0]["data"] == {"n": 0}
    assert ctl.topic_events("other") == []
    publish_calls = [r for r in ctl.requests() if r["path"].startswith("/eventgrid/topics/hybridnet")]
    assert publish_calls and "aeg-sas-key" not in json.dumps(publish_calls)
    ctl.clear_topic_events()
    assert ctl.topic_events() == []


def test_event_grid_schema_events_are_accepted(sim: SimulatorThread, ctl: SimControl) -> None:
    event = EventGridEvent(subject="dub", event_type="Hybridnet.Test", data={"a": 1}, data_version="1.0")
    publisher(sim).send(event)
    assert [e["eventType"] for e in ctl.topic_events()] == ["Hybridnet.Test"]


def test_wrong_key_is_401(sim: SimulatorThread, ctl: SimControl) -> None:
    event = CloudEvent(source="/x", type="T", data={})
    with pytest.raises(ClientAuthenticationError):
        publisher(sim, key="not-the-key").send(event)
    response = send_to_topic(sim, [], "application/cloudevents-batch+json; charset=utf-8", key="")
    assert response.status_code == 401
    assert ctl.topic_events() == []


def test_invalid_cloud_events_are_400(sim: SimulatorThread, ctl: SimControl) -> None:
    good = {"specversion": "1.0", "id": "1", "source": "/x", "type": "T"}
    batch = "application/cloudevents-batch+json; charset=utf-8"
    assert send_to_topic(sim, [good], batch).status_code == 200
    for field in ("specversion", "id", "source", "type"):
        bad = {k: v for k, v in good.items() if k != field}
        response = send_to_topic(sim, [good, bad], batch)
        assert response.status_code == 400, field
        assert field in response.json()["error"]["message"]
    assert (
        send_to_topic(sim, {**good, "specversion": "0.3"}, "application/cloudevents+json").status_code == 400
    )
    assert send_to_topic(sim, good, "application/cloudevents+json").status_code == 200
    assert (
        send_to_topic(sim, [{"id": "x"}], "application/json").status_code == 400
    )  # Event Grid schema, incomplete
    assert send_to_topic(sim, "nope", batch).status_code == 400
    assert len(ctl.topic_events()) == 2


def test_faults_apply_to_the_topic(sim: SimulatorThread, ctl: SimControl) -> None:
    ctl.add_fault("error", method="POST", path="^/eventgrid/topics/", status=503, count=1)
    event = CloudEvent(source="/x", type="T", data={})
    with pytest.raises(HttpResponseError) as err:
        publisher(sim).send(event)
    assert err.value.status_code == 503
    publisher(sim).send(event)
    assert [e["id"] for e in ctl.topic_events()] == [event.id]
