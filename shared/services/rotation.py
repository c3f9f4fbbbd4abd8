"""IPsec shared-key rotation for one site: escrow in Key Vault first, apply through ARM and read back,
wait for the on-premises peer, roll back if ExpressRoute fails meanwhile. Every step is persisted (the
state entity, with a history row) before the next begins; a run that stops anywhere is resumed by the
next one. Keys live only in local variables: never in the state, a log line, an exception or an event.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.azure.arm import network_client
from shared.azure.cloudevents_out import publish
from shared.azure.keyvault import EscrowError, KeyEscrow, SecretVersion, secret_name, staged_secret_name
from shared.azure.leases import Lease
from shared.azure.network_reads import read_connection
from shared.azure.rotation_store import StateConflict, load_state, save_state
from shared.azure.shared_keys import SharedKeyError, SharedKeySetRunning, read_shared_key, write_shared_key
from shared.azure.tables import table_service
from shared.drift.resources import Kind, arm_id
from shared.rotation import machine
from shared.rotation.keygen import generate_shared_key
from shared.rotation.machine import Paths, Phase, RotationState, Step
from shared.rotation.status import describe_rotation
from shared.services.instance import instance_id
from shared.settings import Settings
from shared.spec import Site
from shared.telemetry import site_operation

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient

log = logging.getLogger(__name__)

ACTIVE, PENDING, PREVIOUS, SUPERSEDED, ROLLED_BACK = (
    "active",
    "pending",
    "previous",
    "superseded",
    "rolled-back",
)
STAGED, PUBLISHED = "staged", "published"  # roles in the staging secret
MAX_STEPS = 8


class ObservationError(Exception):
    """The connections' status could not be read."""


class _SetRunning(Exception):
    """The key set is still running in Azure: this pass ends here (no error), the next one verifies it."""


# Why a rotation did not start, as a machine-readable code (the HTTP answer carries it).
NOT_ENABLED, REPORT_MODE, REFUSED, BUSY = (
    "RotationNotEnabled",
    "RotationReportMode",
    "RotationRefused",
    "Busy",
)
_KEY_SINCE_TAGS = ("adoptedAt", "activatedAt", "escrowedAt", "storedAt")


@dataclass
class RotationOutcome:
    site: str
    phase: str
    steps: list[str] = field(default_factory=list)
    started: bool = False
    refused: str | None = None
    skipped: str | None = None
    error: str | None = None
    code: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "phase": self.phase,
            "steps": self.steps,
            "started": self.started,
            "refused": self.refused,
            "skipped": self.skipped,
            "error": self.error,
            "code": self.code,
        }


def _key_since(version: SecretVersion) -> datetime | None:
    for tag in _KEY_SINCE_TAGS:
        try:
            return datetime.fromisoformat(version.tags[tag])
        except (KeyError, ValueError):
            continue
    return version.created


