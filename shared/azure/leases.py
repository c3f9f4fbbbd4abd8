"""A lease per (purpose, site) in Table Storage: ETag-guarded so two instances never both hold it, short
so that a crashed holder (or one whose release failed) blocks the site for seconds, not half an hour,
and renewed in the background for as long as its holder works.

Lifecycle: `acquire()` takes the lease and starts a renewal thread (every `renew_every`, default a third
of the ttl); `ensure_held()` is called before each write: it renews at once and raises LeaseLost when
the lease is no longer ours (someone took it over after it expired) or cannot be confirmed for long
enough; `release()` stops the renewal and deletes the lease, retrying a failed delete (bounded) and
logging, never raising: a lease it cannot delete expires on its own within one ttl."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from shared.azure.table_names import LEASES, table

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableServiceClient

log = logging.getLogger(__name__)

PARTITION = "lease"
DEFAULT_TTL = timedelta(seconds=90)
RELEASE_DELAYS = (0.5, 1.0, 2.0)  # seconds between the attempts to delete the lease (4 attempts)
# Per Table call: a lease operation that hangs must not hold the pass (or its release) for minutes.
CALL_TIMEOUTS: dict[str, float] = {"connection_timeout": 5.0, "read_timeout": 5.0}


class LeaseLost(RuntimeError):
    """The lease is no longer ours, or could not be renewed for long enough: stop before the next write."""


def transient(exc: Exception) -> bool:
    """A Table Storage failure worth retrying: unreachable, no answer, throttled or a server error."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return True
    status = getattr(exc, "status_code", None) if isinstance(exc, HttpResponseError) else None
    return status is not None and (status == 429 or status >= 500)


def describe(exc: Exception) -> str:
    """A short, secret-free description of a Table Storage failure (no URLs, no bodies)."""
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__}{f' {status}' if status else ''}"


