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

_created: set[tuple[int, str]] = set()
_lock = threading.Lock()


def table(service: TableServiceClient, name: str) -> TableClient:
    key = (id(service), name)
    if key not in _created:
        with _lock:
            if key not in _created:
                service.create_table_if_not_exists(name)
                _created.add(key)
    return service.get_table_client(name)
