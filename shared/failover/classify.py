"""Classify a site's path observations into failover transitions. Pure: no I/O, no Azure SDK.

A site is in one of four *conditions*, derived from its two connections' status:

    healthy       ExpressRoute carries, the VPN backup is up
    backup-down   ExpressRoute carries, the VPN backup is down      (the silently rotting backup)
    failed-over   the VPN carries, ExpressRoute is down
    outage        no path

Every change of condition is one transition (the table is `TRANSITIONS`). A new condition counts only
after it has been observed `hold_count` consecutive times (flap handling); until then it is *pending*
in the state. The first observation ever establishes a baseline and records nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from shared.failover.paths import CONNECTED, ActivePath, active_path


class Condition(StrEnum):
    HEALTHY = "healthy"
    BACKUP_DOWN = "backup-down"
    FAILED_OVER = "failed-over"
    OUTAGE = "outage"

    @property
    def path(self) -> ActivePath:
        if self in (Condition.HEALTHY, Condition.BACKUP_DOWN):
            return ActivePath.EXPRESSROUTE
        return ActivePath.VPN if self is Condition.FAILED_OVER else ActivePath.NONE

    @property
    def backup_up(self) -> bool:
        """Whether the VPN tunnel is connected (it carries traffic when failed over)."""
        return self in (Condition.HEALTHY, Condition.FAILED_OVER)


class TransitionKind(StrEnum):
    FAILOVER = "failover"
    FAILBACK = "failback"
    OUTAGE = "outage"
    RECOVERY = "recovery"
    BACKUP_LOST = "backup-lost"
    BACKUP_RESTORED = "backup-restored"
    # route facts (shared.failover.routes.FACT_KINDS), recorded by the route check
    BACKUP_PREFERRED = "backup-preferred"
    BACKUP_PREFERRED_CLEARED = "backup-preferred-cleared"
    REDUNDANCY_LOST = "redundancy-lost"
    REDUNDANCY_RESTORED = "redundancy-restored"
    PREFIX_UNREACHABLE = "prefix-unreachable"
    PREFIX_RESTORED = "prefix-restored"


_H, _B, _F, _O = Condition.HEALTHY, Condition.BACKUP_DOWN, Condition.FAILED_OVER, Condition.OUTAGE

# (from, to) -> kind, for every pair of distinct conditions. Decisions worth stating:
# - ExpressRoute and VPN lost together (healthy -> outage) is an outage, never a failover;
# - leaving an outage is a recovery whichever path comes back (the event's toPath says which);
# - ExpressRoute back while the VPN went down (failed-over -> backup-down) is a failback: the primary
#   is what matters; the row's vpnStatus / backupUp show the backup is down, and its recovery later
#   is recorded as backup-restored;
# - backup-down -> failed-over (ExpressRoute lost, VPN back at once) is a failover: the VPN carries.
TRANSITIONS: dict[tuple[Condition, Condition], TransitionKind] = {
    (_H, _B): TransitionKind.BACKUP_LOST,
    (_H, _F): TransitionKind.FAILOVER,
    (_H, _O): TransitionKind.OUTAGE,
    (_B, _H): TransitionKind.BACKUP_RESTORED,
    (_B, _F): TransitionKind.FAILOVER,
    (_B, _O): TransitionKind.OUTAGE,
    (_F, _H): TransitionKind.FAILBACK,
    (_F, _B): TransitionKind.FAILBACK,
    (_F, _O): TransitionKind.OUTAGE,
    (_O, _H): TransitionKind.RECOVERY,
    (_O, _B): TransitionKind.RECOVERY,
    (_O, _F): TransitionKind.RECOVERY,
}


ROUTES_WITHDRAWN = "RoutesWithdrawn"  # a Connected connection whose routes carry no on-premises prefix


def condition_of(
    expressroute_status: str | None,
    vpn_status: str | None,
    *,
    expressroute_withdrawn: bool = False,
    vpn_withdrawn: bool = False,
) -> Condition:
    """A path carries when its connection is Connected and (as far as the route check saw) its routes
    were not withdrawn: BGP gone while the connection still says Connected is a down path."""
    if expressroute_withdrawn and expressroute_status == CONNECTED:
        expressroute_status = ROUTES_WITHDRAWN
    if vpn_withdrawn and vpn_status == CONNECTED:
        vpn_status = ROUTES_WITHDRAWN
    path = active_path(expressroute_status, vpn_status)
    if path is ActivePath.EXPRESSROUTE:
        return Condition.HEALTHY if vpn_status == CONNECTED else Condition.BACKUP_DOWN
    return Condition.FAILED_OVER if path is ActivePath.VPN else Condition.OUTAGE


@dataclass(frozen=True)
class Observation:
    """Both paths' connection status (a GET's connectionStatus; None when unreadable or absent) at `at`,
    and whether the route check found a Connected path's routes withdrawn."""

    expressroute_status: str | None
    vpn_status: str | None
    at: datetime
    expressroute_withdrawn: bool = False
    vpn_withdrawn: bool = False

    @property
    def condition(self) -> Condition:
        return condition_of(
            self.expressroute_status,
            self.vpn_status,
            expressroute_withdrawn=self.expressroute_withdrawn,
            vpn_withdrawn=self.vpn_withdrawn,
        )