class Lease:
    def __init__(
        self,
        service: TableServiceClient,
        purpose: str,
        site: str,
        holder: str,
        *,
        ttl: timedelta = DEFAULT_TTL,
        renew_every: float | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        release_delays: tuple[float, ...] = RELEASE_DELAYS,
    ) -> None:
        self._service = service
        self._key = f"{purpose}:{site}"
        self._holder = holder
        self._ttl = ttl
        self._renew_every = ttl.total_seconds() / 3 if renew_every is None else renew_every
        self._now = now
        self._release_delays = release_delays
        self._etag: str | None = None
        self._expires_at: datetime | None = None
        self._lost: str | None = None
        self._io = threading.Lock()  # one Table operation on this lease at a time (worker vs renewer)
        self._stop = threading.Event()  # the current renewal thread's; a new one per thread
        self._renewing = False

    @property
    def name(self) -> str:
        return self._key

    @property
    def lost(self) -> str | None:
        """Why the lease is no longer ours (None while it is, or before it was taken)."""
        return self._lost

    @property
    def expires_at(self) -> datetime | None:
        """The expiry of the last acquire or renewal that Table Storage confirmed."""
        return self._expires_at

    def _table(self) -> TableClient:
        return table(self._service, LEASES)

    def _entity(self, now: datetime) -> dict[str, str]:
        return {
            "PartitionKey": PARTITION,
            "RowKey": self._key,
            "holder": self._holder,
            "expiresAt": (now + self._ttl).isoformat(),
        }

    def acquire(self) -> bool:
        """True when this holder now owns the lease (new, expired, or already its own); the renewal
        thread then keeps it until release()."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        with self._io:
            now = self._now()
            entity = self._entity(now)
            client = self._table()
            try:  # the common case, no lease row: one insert
                self._etag = client.create_entity(entity, **CALL_TIMEOUTS)["etag"]
            except ResourceExistsError:
                try:
                    current = client.get_entity(PARTITION, self._key, **CALL_TIMEOUTS)
                except ResourceNotFoundError:
                    return False  # released between our insert and read: the next run takes it
                expired = datetime.fromisoformat(current["expiresAt"]) <= now
                if not expired and current["holder"] != self._holder:
                    return False
                try:
                    self._etag = client.update_entity(
                        entity,
                        mode=UpdateMode.REPLACE,
                        etag=current.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                        **CALL_TIMEOUTS,
                    )["etag"]
                except (ResourceModifiedError, ResourceNotFoundError):
                    return False  # someone took or released it between our read and write
            self._expires_at = now + self._ttl
            self._lost = None
        self._start_renewing()
        return True

    def renew(self) -> bool:
        """Extend the lease by one ttl from now. False when it is not held (lost, released, or Table
        Storage did not answer: the lease stays ours until `expires_at` then)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        with self._io:
            if self._etag is None or self._lost:
                return False
            now = self._now()
            try:
                self._etag = self._table().update_entity(
                    self._entity(now),
                    mode=UpdateMode.REPLACE,
                    etag=self._etag,
                    match_condition=MatchConditions.IfNotModified,
                    retry_total=1,  # the loop tries again in renew_every; a write decides on what it knows
                    **CALL_TIMEOUTS,
                )["etag"]
            except ResourceModifiedError:
                # Our own earlier attempt may have landed unanswered (a retried request then fails its
                # If-Match): the row says whose lease it is.
                mine = self._still_mine()
                if mine is not None:
                    self._etag, self._expires_at = mine
                    return True
                self._lost = (
                    f"lease {self._key} was taken over by another holder "
                    f"(it expired at {self._expires_at.isoformat() if self._expires_at else 'unknown'})"
                )
                log.error("%s: no further writes under it", self._lost)
                self._stop.set()
                self._renewing = False
                return False
            except ResourceNotFoundError:
                self._lost = f"lease {self._key} was removed by another holder"
                log.error("%s: no further writes under it", self._lost)
                self._stop.set()
                self._renewing = False
                return False
            except AzureError as exc:
                log.warning(
                    "lease %s: renewal failed (%s); held until %s", self._key, describe(exc), self._expires_at
                )
                return False
            self._expires_at = now + self._ttl
            return True

    def _still_mine(self) -> tuple[str, datetime] | None:
        """(etag, expiry) of the lease row when it is still this holder's, else None."""
        from azure.core.exceptions import AzureError

        try:
            row = self._table().get_entity(PARTITION, self._key, **CALL_TIMEOUTS)
        except AzureError:
            return None
        if row.get("holder") != self._holder:
            return None
        return row.metadata["etag"], datetime.fromisoformat(row["expiresAt"])

    def ensure_held(self, *, margin: timedelta | None = None) -> None:
        """Before a write: renew now; raise LeaseLost when the lease is not ours any more, or when it could
        not be renewed and is confirmed for less than `margin` (default a third of the ttl) from now."""
        if self._etag is None and not self._lost:
            raise LeaseLost(f"lease {self._key} is not held")
        if self.renew():
            return
        if self._lost:
            raise LeaseLost(self._lost)
        margin = self._ttl / 3 if margin is None else margin
        if self._expires_at is None or self._expires_at - self._now() < margin:
            raise LeaseLost(
                f"lease {self._key} could not be renewed (Table Storage did not answer) and would expire "
                "before the next write could finish"
            )

    def _start_renewing(self) -> None:
        if self._renew_every <= 0 or self._renewing:
            return
        self._stop = stop = threading.Event()
        self._renewing = True
        threading.Thread(
            target=self._renew_loop, args=(stop,), name=f"lease-{self._key}", daemon=True
        ).start()

    def _renew_loop(self, stop: threading.Event) -> None:
        while not stop.wait(self._renew_every):
            try:
                self.renew()
            except Exception:  # never let the thread die silently while the lease is relied on
                log.exception("lease %s: renewal raised", self._key)
            if self._lost:
                return

    def release(self) -> bool:
        """Stop renewing and give the lease up (only if still ours: a lease taken over after expiry is
        left alone). Never raises: a failed delete is retried (bounded) and logged, and the lease then
        expires by itself at `expires_at`. True when the lease is gone (or was not ours any more)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError, ResourceModifiedError, ResourceNotFoundError

        self._stop.set()  # the renewal thread ends at its next wake-up (a renewal in flight is awaited below)
        self._renewing = False
        with self._io:
            if self._etag is None:
                return True
            attempts = len(self._release_delays) + 1
            for attempt in range(1, attempts + 1):
                try:
                    self._table().delete_entity(
                        PARTITION,
                        self._key,
                        etag=self._etag,
                        match_condition=MatchConditions.IfNotModified,
                        retry_total=0,  # the attempts and delays are ours, and bounded
                        **CALL_TIMEOUTS,
                    )
                except (ResourceModifiedError, ResourceNotFoundError):
                    pass  # not ours any more, or already gone
                except AzureError as exc:
                    if attempt < attempts and transient(exc):
                        delay = self._release_delays[attempt - 1]
                        log.warning(
                            "lease %s: release attempt %d failed (%s); retrying in %gs",
                            self._key,
                            attempt,
                            describe(exc),
                            delay,
                        )
                        time.sleep(delay)
                        continue
                    log.error(
                        "lease %s: could not be released after %d attempt(s) (%s); it expires at %s",
                        self._key,
                        attempt,
                        describe(exc),
                        self._expires_at.isoformat() if self._expires_at else "unknown",
                    )
                    break
                self._etag = None
                return True
            self._etag = None
            return False
