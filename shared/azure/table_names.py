"""The app's tables, and creating each once per process."""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableServiceClient

LEASES = "hybridnetLeases"
RUNS = "hybridnetRuns"
EVENTS_SEEN = "hybridnetEventsSeen"
ROTATION = "hybridnetRotation"
FAILOVER = "hybridnetFailover"

# Per service object (weakly: a service that is gone takes its clients with it, and a new object that
# happens to reuse its id() never gets them).
_clients: weakref.WeakKeyDictionary[TableServiceClient, dict[str, TableClient]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def table(service: TableServiceClient, name: str) -> TableClient:
    """The table's client, the table created on first use; one client per table and service, reused."""
    client = _clients.get(service, {}).get(name)
    if client is None:
        with _lock:
            clients = _clients.setdefault(service, {})
            client = clients.get(name)
            if client is None:
                service.create_table_if_not_exists(name)
                client = clients[name] = service.get_table_client(name)
    return client
