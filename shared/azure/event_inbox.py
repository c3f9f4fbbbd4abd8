"""Event Grid delivers at least once: remember each event id (first delivery wins), and keep one
pending reconcile per site so that a burst of events becomes one reconcile."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.azure.table_names import EVENTS_SEEN, table

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient

PENDING_PARTITION = "pending-reconcile"


def _row_key(event_id: str) -> str:
    # Event ids are free text: keys may not hold '/', '\\', '#', '?' — a digest always fits.
    return hashlib.sha256(event_id.encode()).hexdigest()


def first_delivery(service: TableServiceClient, event_id: str) -> bool:
    """True the first time an event id is seen, False on every redelivery (atomic: insert or 409)."""
    from azure.core.exceptions import ResourceExistsError

    key = _row_key(event_id)
    try:
        table(service, EVENTS_SEEN).create_entity(
            {"PartitionKey": key[:2], "RowKey": key, "seenAt": datetime.now(UTC).isoformat()}
        )
    except ResourceExistsError:
        return False
    return True


def mark_pending(service: TableServiceClient, site: str) -> bool:
    """True when no reconcile of the site was pending yet (so one should be queued now)."""
    from azure.core.exceptions import ResourceExistsError

    try:
        table(service, EVENTS_SEEN).create_entity(
            {"PartitionKey": PENDING_PARTITION, "RowKey": site, "since": datetime.now(UTC).isoformat()}
        )
    except ResourceExistsError:
        return False
    return True


def clear_pending(service: TableServiceClient, site: str) -> None:
    """Called when a reconcile starts: changes after this point queue a new one."""
    table(service, EVENTS_SEEN).delete_entity(PENDING_PARTITION, site)
