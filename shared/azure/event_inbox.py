"""Event Grid delivers at least once: remember each event id (first delivery wins), and keep one
pending reconcile per site so that a burst of events becomes one reconcile."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from shared.azure.table_names import EVENTS_SEEN, table

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient

PENDING_PARTITION = "pending-reconcile"
SEEN_RETENTION = timedelta(hours=25)  # Event Grid retries a delivery for up to 24 h
PENDING_TTL = timedelta(minutes=5)  # a lost work item delays events no longer than this


def _row_key(event_id: str) -> str:
    # Event ids are free text: keys may not hold '/', '\\', '#', '?' — a digest always fits.
    if not isinstance(event_id, str) or not event_id.strip():
        # Never a digest of "None" or "": every id-less event would look like a redelivery of the first.
        raise ValueError(f"an event id must be a non-empty string, not {event_id!r}")
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


def forget_delivery(service: TableServiceClient, event_id: str) -> None:
    """Undo first_delivery when the event could not be handled, so its redelivery is."""
    key = _row_key(event_id)
    table(service, EVENTS_SEEN).delete_entity(key[:2], key)


def mark_pending(service: TableServiceClient, site: str, *, stale_after: timedelta = PENDING_TTL) -> bool:
    """True when no reconcile of the site was pending yet (so one should be queued now).

    A marker older than `stale_after` is taken over: its work item was lost or poisoned, and the
    site must not stay deaf to events until the next timer pass."""
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
    from azure.data.tables import UpdateMode

    now = datetime.now(UTC)
    entity = {"PartitionKey": PENDING_PARTITION, "RowKey": site, "since": now.isoformat()}
    events = table(service, EVENTS_SEEN)
    try:
        events.create_entity(entity)
        return True
    except ResourceExistsError:
        pass
    try:
        current = events.get_entity(PENDING_PARTITION, site)
        if datetime.fromisoformat(current["since"]) > now - stale_after:
            return False
        events.update_entity(
            entity,
            mode=UpdateMode.REPLACE,
            etag=current.metadata["etag"],
            match_condition=MatchConditions.IfNotModified,
        )
    except (ResourceNotFoundError, ResourceModifiedError):
        return False  # cleared or taken over meanwhile: someone else queued or is running it
    return True


def clear_pending(service: TableServiceClient, site: str) -> None:
    """Called when a reconcile starts: changes after this point queue a new one."""
    table(service, EVENTS_SEEN).delete_entity(PENDING_PARTITION, site)


def prune_seen(
    service: TableServiceClient, *, older_than: timedelta = SEEN_RETENTION, limit: int = 1000
) -> int:
    """Forget event ids seen before `older_than` ago (Event Grid stops retrying after 24 h), at most
    `limit` per call. Returns how many were deleted."""
    cutoff = (datetime.now(UTC) - older_than).isoformat()
    events = table(service, EVENTS_SEEN)
    rows = events.query_entities(
        "PartitionKey ne @pending and seenAt lt @cutoff",
        parameters={"pending": PENDING_PARTITION, "cutoff": cutoff},
        select=["PartitionKey", "RowKey"],
    )
    deleted = 0
    for row in rows:
        events.delete_entity(row["PartitionKey"], row["RowKey"])
        deleted += 1
        if deleted >= limit:
            break
    return deleted