@dataclass(frozen=True)
class SiteState:
    """What is recorded about a site. `since` is when the current condition began; the `*_since` fields
    open the episodes a later transition closes (None when no such episode is open). `pending*` is the
    streak of a different condition not yet held `hold_count` times (always None with hold_count 1)."""

    condition: Condition
    since: datetime
    expressroute_down_since: datetime | None = None
    backup_down_since: datetime | None = None
    outage_since: datetime | None = None
    pending: Condition | None = None
    pending_count: int = 0
    pending_since: datetime | None = None
    # The latest route check's view (JSON: shared.services.failover), carried across transitions.
    routes_json: str | None = None

    @property
    def path(self) -> ActivePath:
        return self.condition.path

    @property
    def backup_up(self) -> bool:
        return self.condition.backup_up


@dataclass(frozen=True)
class Transition:
    kind: TransitionKind
    from_condition: Condition
    to_condition: Condition
    started_at: datetime  # first observation of the new condition (the change's onset)
    detected_at: datetime  # the observation that confirmed it (hold_count reached)
    duration_seconds: float | None  # the episode this transition closes (failback/recovery/backup-restored)

    @property
    def from_path(self) -> ActivePath:
        return self.from_condition.path

    @property
    def to_path(self) -> ActivePath:
        return self.to_condition.path


def baseline(observation: Observation) -> SiteState:
    """The first state of a site: its episodes are open since now (their true start is unknown)."""
    cond, at = observation.condition, observation.at
    return SiteState(
        condition=cond,
        since=at,
        expressroute_down_since=None if cond.path is ActivePath.EXPRESSROUTE else at,
        backup_down_since=None if cond.backup_up else at,
        outage_since=at if cond is Condition.OUTAGE else None,
    )


def _seconds(start: datetime | None, end: datetime) -> float | None:
    return None if start is None else max(0.0, round((end - start).total_seconds(), 3))


def _enter(previous: SiteState, new: Condition, onset: datetime) -> SiteState:
    """The state after moving to `new` at `onset`: episodes open and close with their conditions."""
    return SiteState(
        condition=new,
        since=onset,
        expressroute_down_since=(
            None if new.path is ActivePath.EXPRESSROUTE else previous.expressroute_down_since or onset
        ),
        backup_down_since=None if new.backup_up else previous.backup_down_since or onset,
        outage_since=(previous.outage_since or onset) if new is Condition.OUTAGE else None,
        routes_json=previous.routes_json,
    )


def _duration(kind: TransitionKind, previous: SiteState, onset: datetime) -> float | None:
    if kind is TransitionKind.FAILBACK:
        return _seconds(previous.expressroute_down_since, onset)
    if kind is TransitionKind.RECOVERY:
        return _seconds(previous.outage_since, onset)
    if kind is TransitionKind.BACKUP_RESTORED:
        return _seconds(previous.backup_down_since, onset)
    return None


def classify(
    previous: SiteState | None, observation: Observation, hold_count: int = 1
) -> tuple[SiteState, Transition | None]:
    """The new state and the transition to record (None: nothing to record).

    The new state equals `previous` exactly when nothing needs writing (steady state)."""
    if hold_count < 1:
        raise ValueError(f"hold_count must be at least 1, got {hold_count}")
    if previous is None:
        return baseline(observation), None
    observed = observation.condition
    if observed is previous.condition:
        if previous.pending is None:
            return previous, None
        return replace(previous, pending=None, pending_count=0, pending_since=None), None  # a flap ended
    if previous.pending is observed:
        count, onset = previous.pending_count + 1, previous.pending_since or observation.at
    else:
        count, onset = 1, observation.at
    if count < hold_count:
        return replace(previous, pending=observed, pending_count=count, pending_since=onset), None
    kind = TRANSITIONS[(previous.condition, observed)]
    transition = Transition(
        kind=kind,
        from_condition=previous.condition,
        to_condition=observed,
        started_at=onset,
        detected_at=observation.at,
        duration_seconds=_duration(kind, previous, onset),
    )
    return _enter(previous, observed, onset), transition