class _Rotation:
    """One invocation's context: clients, names and the current persisted state.

    Two secrets per site: `secret` is the one the on-premises appliance reads (active, pending,
    previous, ... versions); `staged` holds a new key from its escrow until Azure has it, so that the
    appliance can never take a key Azure does not have."""

    def __init__(
        self, settings: Settings, site: Site, new_key: Callable[[], str], now: Callable[[], datetime]
    ) -> None:
        self.settings = settings
        self.site = site
        self.new_key = new_key
        self.now = now
        self.tables = table_service(settings)
        self.client = network_client(settings)
        self.vault = KeyEscrow(settings.require_vault(), settings.arm_ca_bundle, settings.arm_retry_total)
        self.secret = secret_name(site.name)
        self.staged = staged_secret_name(site.name)
        self.rg = site.resource_group
        self.connection = site.vpn.connection.name
        self.connection_id = arm_id(
            settings.require_subscription(), self.rg, Kind.CONNECTION, self.connection
        )
        self.state, self.etag = load_state(self.tables, site.name)
        self.outcome = RotationOutcome(site.name, self.state.phase.value)

    # persistence ------------------------------------------------------------------------------
    def save(self, state: RotationState, step: str, detail: str = "") -> None:
        self.etag = save_state(
            self.tables, self.site.name, state, self.etag, step=step, detail=detail, now=self.now()
        )
        self.state = state
        self.outcome.phase = state.phase.value
        self.outcome.steps.append(step)
        log.info(
            "rotation site=%s rotation=%s step=%s phase=%s",
            self.site.name,
            state.rotation_id,
            step,
            state.phase.value,
        )

    def note(self, step: str, detail: str) -> None:
        """Record a decision (due, refused, ...) once: not again while it is the state's last word."""
        if self.state.detail != detail:
            self.save(replace(self.state, detail=detail), step, detail)

    # observations -----------------------------------------------------------------------------
    def paths(self) -> Paths:
        """Both connections' status; a deleted connection counts as down (not as unreadable)."""
        er = read_connection(self.client, self.rg, self.site.express_route.connection.name)
        vpn = read_connection(self.client, self.rg, self.connection)
        failed = [f"{r.name}: {r.error}" for r in (er, vpn) if r.error]
        if failed:
            raise ObservationError(
                f"site {self.site.name}: connection status could not be read ({'; '.join(failed)})"
            )
        return Paths(er.connection_status, vpn.connection_status)

    def azure_key(self) -> str:
        return read_shared_key(self.client, self.rg, self.connection)

    def versions(self, secret: str | None = None) -> list[SecretVersion]:
        """This site's versions of a secret (filtered by the `site` tag), oldest first."""
        return self.vault.versions(secret or self.secret, site=self.site.name)

    def _tag(
        self, version: SecretVersion | str, role: str, *, secret: str | None = None, **extra: str
    ) -> None:
        secret = secret or self.secret
        found = version if isinstance(version, SecretVersion) else self._version(version, secret)
        tags = {**(found.tags if found else {}), "state": role, **extra}
        self.vault.tag(secret, found.version if found else str(version), tags)

    def _version(self, version: str, secret: str | None = None) -> SecretVersion | None:
        return next((v for v in self.versions(secret) if v.version == version), None)

    def _retire_others(self, keep: set[str], *, previous: str | None = None) -> None:
        """Exactly one live key and at most one `previous`: any other version still tagged pending or
        active (a duplicate from a retried write, a copy left by a crash) or previous (from an earlier
        rotation) becomes superseded."""
        for version in self.versions():
            role = version.tags.get("state")
            if version.version in keep or version.version == previous:
                continue
            if role in (PENDING, ACTIVE, PREVIOUS):
                self._tag(version, SUPERSEDED)

    def _base_tags(self) -> dict[str, str]:
        return {"connection": self.connection_id, "site": self.site.name}

    def _escrowed_value(self, value: str, versions: list[SecretVersion]) -> SecretVersion | None:
        """The newest of the last few `versions` holding `value` (compared here, never logged)."""
        for version in reversed(versions[-20:]):
            if version.enabled and self.vault.value(self.secret, version.version) == value:
                return version
        return None

    # steps ------------------------------------------------------------------------------------
    def adopt(self) -> None:
        """First sight of the site's key with no age known: escrow Azure's key as the `active` version
        (tag `adoptedAt`) unless Key Vault's active version already holds it, and count its age from
        then. Reads Azure; never writes it."""
        current = self.azure_key()
        active = [v for v in self.versions() if v.tags.get("state") == ACTIVE]
        stamp = self.now()
        if active and self.vault.value(self.secret, active[-1].version) == current:
            since = _key_since(active[-1]) or stamp
            detail = (
                f"the key in Azure is Key Vault's active version {active[-1].version}: "
                f"its age counts from {since.isoformat()}"
            )
        else:
            version = self.vault.store(
                self.secret,
                current,
                {
                    **self._base_tags(),
                    "state": ACTIVE,
                    "source": "adopted",
                    "adoptedAt": stamp.isoformat(),
                    "escrowedAt": stamp.isoformat(),
                },
            )
            for stale in active:
                self._tag(stale, SUPERSEDED)
            since = stamp
            detail = (
                f"adopted the key found on connection {self.connection}: escrowed as active version "
                f"{version} of secret {self.secret} (Azure unchanged); its age counts from now"
            )
        self.save(
            replace(self.state, adopted_at=since, key_matches_vault=True, detail=detail), "adopt", detail
        )

    def ensure_current_key_escrowed(self) -> str:
        """Key Vault's active version must hold exactly what Azure has now (a key set by hand is
        escrowed too), so that a rollback restores the key the peer really uses."""
        versions = self.versions()
        active = [v for v in versions if v.tags.get("state") == ACTIVE]
        current = self.azure_key()
        if active and self.vault.value(self.secret, active[-1].version) == current:
            return active[-1].version
        version = self.vault.store(
            self.secret,
            current,
            {**self._base_tags(), "state": ACTIVE, "source": "azure", "escrowedAt": self.now().isoformat()},
        )
        for stale in active:
            self._tag(stale, SUPERSEDED)
        return version

    def escrow(self) -> None:
        """The new key goes to the staging secret, which the appliance does not read: it is published
        in the site's secret only once Azure has it (`publish`)."""
        previous = self.ensure_current_key_escrowed()
        rotation_id = self.state.rotation_id or ""
        mine = [v for v in self.versions(self.staged) if v.tags.get("rotationId") == rotation_id]
        if mine:  # escrowed before a crash (or a retried write): never a second key for one rotation
            staged = mine[-1].version
            for duplicate in mine[:-1]:
                self._tag(duplicate, SUPERSEDED, secret=self.staged)
        else:
            tags = {
                **self._base_tags(),
                "state": STAGED,
                "rotationId": rotation_id,
                "rotatedAt": self.now().isoformat(),
            }
            staged = self.vault.store(self.staged, self.new_key(), tags)
        self.save(
            machine.escrowed(self.state, staged, previous),
            "escrow",
            f"new key escrowed as version {staged} of staging secret {self.staged}",
        )

    def new_key_value(self) -> str:
        if self.state.staged_version:
            return self.vault.value(self.staged, self.state.staged_version)
        # A rotation escrowed by an earlier release: its new key is already the `pending` version.
        if not self.state.pending_version:
            raise EscrowError(f"site {self.site.name}: rotation {self.state.rotation_id} has no escrowed key")
        return self.vault.value(self.secret, self.state.pending_version)

    def _set_running(self, detail: str) -> None:
        self.note("apply-running", detail)
        raise _SetRunning(detail)

    def apply(self) -> None:
        """Set the new key in Azure and verify it by reading it back. A set is a long-running operation
        and the key is in force only once it succeeds (a read until then returns the old key): a set
        still running when this caller's time runs out, or found running, ends the pass without an
        error and without a second write; the next pass reads the key again."""
        value = self.new_key_value()
        current = self.azure_key()
        if current != value and read_connection(self.client, self.rg, self.connection).provisioning_state == (
            "Updating"
        ):
            self._set_running(
                f"connection {self.connection} is still being updated in Azure (a key set in progress): "
                "the key is verified when that operation has finished"
            )
        if current != value:
            previous = (
                self.vault.value(self.secret, self.state.previous_version)
                if self.state.previous_version
                else None
            )
            if current != previous:
                # Someone set a key by hand since the escrow: keep it restorable before overwriting it.
                kept = self.ensure_current_key_escrowed()
                self.save(
                    machine.escrowed(self.state, self.state.staged_version, kept),
                    "escrow",
                    "a key set by hand meanwhile is escrowed as the one to restore",
                )
            try:
                write_shared_key(
                    self.client, self.rg, self.connection, value, timeout=self.settings.lro_timeout
                )
            except SharedKeySetRunning as running:
                # Accepted and still running: Azure has not the new key yet (and the appliance must not
                # be offered it before), unless it finished meanwhile.
                if self.azure_key() != value:
                    self._set_running(f"{running}: the key is verified when the set has finished")
            except SharedKeyError:
                # Nothing was published, so the appliance keeps the key Azure has: unless the write
                # landed after all (a poll failed after the operation succeeded), in which case Azure
                # has the new key and the appliance must be offered it now.
                if self.azure_key() != value:
                    raise
            if self.azure_key() != value:
                raise SharedKeyError(
                    f"connection {self.connection}: the key read back differs from the one set"
                )
        # Before the key is offered, the appliance cannot have it: a VPN seen down now is down because
        # of the change (a fast appliance may be connected again before the next observation).
        try:
            seen_down = not self.paths().vpn_up
        except ObservationError:
            seen_down = False  # publishing matters more: Azure already has the key
        self.publish(value, seen_down=seen_down)

    def publish(self, value: str, *, seen_down: bool) -> None:
        """Azure has the new key: offer it to the appliance as the `pending` version of its secret."""
        rotation_id = self.state.rotation_id or ""
        mine = [
            v
            for v in self.versions()
            if v.tags.get("rotationId") == rotation_id and v.tags.get("state") == PENDING
        ]
        if mine:  # published before a crash
            pending = mine[-1].version
        else:
            pending = self.vault.store(
                self.secret,
                value,
                {
                    **self._base_tags(),
                    "state": PENDING,
                    "rotationId": rotation_id,
                    "rotatedAt": self.now().isoformat(),
                },
            )
        if self.state.staged_version:
            self._tag(self.state.staged_version, PUBLISHED, secret=self.staged, publishedAs=pending)
        self.save(
            machine.awaiting_peer(self.state, self.now(), pending_version=pending),
            "apply",
            f"Azure has the new key (read back and compared); published as pending version {pending}",
        )
        if seen_down and not self.state.peer_seen_down:
            self.peer_down()

    def complete(self) -> None:
        """The peer connects: but only the key Azure really has may become `active`. An interrupted
        rollback leaves the previous key in Azure (and the tunnel up): that finishes as a rollback."""
        assert self.state.pending_version is not None
        current = self.azure_key()
        if current != self.vault.value(self.secret, self.state.pending_version):
            if self.state.previous_version and current == self.vault.value(
                self.secret, self.state.previous_version
            ):
                self.save(
                    machine.rolling_back(
                        self.state,
                        "the VPN connection is Connected, but with the previous key: Azure has it again",
                    ),
                    "rollback-started",
                    "Azure has the previous key",
                )
                self.rollback(None)
                return
            # A key set by hand during the rotation, and the tunnel is up with it: that key is the one
            # in use. Escrow it as active and end this rotation (the next one starts when due).
            kept = self.ensure_current_key_escrowed()
            if self.state.pending_version:
                self._tag(self.state.pending_version, ROLLED_BACK)
            self._retire_others({kept})
            detail = "Azure's key was changed by hand during the rotation: that key is escrowed as active"
            self.save(machine.rolled_back(self.state, detail), "abandon", detail)
            self.notify("Abandoned", detail)
            return
        stamp = self.now().isoformat()
        self._tag(self.state.pending_version, ACTIVE, activatedAt=stamp)
        if self.state.previous_version:
            self._tag(self.state.previous_version, PREVIOUS, retiredAt=stamp)
        self._retire_others({self.state.pending_version}, previous=self.state.previous_version)
        self.save(
            machine.completed(self.state, self.now()),
            "complete",
            "the VPN connection is Connected with the new key",
        )

    def peer_down(self) -> None:
        self.save(
            machine.peer_down(self.state),
            "peer-down",
            "the VPN connection is down after the key change, as expected until the peer has the new key",
        )

    def _observed(self, paths: Paths) -> str:
        """What a rollback is for, as observed now."""
        er = paths.expressroute_status or "unknown"
        vpn = paths.vpn_status or "unknown"
        if self.state.phase is Phase.ESCROWED:
            return f"ExpressRoute went {er} before the new key was applied (VPN connection {vpn})"
        if paths.vpn_up:
            return f"ExpressRoute went {er}; the VPN connection is Connected"
        return (
            f"ExpressRoute went {er} while the VPN connection was {vpn} "
            "(the on-premises peer had not connected with the new key)"
        )

    def _escrow_before_overwrite(self, current: str) -> None:
        """Azure's key is about to be overwritten by a rollback: a key this rotation does not know
        (set by hand) is escrowed first, so it is never lost."""
        known = [v for v in (self.state.previous_version, self.state.pending_version) if v]
        if any(self.vault.value(self.secret, v) == current for v in known):
            return
        if self.state.staged_version and current == self.new_key_value():
            return
        if self._escrowed_value(current, self.versions()) is not None:
            return
        version = self.vault.store(
            self.secret,
            current,
            {
                **self._base_tags(),
                "state": SUPERSEDED,
                "source": "azure",
                "escrowedAt": self.now().isoformat(),
                "overwrittenBy": f"{self.state.rotation_id}-rollback",
            },
        )
        log.warning(
            "rotation site=%s: Azure had a key set by hand; escrowed as version %s before the rollback",
            self.site.name,
            version,
        )

    def rollback(self, paths: Paths | None) -> None:
        """Restore the previous key. Persisted as `rolling-back` before Azure is touched, so a crash
        anywhere below resumes here and finishes it (each step checks before it writes)."""
        assert self.state.previous_version is not None
        if self.state.phase is not Phase.ROLLING_BACK:
            why = self._observed(paths) if paths else "resumed"
            self.save(machine.rolling_back(self.state, why), "rollback-started", why)
        why = self.state.detail or "rollback"
        previous = self._version(self.state.previous_version)
        old = self.vault.value(self.secret, self.state.previous_version)
        current = self.azure_key()
        if current != old:
            self._escrow_before_overwrite(current)
            write_shared_key(self.client, self.rg, self.connection, old, timeout=self.settings.lro_timeout)
            if self.azure_key() != old:
                raise SharedKeyError(f"connection {self.connection}: the restored key read back differs")
            done = "the previous key is restored in Azure"
        else:
            done = "Azure still had the previous key: nothing to restore there"
        restored_id = f"{self.state.rotation_id}-rollback"
        restored = [v for v in self.versions() if v.tags.get("rotationId") == restored_id]
        if not restored:
            tags = {
                **self._base_tags(),
                "state": ACTIVE,
                "restoredFrom": self.state.previous_version,
                "rotationId": restored_id,
                # The key is as old as it was: its age must not restart with the copy.
                "escrowedAt": (previous.tags.get("escrowedAt") if previous else None)
                or (
                    previous.created.isoformat() if previous and previous.created else self.now().isoformat()
                ),
            }
            restored_version = self.vault.store(self.secret, old, tags)
        else:
            restored_version = restored[-1].version
        self._tag(self.state.previous_version, SUPERSEDED)
        if self.state.pending_version:
            self._tag(self.state.pending_version, ROLLED_BACK)
        if self.state.staged_version:
            staged = self._version(self.state.staged_version, self.staged)
            if staged is not None and staged.tags.get("state") == STAGED:
                self._tag(staged, ROLLED_BACK, secret=self.staged)
        self._retire_others({restored_version})
        published = (
            "the new key had been offered to the appliance as pending and is now tagged rolled-back"
            if self.state.pending_version
            else "the new key was never offered to the appliance"
        )
        detail = f"{why}: {done}; {published}"
        self.save(machine.rolled_back(self.state, detail), "rollback", detail)
        self.notify("RolledBack", detail)

    def alert(self) -> None:
        hours = self.settings.rotation_peer_deadline_hours
        detail = (
            f"the on-premises peer has not taken the new key after {hours:g} h: give it Key Vault secret "
            f"{self.secret} (the version tagged state=pending); the old key stays restorable"
        )
        self.notify("PeerOverdue", detail)
        self.save(machine.alerted(self.state), "alert", detail)

    def notify(self, kind: str, detail: str) -> None:
        event_id = f"{self.state.rotation_id}-{kind}"
        publish(
            self.settings,
            {
                "specversion": "1.0",
                "id": event_id,
                "source": f"/hybridnet/rotation/sites/{self.site.name}",
                "type": f"Hybridnet.Rotation.{kind}",
                "subject": self.site.name,
                "time": self.now().isoformat(),
                "datacontenttype": "application/json",
                "data": {
                    "site": self.site.name,
                    "rotationId": self.state.rotation_id,
                    "phase": self.state.phase.value,
                    "secret": self.secret,
                    "detail": detail,
                },
            },
            what=f"site {self.site.name}: rotation event {event_id}",
        )


