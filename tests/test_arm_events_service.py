"""The Event Grid orchestration as a service (shared.services.arm_events), against Azurite: first
delivery wins, a burst becomes one work item, a failed enqueue is undone so the redelivery is handled,
and an event without an id is rejected before anything is recorded."""

from __future__ import annotations

import uuid

import pytest

from shared.azure.event_inbox import clear_pending
from shared.azure.tables import table_service
from shared.drift.events import OBJECT_ID_CLAIM, InvalidEvent
from shared.services.arm_events import handle_arm_event
from shared.settings import Settings
from tests.failover_support import unique_spec
from tests.stack import LNG

WRITE = "Microsoft.Resources.ResourceWriteSuccess"
DATA = {"resourceUri": LNG, "claims": {OBJECT_ID_CLAIM: "5e5e5e5e-6666-7777-8888-999999999999"}}


@pytest.fixture
def setup(azurite, tmp_path):
    spec, site = unique_spec(tmp_path)
    settings = Settings.from_env(
        {"AzureWebJobsStorage": azurite.connection_string, "HYBRIDNET_SPEC_PATH": str(spec)}
    )
    yield settings, site
    clear_pending(table_service(settings), site)


def handle(settings: Settings, event_id: object, enqueue) -> object:
    return handle_arm_event(
        settings, event_id=event_id, event_type=WRITE, subject=LNG, data=DATA, enqueue=enqueue
    )


def test_a_failed_enqueue_is_undone_so_the_redelivery_is_handled(setup):
    settings, site = setup
    event_id = str(uuid.uuid4())

    def broken(site: str, cause: str) -> None:
        raise RuntimeError("queue unavailable")

    with pytest.raises(RuntimeError, match="queue unavailable"):
        handle(settings, event_id, broken)
    queued: list[tuple[str, str]] = []
    outcome = handle(settings, event_id, lambda s, c: queued.append((s, c)))  # Event Grid's retry
    assert outcome.queued and queued == [(site, f"{WRITE} {LNG}")]
    redelivery = handle(settings, event_id, lambda s, c: queued.append((s, c)))
    assert not redelivery.queued and "redelivery" in redelivery.detail
    burst = handle(settings, str(uuid.uuid4()), lambda s, c: queued.append((s, c)))
    assert not burst.queued and "already queued" in burst.detail
    assert len(queued) == 1


def test_an_event_without_an_id_is_rejected_before_anything_is_recorded(setup):
    settings, site = setup
    queued: list[tuple[str, str]] = []
    with pytest.raises(InvalidEvent, match="no id"):
        handle(settings, None, lambda s, c: queued.append((s, c)))
    assert queued == []
    # Nothing was marked pending: the next proper event is queued at once.
    assert handle(settings, str(uuid.uuid4()), lambda s, c: queued.append((s, c))).queued
    assert queued == [(site, f"{WRITE} {LNG}")]


def test_the_inbox_refuses_to_remember_an_id_less_event(setup):
    from shared.azure.event_inbox import first_delivery

    settings, _ = setup
    for event_id in (None, "", "  "):
        with pytest.raises(ValueError, match="non-empty string"):
            first_delivery(table_service(settings), event_id)
