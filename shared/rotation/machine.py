"""The IPsec key rotation state machine. Pure: the state is plain data, decisions are functions of
(state, what the paths look like, time).

Phases, persisted after every step so a crash at any point resumes where it stopped:

    started --escrow--> escrowed --apply+verify--> awaiting-peer --peer connected--> completed
                                                        |--ExpressRoute lost--> rolling-back --> rolled-back
                                                        '--deadline passed--> (alert once, keep waiting)

An `escrowed` rotation whose ExpressRoute went down rolls back rather than applying (it never re-keys
the VPN while the VPN may be the only path). In `awaiting-peer`, a Connected VPN counts as the peer's only after the tunnel
was seen down once since the key changed, or after a settle time (ARM's status can lag the change).

`started` means a rotation id was chosen and nothing outside the state may exist yet; `escrowed`
means the new key is a Key Vault version tagged with that id; `awaiting-peer` means Azure has the new
key (read back and compared). Keys themselves are never part of the state."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from shared.failover.paths import CONNECTED


class Phase(StrEnum):
    IDLE = "idle"
    STARTED = "started"
    ESCROWED = "escrowed"
    AWAITING_PEER = "awaiting-peer"
    ROLLING_BACK = "rolling-back"
    COMPLETED = "completed"
    ROLLED_BACK = "rolled-back"

    @property
    def in_progress(self) -> bool:
        return self in (Phase.STARTED, Phase.ESCROWED, Phase.AWAITING_PEER, Phase.ROLLING_BACK)


class Step(StrEnum):
    ESCROW = "escrow"
    APPLY = "apply"
    PEER_DOWN = "peer-down"
    COMPLETE = "complete"
    ROLLBACK = "rollback"
    ALERT = "alert"
    WAIT = "wait"


@dataclass(frozen=True)
class RotationState:
    phase: Phase = Phase.IDLE
    rotation_id: str | None = None
    started_at: datetime | None = None
    pending_version: str | None = None  # the new key's version in the site's secret, once Azure has it
    staged_version: str | None = None  # the new key's version in the staging secret (before Azure has it)
    previous_version: str | None = None
    awaiting_since: datetime | None = None
    alerted: bool = False
    peer_seen_down: bool = False  # the VPN was seen not Connected after the key changed
    last_rotated_at: datetime | None = None
    detail: str = ""
    # False for a rotation forced while ExpressRoute was already down: losing ExpressRoute is then no
    # news, and rolling back would undo what the operator asked for.
    expressroute_up_at_start: bool = True
    # Outside a rotation: does the connection's key equal Key Vault's active version? None = not checked.
    key_matches_vault: bool | None = None
    # When a key hybridnet did not create was first seen and escrowed (adopted): its age counts from then.
    adopted_at: datetime | None = None


@dataclass(frozen=True)
class Paths:
    expressroute_status: str | None
    vpn_status: str | None

    @property
    def expressroute_up(self) -> bool:
        return self.expressroute_status == CONNECTED

    @property
    def vpn_up(self) -> bool:
        return self.vpn_status == CONNECTED


@dataclass(frozen=True)
class StartDecision:
    start: bool
    reason: str


ROLLBACK_COOLDOWN = timedelta(hours=24)


def key_since(state: RotationState) -> datetime | None:
    """Since when the key in use is known: its last completed rotation, or its adoption (a key found in
    Azure is escrowed on first sight and its age counted from then); None before either."""
    known = [t for t in (state.last_rotated_at, state.adopted_at) if t is not None]
    return max(known) if known else None


def key_age_days(state: RotationState, now: datetime) -> float | None:
    """Age of the key in use (see key_since); None when unknown (the key is adopted first)."""
    since = key_since(state)
    return None if since is None else (now - since).total_seconds() / 86400


def decide_start(
    state: RotationState,
    paths: Paths,
    *,
    age_days: float | None,
    max_age_days: int,
    manual: bool,
    force: bool,
    now: datetime,
) -> StartDecision:
    if state.phase.in_progress:
        return StartDecision(False, f"rotation {state.rotation_id} is already {state.phase.value}")
    if not manual and age_days is not None and age_days < max_age_days:
        return StartDecision(False, f"key is {age_days:.1f} days old; due at {max_age_days} days")
    if (
        not manual
        and state.phase is Phase.ROLLED_BACK
        and state.started_at
        and now - state.started_at < ROLLBACK_COOLDOWN
    ):
        return StartDecision(
            False, f"the last rotation was rolled back; retried {ROLLBACK_COOLDOWN} after it started"
        )
    if not paths.expressroute_up and not force:
        return StartDecision(
            False,
            f"refused: ExpressRoute is {paths.expressroute_status or 'unknown'}, so the VPN may be the only "
            "working path and re-keying it could cut traffic (use force to override)",
        )
    why = (
        "on demand"
        if manual
        else ("no key age known" if age_days is None else f"key is {age_days:.1f} days old")
    )
    return StartDecision(True, why + (" (forced)" if force and not paths.expressroute_up else ""))


def next_step(
    state: RotationState,
    paths: Paths,
    now: datetime,
    peer_deadline: timedelta,
    settle: timedelta = timedelta(minutes=10),
) -> Step:
    expressroute_lost = state.expressroute_up_at_start and not paths.expressroute_up
    if state.phase is Phase.STARTED:
        return Step.ESCROW
    if state.phase is Phase.ESCROWED:
        # The new key may already be in Azure (a write that landed before a crash) or with the peer
        # (it fetches the pending version): with ExpressRoute lost, go back to the previous key.
        return Step.ROLLBACK if expressroute_lost else Step.APPLY
    if state.phase is Phase.ROLLING_BACK:
        return Step.ROLLBACK
    if state.phase is Phase.AWAITING_PEER:
        since = state.awaiting_since or state.started_at or now
        if paths.vpn_up:
            settled = state.peer_seen_down or now - since >= settle
            return Step.COMPLETE if settled else Step.WAIT
        if expressroute_lost:
            return Step.ROLLBACK  # the backup is needed now, and it is down because of us
        if not state.peer_seen_down:
            return Step.PEER_DOWN
        if not state.alerted and now - since >= peer_deadline:
            return Step.ALERT
    return Step.WAIT


def started(
    state: RotationState, rotation_id: str, now: datetime, *, expressroute_up: bool = True
) -> RotationState:
    return replace(
        state,
        expressroute_up_at_start=expressroute_up,
        phase=Phase.STARTED,
        rotation_id=rotation_id,
        started_at=now,
        pending_version=None,
        staged_version=None,
        awaiting_since=None,
        alerted=False,
        peer_seen_down=False,
        detail="",
    )


def escrowed(state: RotationState, staged_version: str | None, previous_version: str | None) -> RotationState:
    """The new key is in Key Vault's staging secret (the appliance does not read it yet)."""
    return replace(
        state, phase=Phase.ESCROWED, staged_version=staged_version, previous_version=previous_version
    )


def awaiting_peer(
    state: RotationState, now: datetime, *, pending_version: str | None = None
) -> RotationState:
    """Azure has the new key, and it is published for the appliance as `pending_version`."""
    return replace(
        state,
        phase=Phase.AWAITING_PEER,
        awaiting_since=now,
        pending_version=pending_version or state.pending_version,
    )


def peer_down(state: RotationState) -> RotationState:
    return replace(state, peer_seen_down=True)


def rolling_back(state: RotationState, why: str = "") -> RotationState:
    """`why`: what was observed (kept in `detail`, so that a resumed rollback still says it)."""
    return replace(state, phase=Phase.ROLLING_BACK, detail=why or state.detail)


def alerted(state: RotationState) -> RotationState:
    return replace(state, alerted=True)


def completed(state: RotationState, now: datetime) -> RotationState:
    return replace(
        state, phase=Phase.COMPLETED, last_rotated_at=now, detail="the on-premises peer uses the new key"
    )


def rolled_back(state: RotationState, detail: str) -> RotationState:
    return replace(state, phase=Phase.ROLLED_BACK, detail=detail)
