"""The health snapshot in Table Storage: ONE entity per site plus a small index, in one partition.

Table `hybridnetHealth`, partition `sites`:
- RowKey `<site name>`: the site's entry (shared.report.snapshot.site_entry) as JSON in `entry`
  (~1.2 KB; a string property holds 64 KiB), with `observedAt` and `activePath` as plain properties for
  people browsing the table;
- RowKey `~index` (no site name has a `~`): `takenAt`, `source`, `version`, `sites` (the count).
Other partitions: ("refresh", "claim") and ("alert", <site>), the claim rows of shared.services.

Why per site (issue 16): one entity holds at most 1 MiB and 255 properties, so one document for all sites
stops at a few thousand; and a poll at scale checks a slice of the sites, so it rewrites only the entries
that changed. A poll writes its changed entries and the index in entity-group transactions of at most 100
(one request for a poll of up to 99 sites, so a small deployment still costs 1 write per poll), each entry
replaced If-Match the ETag it had; a reader queries the partition once (1,000 rows per page). The writer
keeps what it last wrote (and the ETags) in memory: a steady poll on the same instance reads nothing; when
another instance wrote in between (412 or 409 in a transaction), it re-reads, merges and retries.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.azure.table_names import table

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableServiceClient

HEALTH = "hybridnetHealth"
SITES_PARTITION = "sites"
INDEX_ROW = "~index"
SNAPSHOT_KEY = (SITES_PARTITION, INDEX_ROW)
CLAIM_KEY = ("refresh", "claim")
TRANSACTION_OPS = 100  # Table Storage's limit per entity-group transaction
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class StoredSnapshot:
    document: dict[str, Any] | None
    etag: str | None  # the index row's
    etags: Mapping[str, str] = field(default_factory=dict)  # each site row's, by site name


def health_table(service: TableServiceClient) -> TableClient:
    return table(service, HEALTH)


def site_entity(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "PartitionKey": SITES_PARTITION,
        "RowKey": name,
        "entry": json.dumps(entry, separators=(",", ":"), sort_keys=True),
        "observedAt": str(entry.get("observedAt") or ""),
        "activePath": str(entry.get("activePath") or ""),
    }


def index_entity(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "PartitionKey": SITES_PARTITION,
        "RowKey": INDEX_ROW,
        "version": int(document.get("version") or 1),
        "takenAt": str(document.get("takenAt") or ""),
        "source": str(document.get("source") or ""),
        "sites": len(document.get("sites") or {}),
    }


# Per TableServiceClient, weakly (as shared.azure.table_names caches its clients): a service that is gone
# takes its entries with it, and a new service that happens to reuse its id() never sees them.
_last_written: weakref.WeakKeyDictionary[TableServiceClient, StoredSnapshot] = weakref.WeakKeyDictionary()
_write_lock = threading.Lock()


_last_read: weakref.WeakKeyDictionary[TableServiceClient, StoredSnapshot] = weakref.WeakKeyDictionary()


def read_snapshot(service: TableServiceClient, *, fresh: bool = False) -> StoredSnapshot:
    """The index and every site's entry. Every write replaces the index, so while the index keeps its
    ETag the snapshot this process last read (or wrote) is still current: 1 point read instead of a
    query of every site's row (`fresh`: always query)."""
    from azure.core.exceptions import ResourceNotFoundError

    known = None if fresh else _last_read.get(service)
    if known is not None and known.etag is not None:
        try:
            index_row = health_table(service).get_entity(SITES_PARTITION, INDEX_ROW, select=["RowKey"])
        except ResourceNotFoundError:
            index_row = None
        if index_row is not None and index_row.metadata["etag"] == known.etag:
            return known
    stored = _query_snapshot(service)
    _last_read[service] = stored
    return stored


def _query_snapshot(service: TableServiceClient) -> StoredSnapshot:
    """One partition query: the index and every site's entry."""
    index: Any = None
    sites: dict[str, Any] = {}
    etags: dict[str, str] = {}
    rows = health_table(service).query_entities(
        "PartitionKey eq @partition", parameters={"partition": SITES_PARTITION}
    )
    for row in rows:
        if row["RowKey"] == INDEX_ROW:
            index = row
            continue
        sites[row["RowKey"]] = json.loads(row["entry"])
        etags[row["RowKey"]] = row.metadata["etag"]
    if index is None:
        return StoredSnapshot(None, None, etags)
    document = {
        "version": int(index.get("version") or 1),
        "takenAt": index.get("takenAt") or None,
        "source": index.get("source") or None,
        "sites": sites,
    }
    return StoredSnapshot(document, index.metadata["etag"], etags)


