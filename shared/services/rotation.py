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
from typing import Any

from shared.azure.arm import network_client
from shared.azure.cloudevents_out import publish
from shared.azure.keyvault import EscrowError, KeyEscrow, SecretVersion, secret_name
from shared.azure.leases import Lease
from shared.azure.network_reads import read_connection
from shared.azure.rotation_store import StateConflict, load_state, save_state
from shared.azure.shared_keys import SharedKeyError, read_shared_key, write_shared_key
from shared.azure.tables import table_service
from shared.drift.resources import Kind, arm_id
from shared.rotation import machine
from shared.rotation.keygen import generate_shared_key
from shared.rotation.machine import Paths, Phase, RotationState, Step
from shared.services.instance import instance_id
from shared.settings import Settings
from shared.spec import Site
from shared.telemetry import site_operation

log = logging.getLogger(__name__)

ACTIVE, PENDING, PREVIOUS, SUPERSEDED, ROLLED_BACK = (
    "active",
    "pending",
    "previous",
    "superseded",
    "rolled-back",
)
MAX_STEPS = 8


class ObservationError(Exception):
    """The connections' status could not be read."""


@dataclass
class RotationOutcome:
    site: str
    phase: str
    steps: list[str] = field(default_factory=list)
    started: bool = False
    refused: str | None = None
    skipped: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "phase": self.phase,
            "steps": self.steps,
            "started": self.started,
            "refused": self.refused,
            "skipped": self.skipped,
            "error": self.error,
        }


class _Rotation:
    """One invocation's context: clients, names and the current persisted state."""

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

    def versions(self) -> list[SecretVersion]:
        return self.vault.versions(self.secret)

    def _tag(self, version: SecretVersion | str, role: str, **extra: str) -> None:
        found = version if isinstance(version, SecretVersion) else self._version(version)
        tags = {**(found.tags if found else {}), "state": role, **extra}
        self.vault.tag(self.secret, found.version if found else str(version), tags)

    def _version(self, version: str) -> SecretVersion | None:
        return next((v for v in self.versions() if v.version == version), None)

    def _retire_others(self, keep: set[str]) -> None:
        """Exactly one live key: any other version still tagged pending or active (a duplicate from a
        retried write, a copy left by a crash) becomes superseded."""
        for version in self.versions():
            if version.version not in keep and version.tags.get("state") in (PENDING, ACTIVE):
                self._tag(version, SUPERSEDED)

    def _base_tags(self) -> dict[str, str]:
        return {"connection": self.connection_id, "site": self.site.name}

    # steps ------------------------------------------------------------------------------------
    def ensure_current_key_escrowed(self) -> str:
        """Key Vault's active version must hold exactly what Azure has now (a key set by hand is
        escrowed too), so that a rollback restores the key the peer really uses."""
        versions = self.versions()
        active = [v for v in versions if v.tags.get("state") == ACTIVE]
        current = read_shared_key(self.client, self.rg, self.connection)
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
        previous = self.ensure_current_key_escrowed()
        rotation_id = self.state.rotation_id or ""
        mine = [v for v in self.versions() if v.tags.get("rotationId") == rotation_id]
        if mine:  # escrowed before a crash (or a retried write): never a second key for one rotation
            pending = mine[-1].version
            for duplicate in mine[:-1]:
                self._tag(duplicate, SUPERSEDED)
        else:
            tags = {
                **self._base_tags(),
                "state": PENDING,
                "rotationId": rotation_id,
                "rotatedAt": self.now().isoformat(),
            }
            pending = self.vault.store(self.secret, self.new_key(), tags)
        self.save(
            machine.escrowed(self.state, pending, previous),
            "escrow",
            f"new key escrowed as version {pending}",
        )

    def apply(self) -> None:
        assert self.state.pending_version is not None
        value = self.vault.value(self.secret, self.state.pending_version)
        current = read_shared_key(self.client, self.rg, self.connection)
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
                    machine.escrowed(self.state, self.state.pending_version, kept),
                    "escrow",
                    "a key set by hand meanwhile is escrowed as the one to restore",
                )
            write_shared_key(self.client, self.rg, self.connection, value, timeout=self.settings.lro_timeout)
            if read_shared_key(self.client, self.rg, self.connection) != value:
                raise SharedKeyError(
                    f"connection {self.connection}: the key read back differs from the one set"
                )
        self.save(
            machine.awaiting_peer(self.state, self.now()),
            "apply",
            "Azure has the new key (read back and compared)",
        )

    def complete(self) -> None:
        """The peer connects: but only the key Azure really has may become `active`. An interrupted
        rollback leaves the previous key in Azure (and the tunnel up): that finishes as a rollback."""
        assert self.state.pending_version is not None
        current = read_shared_key(self.client, self.rg, self.connection)
        if current != self.vault.value(self.secret, self.state.pending_version):
            if self.state.previous_version and current == self.vault.value(
                self.secret, self.state.previous_version
            ):
                self.save(machine.rolling_back(self.state), "rollback-started", "Azure has the previous key")
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
        self._retire_others({self.state.pending_version})
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

    def rollback(self, paths: Paths | None) -> None:
        """Restore the previous key. Persisted as `rolling-back` before Azure is touched, so a crash
        anywhere below resumes here and finishes it (each step checks before it writes)."""
        assert self.state.previous_version is not None
        if self.state.phase is not Phase.ROLLING_BACK:
            why = f"ExpressRoute went {paths.expressroute_status or 'unknown'}" if paths else "resumed"
            self.save(machine.rolling_back(self.state), "rollback-started", why)
        previous = self._version(self.state.previous_version)
        old = self.vault.value(self.secret, self.state.previous_version)
        if read_shared_key(self.client, self.rg, self.connection) != old:
            write_shared_key(self.client, self.rg, self.connection, old, timeout=self.settings.lro_timeout)
            if read_shared_key(self.client, self.rg, self.connection) != old:
                raise SharedKeyError(f"connection {self.connection}: the restored key read back differs")
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
        self._retire_others({restored_version})
        detail = (
            "the peer had not taken the new key while ExpressRoute was lost: the previous key is restored"
        )
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


def _plain(value: object) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


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
        return run.outcome
    try:
        run.state, run.etag = load_state(run.tables, site.name)  # re-read under the lease
        run.outcome.phase = run.state.phase.value
        paths: Paths | None = None
        if advance_only and not run.state.phase.in_progress:
            run.outcome.skipped = "no rotation in progress"
            return run.outcome
        if not run.state.phase.in_progress:
            age = machine.key_age_days(run.state, now())
            if not manual and age is not None and age < site.max_key_age_days:
                run.outcome.skipped = f"key is {age:.1f} days old; due at {site.max_key_age_days} days"
                return run.outcome
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
    versions = vault.versions(name)
    from shared.azure.rotation_store import load_state
    from shared.azure.tables import table_service as tables_for

    state, _ = load_state(tables_for(settings), site.name)
    if state.phase in (Phase.ESCROWED, Phase.AWAITING_PEER) and state.pending_version:
        # Mid-rotation the peer is told to take the pending key: a re-created connection uses it too.
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
