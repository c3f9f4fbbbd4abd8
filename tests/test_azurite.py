"""Table Storage through the app's own client factory, against a real Azurite."""

from shared.azure.tables import table_service
from shared.settings import Settings


def test_tables_reachable_through_the_app_settings(azurite):
    settings = Settings.from_env({"AzureWebJobsStorage": azurite.connection_string})
    service = table_service(settings)
    table = service.create_table_if_not_exists("probe")
    table.upsert_entity({"PartitionKey": "site", "RowKey": "1", "value": 42})
    assert table.get_entity("site", "1")["value"] == 42
    assert "probe" in {t.name for t in service.list_tables()}


def test_queues_and_blobs_listen(azurite):
    import socket

    for port in (azurite.queue_port, azurite.blob_port):
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass


def test_event_ids_are_handled_once_and_pending_markers_expire(azurite):
    from datetime import timedelta

    from shared.azure.event_inbox import clear_pending, first_delivery, mark_pending

    service = table_service(Settings.from_env({"AzureWebJobsStorage": azurite.connection_string}))
    assert first_delivery(service, "evt/with?odd#chars") is True
    assert first_delivery(service, "evt/with?odd#chars") is False
    assert mark_pending(service, "site-a") is True
    assert mark_pending(service, "site-a") is False
    assert mark_pending(service, "site-a", stale_after=timedelta(0)) is True  # a lost work item
    clear_pending(service, "site-a")
    assert mark_pending(service, "site-a") is True
    clear_pending(service, "site-a")


def test_lease_excludes_other_holders_until_released_or_expired(azurite):
    from datetime import UTC, datetime, timedelta

    from shared.azure.leases import Lease

    service = table_service(Settings.from_env({"AzureWebJobsStorage": azurite.connection_string}))
    clock = [datetime(2026, 1, 1, tzinfo=UTC)]
    first = Lease(service, "test", "site-b", "one", ttl=timedelta(seconds=60), now=lambda: clock[0])
    second = Lease(service, "test", "site-b", "two", ttl=timedelta(seconds=60), now=lambda: clock[0])
    assert first.acquire() and not second.acquire()
    clock[0] += timedelta(seconds=61)  # the first holder crashed: its lease expires
    assert second.acquire()
    first.release()  # no longer its lease: must not remove the second holder's
    assert not first.acquire()
    second.release()
    assert first.acquire()
    first.release()


def test_an_event_that_could_not_be_handled_is_handled_on_redelivery(azurite):
    from shared.azure.event_inbox import first_delivery, forget_delivery

    service = table_service(Settings.from_env({"AzureWebJobsStorage": azurite.connection_string}))
    assert first_delivery(service, "evt-undo")
    forget_delivery(service, "evt-undo")  # what arm_event does when queueing failed
    assert first_delivery(service, "evt-undo")


def test_old_event_ids_are_pruned_and_pending_markers_kept(azurite):
    from datetime import timedelta

    from shared.azure.event_inbox import clear_pending, first_delivery, mark_pending, prune_seen

    service = table_service(Settings.from_env({"AzureWebJobsStorage": azurite.connection_string}))
    assert first_delivery(service, "evt-old")
    assert mark_pending(service, "site-prune")
    assert prune_seen(service, older_than=timedelta(seconds=-1)) >= 1
    assert first_delivery(service, "evt-old")  # forgotten
    assert not mark_pending(service, "site-prune")  # the pending marker is not an event id
    clear_pending(service, "site-prune")