def _operations(current: StoredSnapshot, document: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The transaction operations that take the stored snapshot from `current` to `document`: changed
    entries replaced If-Match their ETag (created when new), dropped ones deleted, the index last."""
    from azure.core import MatchConditions
    from azure.data.tables import UpdateMode

    before = (current.document or {}).get("sites") or {}
    after = document.get("sites") or {}
    operations: list[tuple[Any, ...]] = []
    for name, entry in after.items():
        etag = current.etags.get(name)
        if etag is not None and before.get(name) == entry:
            continue
        entity = site_entity(name, entry)
        if etag is None:
            operations.append(("create", entity))
        else:
            condition = {
                "mode": UpdateMode.REPLACE,
                "etag": etag,
                "match_condition": MatchConditions.IfNotModified,
            }
            operations.append(("update", entity, condition))
    for name, etag in current.etags.items():
        if name not in after:
            key = {"PartitionKey": SITES_PARTITION, "RowKey": name}
            operations.append(
                ("delete", key, {"etag": etag, "match_condition": MatchConditions.IfNotModified})
            )
    operations.append(("upsert", index_entity(document), {"mode": UpdateMode.REPLACE}))
    return operations


def write_snapshot(
    service: TableServiceClient, update: Callable[[dict[str, Any] | None], dict[str, Any]]
) -> dict[str, Any]:
    """Store `update(current)`: only the entries that changed, If-Match their ETags, and the index.
    `current` is this process's last write when it still holds (no read), else a fresh read."""
    from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
    from azure.data.tables import TableTransactionError

    client = health_table(service)
    with _write_lock:  # one writer per process: the poll and a refresh merge one after the other
        current = _last_written.get(service) or read_snapshot(service, fresh=True)
        for _attempt in range(MAX_ATTEMPTS):
            document = update(current.document)
            operations = _operations(current, document)
            etags = dict(current.etags)
            index_etag = current.etag
            try:
                for start in range(0, len(operations), TRANSACTION_OPS):
                    chunk = operations[start : start + TRANSACTION_OPS]
                    results = client.submit_transaction(chunk)
                    for operation, metadata in zip(chunk, results, strict=True):
                        row = operation[1]["RowKey"]
                        if operation[0] == "delete":
                            etags.pop(row, None)
                        elif row == INDEX_ROW:
                            index_etag = metadata.get("etag")
                        else:
                            etags[row] = metadata["etag"]
            except (TableTransactionError, ResourceModifiedError, ResourceExistsError) as exc:
                if getattr(exc, "status_code", None) not in (409, 412):
                    _last_written.pop(service, None)
                    raise
                current = read_snapshot(service, fresh=True)  # another instance wrote: merge into its version
                continue
            except Exception:
                _last_written.pop(service, None)  # outcome unknown: read before the next write
                raise
            _last_written[service] = _last_read[service] = StoredSnapshot(document, index_etag, etags)
            return document
    raise RuntimeError(f"health snapshot: still conflicting after {MAX_ATTEMPTS} attempts")


@dataclass(frozen=True)
class Claim:
    granted: bool
    claimed_at: datetime | None  # the winning claim's time (ours when granted)


def claim_refresh(
    service: TableServiceClient, now: datetime, min_interval: float, *, key: tuple[str, str] = CLAIM_KEY
) -> Claim:
    """Claim the right to run a live check now: granted unless another refresh (any instance) claimed
    within `min_interval` seconds, or claims concurrently and wins the ETag race. 1 read + 1 write.
    `key` names what is claimed (default: the health refresh; the alert checks claim one per site)."""
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
    from azure.data.tables import UpdateMode

    client = health_table(service)
    try:
        current = client.get_entity(*key)
    except ResourceNotFoundError:
        current = None
    if current is not None:
        last = datetime.fromisoformat(current["claimedAt"])
        if (now - last).total_seconds() < min_interval:
            return Claim(False, last)
    entity = {"PartitionKey": key[0], "RowKey": key[1], "claimedAt": now.isoformat()}
    try:
        if current is None:
            client.create_entity(entity)
        else:
            client.update_entity(
                entity,
                mode=UpdateMode.REPLACE,
                etag=current.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
    except (ResourceModifiedError, ResourceExistsError):
        return Claim(False, None)
    return Claim(True, now)
