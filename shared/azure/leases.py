"""A lease per (purpose, site) in Table Storage: ETag-guarded so two instances never both hold it, and
expiring so a crashed holder does not block the site for ever."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from shared.azure.table_names import LEASES, table

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient

PARTITION = "lease"


class Lease:
    def __init__(
        self,
        service: TableServiceClient,
        purpose: str,
        site: str,
        holder: str,
        *,
        ttl: timedelta = timedelta(minutes=10),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._table = table(service, LEASES)
        self._key = f"{purpose}:{site}"
        self._holder = holder
        self._ttl = ttl
        self._now = now
        self._etag: str | None = None

    def acquire(self) -> bool:
        """True when this holder now owns the lease (new, expired, or already its own)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        now = self._now()
        entity = {
            "PartitionKey": PARTITION,
            "RowKey": self._key,
            "holder": self._holder,
            "expiresAt": (now + self._ttl).isoformat(),
        }
        try:  # the common case, no lease row: one insert
            self._etag = self._table.create_entity(entity)["etag"]
            return True
        except ResourceExistsError:
            pass
        try:
            current = self._table.get_entity(PARTITION, self._key)
        except ResourceNotFoundError:
            return False  # released between our insert and read: the next run takes it
        expired = datetime.fromisoformat(current["expiresAt"]) <= now
        if not expired and current["holder"] != self._holder:
            return False
        try:
            self._etag = self._table.update_entity(
                entity,
                mode=UpdateMode.REPLACE,
                etag=current.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )["etag"]
            return True
        except (ResourceModifiedError, ResourceNotFoundError):
            return False  # someone took or released it between our read and write

    def release(self) -> None:
        """Give the lease up (only if still ours: a lease taken over after expiry is left alone)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        if self._etag is None:
            return
        try:
            self._table.delete_entity(
                PARTITION, self._key, etag=self._etag, match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            pass
        self._etag = None
