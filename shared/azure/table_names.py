"""The app's tables, and creating each once per process."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableServiceClient

LEASES = "hybridnetLeases"
RUNS = "hybridnetRuns"
EVENTS_SEEN = "hybridnetEventsSeen"
ROTATION = "hybridnetRotation"
FAILOVER = "hybridnetFailover"

_clients: dict[tuple[int, str], TableClient] = {}
_lock = threading.Lock()


def table(service: TableServiceClient, name: str) -> TableClient:
    """The table's client, the table created on first use; one client per table and service, reused."""
    key = (id(service), name)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                service.create_table_if_not_exists(name)
                client = _clients[key] = service.get_table_client(name)
    return client