def _may_start(run: _Rotation, *, manual: bool, force: bool) -> bool:
    """Idle: may a rotation start now? Adopts a key of unknown age first (the timer's first sight of
    a site: Key Vault gets Azure's key, Azure is left alone); then a start needs the key to be due (or
    `manual`), the site's `rotation.enabled` and HYBRIDNET_ROTATION_MODE=enforce, unless `force`d.
    Records in the history (once) a due key that is not rotated, and why."""
    site, settings, outcome = run.site, run.settings, run.outcome
    age = machine.key_age_days(run.state, run.now())
    if age is None and not manual:
        run.adopt()
        age = machine.key_age_days(run.state, run.now())
    if not manual and age is not None and age < site.max_key_age_days:
        outcome.skipped = f"key is {age:.1f} days old; due at {site.max_key_age_days} days"
        return False
    if force:
        return True
    why = (
        "a rotation was asked for"
        if manual
        else f"the key is due (older than maxKeyAgeDays {site.max_key_age_days})"
    )
    if not site.rotation.enabled:
        outcome.code = NOT_ENABLED
        reason = (
            f"{why}, but key rotation is not enabled for site {site.name} (rotation.enabled is false in the "
            "spec): the on-premises appliance may not take its key from Key Vault, so a new key would take "
            "the VPN backup down. Enable it once the appliance follows Key Vault secret "
            f"{run.secret}, or force the rotation"
        )
    elif settings.rotation_mode != "enforce":
        outcome.code = REPORT_MODE
        reason = (
            f"{why}, but HYBRIDNET_ROTATION_MODE is {settings.rotation_mode}: no key is written to Azure "
            "(set it to enforce, or force the rotation)"
        )
    else:
        return True
    if manual:
        outcome.refused = reason
        run.save(run.state, "refused", reason)
    else:
        outcome.skipped = reason
        run.note("due", reason)
    return False


