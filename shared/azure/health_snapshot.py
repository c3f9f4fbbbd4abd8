"""The health snapshot in Table Storage: ONE entity for all sites, replaced once per poll.

Table `hybridnetHealth`:
- ("snapshot", "current"): the snapshot document (shared.report.snapshot) as zlib-compressed JSON in
  Edm.Binary chunks `c00`, `c01`, ... of at most 64 KiB each (the per-property limit), at most 15
  chunks (the entity stays under Table Storage's 1 MiB). A site's entry is ~1.2 KB of JSON, ~0.4 KB
  compressed: one entity holds thousands of sites. `takenAt` and `sites` are plain properties too,
  for people browsing the table.
- ("refresh", "claim"): when the last `?refresh=true` live check started (`claimedAt`), replaced
  If-Match its ETag so that across instances only one refresh per minimum interval wins.

Why one entity: connection byte counters change on every poll, so per-site entities would all be
rewritten every poll anyway; one entity makes a poll cost exactly 1 Table write whatever the number of
sites, and a health request exactly 1 read for the snapshot. The writer keeps the last entity it wrote
(and its ETag) in memory and replaces If-Match that ETag: a steady poll on the same instance reads
nothing; when another instance wrote in between (412), it re-reads, merges and retries.
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.azure.table_names import table

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableServiceClient

HEALTH = "hybridnetHealth"
SNAPSHOT_KEY = ("snapshot", "current")
CLAIM_KEY = ("refresh", "claim")
CHUNK_BYTES = 64 * 1024
MAX_CHUNKS = 15
MAX_ATTEMPTS = 5


class SnapshotTooLarge(ValueError):
    """The compressed snapshot does not fit one entity (1 MiB)."""


@dataclass(frozen=True)
class StoredSnapshot:
    document: dict[str, Any] | None
    etag: str | None


def health_table(service: TableServiceClient) -> TableClient:
    return table(service, HEALTH)


def encode(document: dict[str, Any]) -> dict[str, Any]:
    """The entity's properties for a snapshot document."""
    raw = zlib.compress(json.dumps(document, separators=(",", ":"), sort_keys=True).encode(), 6)
    chunks = [raw[i : i + CHUNK_BYTES] for i in range(0, len(raw), CHUNK_BYTES)]
    if len(chunks) > MAX_CHUNKS:
        raise SnapshotTooLarge(
            f"health snapshot of {len(document.get('sites') or {})} site(s) is {len(raw)} bytes compressed; "
            f"one entity holds at most {MAX_CHUNKS * CHUNK_BYTES}"
        )
    entity: dict[str, Any] = {
        "PartitionKey": SNAPSHOT_KEY[0],
        "RowKey": SNAPSHOT_KEY[1],
        "version": int(document.get("version") or 1),
        "takenAt": str(document.get("takenAt") or ""),
        "sites": ",".join(sorted(document.get("sites") or {}))[:30_000],
        "encoding": "zlib+json",
        "chunks": len(chunks),
    }
    entity.update({f"c{i:02d}": chunk for i, chunk in enumerate(chunks)})
    return entity


def decode(entity: dict[str, Any]) -> dict[str, Any]:
    raw = b"".join(bytes(entity[f"c{i:02d}"]) for i in range(int(entity["chunks"])))
    document: dict[str, Any] = json.loads(zlib.decompress(raw))
    return document


_last_written: dict[int, StoredSnapshot] = {}  # per TableServiceClient: what this process last wrote
_write_lock = threading.Lock()


def read_snapshot(service: TableServiceClient) -> StoredSnapshot:
    """One point read."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        entity = health_table(service).get_entity(*SNAPSHOT_KEY)
    except ResourceNotFoundError:
        return StoredSnapshot(None, None)
    return StoredSnapshot(decode(entity), entity.metadata["etag"])


def write_snapshot(
    service: TableServiceClient, update: Callable[[dict[str, Any] | None], dict[str, Any]]
) -> dict[str, Any]:
    """Replace the snapshot with `update(current)`, If-Match the current ETag (create when absent).
    `current` is this process's last write when it still holds (no read), else a fresh read."""
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
    from azure.data.tables import UpdateMode

    client = health_table(service)
    with _write_lock:  # one writer per process: the poll and a refresh merge one after the other
        current = _last_written.get(id(service)) or read_snapshot(service)
        for _attempt in range(MAX_ATTEMPTS):
            document = update(current.document)
            entity = encode(document)
            try:
                if current.etag is None:
                    metadata = client.create_entity(entity)
                else:
                    metadata = client.update_entity(
                        entity,
                        mode=UpdateMode.REPLACE,
                        etag=current.etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
            except (ResourceModifiedError, ResourceExistsError):
                current = read_snapshot(service)  # another instance wrote: merge into its version
                continue
            except Exception:
                _last_written.pop(id(service), None)  # outcome unknown: read before the next write
                raise
            _last_written[id(service)] = StoredSnapshot(document, metadata["etag"])
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
