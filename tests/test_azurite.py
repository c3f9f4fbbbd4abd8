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