def rotate_site(
    settings: Settings,
    site: Site,
    *,
    manual: bool = False,
    force: bool = False,
    advance_only: bool = False,
    lro_timeout: float | None = None,
    new_key: Callable[[], str] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> RotationOutcome:
    """Start a rotation when due (or `manual`), and advance one in progress as far as it can go now.
    `advance_only` never starts one (the failover check uses it); `lro_timeout` bounds one ARM key
    write for callers with less time (an HTTP request): an unfinished write is verified next run."""
    make_key = new_key or (
        lambda: generate_shared_key(settings.rotation_key_length, symbols=settings.rotation_key_symbols)
    )
    if lro_timeout is not None:
        settings = replace(settings, lro_timeout=min(settings.lro_timeout, lro_timeout))
    run = _Rotation(settings, site, make_key, now)
    lease = Lease(
        run.tables,
        "rotation",
        site.name,
        f"{instance_id()}/{uuid.uuid4().hex[:12]}",
        ttl=timedelta(seconds=settings.lease_seconds),
    )
    if not lease.acquire():
        run.outcome.skipped = "another instance is rotating this site's key"
        run.outcome.code = BUSY
        return run.outcome
    try:
        run.state, run.etag = load_state(run.tables, site.name)  # re-read under the lease
        run.outcome.phase = run.state.phase.value
        paths: Paths | None = None
        if advance_only and not run.state.phase.in_progress:
            run.outcome.skipped = "no rotation in progress"
            return run.outcome
        if not run.state.phase.in_progress:
            if not _may_start(run, manual=manual, force=force):
                return run.outcome
            age = machine.key_age_days(run.state, now())
            paths = run.paths()
            decision = machine.decide_start(
                run.state,
                paths,
                age_days=age,
                max_age_days=site.max_key_age_days,
                manual=manual,
                force=force,
                now=now(),
            )
            if not decision.start:
                run.outcome.refused = decision.reason
                run.outcome.code = REFUSED
                run.save(run.state, "refused", decision.reason)
                return run.outcome
            run.save(
                machine.started(run.state, uuid.uuid4().hex, now(), expressroute_up=paths.expressroute_up),
                "start",
                decision.reason,
            )
            run.outcome.started = True
        deadline = timedelta(hours=settings.rotation_peer_deadline_hours)
        for _ in range(MAX_STEPS):
            if paths is None or run.state.phase in (Phase.ESCROWED, Phase.AWAITING_PEER):
                paths = run.paths()  # fresh before every step that touches the VPN
            step = machine.next_step(run.state, paths, now(), deadline)
            if step is Step.WAIT:
                break
            if step is Step.ESCROW:
                run.escrow()
            elif step is Step.APPLY:
                run.apply()
            elif step is Step.PEER_DOWN:
                run.peer_down()
            elif step is Step.COMPLETE:
                run.complete()
            elif step is Step.ROLLBACK:
                run.rollback(paths)
            elif step is Step.ALERT:
                run.alert()
    except _SetRunning:
        pass  # recorded (`apply-running`); the phase stays escrowed and the next pass verifies the key
    except (EscrowError, SharedKeyError, ObservationError, StateConflict) as exc:
        run.outcome.error = str(exc)
        log.error("rotation site=%s phase=%s failed: %s", site.name, run.state.phase.value, exc)
        try:  # the state already says how far it got; the history says why it stopped there
            run.save(run.state, "error", str(exc))
            run.outcome.steps.pop()
        except Exception as record_failure:  # the failure being recorded matters more than this one
            log.error(
                "rotation site=%s: the error could not be recorded: %s",
                site.name,
                type(record_failure).__name__,
            )
    finally:
        lease.release()
    return run.outcome


def rotation_status(tables: TableServiceClient, site: Site, *, now: datetime | None = None) -> dict[str, Any]:
    """The report's view of a site's key (one Table read; Key Vault is not read on a health request)."""
    state, _ = load_state(tables, site.name)
    return describe_rotation(state, site, now or datetime.now(UTC))


def check_key(settings: Settings, site: Site) -> bool | None:
    """Outside a rotation: does the connection's key equal Key Vault's active version? Recorded in the
    rotation state (only when the answer changes) for the drift report. None when not checkable."""
    run = _Rotation(settings, site, generate_shared_key, lambda: datetime.now(UTC))
    if run.state.phase.in_progress:
        return run.state.key_matches_vault
    active = [v for v in run.versions() if v.tags.get("state") == ACTIVE]
    if not active:
        matches: bool | None = None
    else:
        matches = read_shared_key(run.client, run.rg, run.connection) == run.vault.value(
            run.secret, active[-1].version
        )
    if matches != run.state.key_matches_vault:
        detail = {
            True: "key matches Key Vault",
            False: "key differs from Key Vault",
            None: "no escrowed key",
        }[matches]
        try:
            run.save(replace(run.state, key_matches_vault=matches), "key-check", detail)
        except StateConflict:
            pass  # a rotation step wrote first; the next check records it
    return matches


def key_for_new_connection(settings: Settings, site: Site) -> str:
    """The key for a VPN connection the reconciler must re-create: the escrowed active key, which the
    on-premises peer already has; else a new one, escrowed before it is used. Without Key Vault a new
    key is generated (ARM keeps it; `get_shared_key` reads it) and a warning says so."""
    if not settings.keyvault_url:
        log.warning("site %s: re-creating the VPN connection with a new key that is not escrowed", site.name)
        return generate_shared_key(settings.rotation_key_length, symbols=settings.rotation_key_symbols)
    vault = KeyEscrow(settings.keyvault_url, settings.arm_ca_bundle, settings.arm_retry_total)
    name = secret_name(site.name)
    versions = vault.versions(name, site=site.name)
    from shared.azure.rotation_store import load_state
    from shared.azure.tables import table_service as tables_for

    state, _ = load_state(tables_for(settings), site.name)
    if state.phase is Phase.AWAITING_PEER and state.pending_version:
        # Mid-rotation the peer is told to take the pending key: a re-created connection uses it too.
        # (Before that, the new key is only staged: the peer has the active one.)
        return vault.value(name, state.pending_version)
    active = [v for v in versions if v.tags.get("state") == ACTIVE]
    if active:
        return vault.value(name, active[-1].version)
    key = generate_shared_key(settings.rotation_key_length, symbols=settings.rotation_key_symbols)
    vault.store(
        name,
        key,
        {
            "site": site.name,
            "state": ACTIVE,
            "source": "recreated",
            "escrowedAt": datetime.now(UTC).isoformat(),
        },
    )
    return key


# Every log line of a rotation or a key check carries site, run_id and operation (shared.telemetry).
rotate_site = site_operation("rotation")(rotate_site)
check_key = site_operation("key-check")(check_key)
