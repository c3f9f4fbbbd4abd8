"""Failover drills, pure: preconditions and the drill's persisted, resumable state machine.

No I/O, no SDK. The service reads route truth (``shared.failover.routes.analyse``), calls the
ExpressRoute site failover simulation APIs when a step asks for it, persists the ``Drill`` after every
step (its ``to_json``/``from_json`` round-trip) and resumes it on the next run, under the site's lease.

Phases: ``planned`` -> ``starting`` (start the simulation for the circuit's peering location) ->
``failing-over`` (watch every declared prefix move to the VPN, by route truth, within a deadline) ->
``holding`` (hold for the configured time) -> ``stopping`` (stop the simulation, reporting
``wasSimulationSuccessful``) -> ``failing-back`` (watch every declared prefix come back to
ExpressRoute) -> ``done`` with a result: ``passed`` / ``failed`` / ``aborted`` (or ``refused`` when a
precondition did not hold, ``planned`` when drill mode is ``report``).

Safety: while the simulation runs (failing-over, holding) the drill aborts at once - the next step is
``stop`` - when a declared prefix becomes unreachable, the VPN drops, a real failover is detected, or
the phase's deadline passes. A drill resumed past its deadline (its host died) is aborted the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.failover.routes import EXPRESSROUTE, VPN, RouteAnalysis

MODES = ("report", "enforce")
PLANNED, STARTING, FAILING_OVER, HOLDING, STOPPING, FAILING_BACK, DONE = (
    "planned",
    "starting",
    "failing-over",
    "holding",
    "stopping",
    "failing-back",
    "done",
)
PHASES = (PLANNED, STARTING, FAILING_OVER, HOLDING, STOPPING, FAILING_BACK, DONE)
# phases during which the simulation may be running: a drill found here must end with a stop
SIMULATING = (STARTING, FAILING_OVER, HOLDING, STOPPING)
ACTIVE = (STARTING, FAILING_OVER, HOLDING, STOPPING, FAILING_BACK)
PASSED, FAILED, ABORTED, REFUSED = "passed", "failed", "aborted", "refused"
RESULTS = (PASSED, FAILED, ABORTED, REFUSED, PLANNED)
START, STOP = "start", "stop"


class DrillDataError(ValueError):
    """A stored drill that cannot be read back; the message names the field."""


@dataclass(frozen=True)
class DrillConfig:
    failover_deadline: timedelta = timedelta(minutes=5)
    hold: timedelta = timedelta(minutes=2)
    failback_deadline: timedelta = timedelta(minutes=5)
    # how long a stop may keep failing before the drill is only retried by the timer (never given up)
    stop_deadline: timedelta = timedelta(minutes=5)

    def deadline_of(self, phase: str) -> timedelta:
        return {
            STARTING: self.stop_deadline,
            FAILING_OVER: self.failover_deadline,
            HOLDING: self.hold,
            STOPPING: self.stop_deadline,
            FAILING_BACK: self.failback_deadline,
        }.get(phase, timedelta(0))


# --- preconditions -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Refusal:
    code: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "reason": self.reason}


@dataclass(frozen=True)
class SiteFacts:
    """What the preconditions look at, read by the service."""

    site: str
    routes: RouteAnalysis | None
    vpn_status: str | None  # the site-to-site connection's status
    peering_location: str | None  # the circuit's peering location
    rotation_in_progress: bool = False
    running_drill: str | None = None  # id of another drill not done
    open_incidents: tuple[str, ...] = ()  # open failover / outage rows
    mode: str = "report"


def route_refusals(routes: RouteAnalysis | None) -> list[Refusal]:
    """The site is healthy by route truth: ExpressRoute carries every declared prefix and the VPN
    would carry each of them (it has a route for it)."""
    if routes is None:
        return [Refusal("route-truth-unknown", "route truth has not been read for this site")]
    if not routes.complete:
        errs = "; ".join(f"{k}: {v}" for k, v in sorted(routes.errors.items()))
        return [Refusal("route-truth-unknown", f"route truth is incomplete ({errs})")]
    out: list[Refusal] = []
    for row in routes.rows:
        if not row.declared:
            continue
        carrier = row.carried_by.path if row.carried_by else None
        if carrier != EXPRESSROUTE:
            out.append(
                Refusal(
                    "expressroute-not-carrying",
                    f"prefix {row.prefix} is {row.state}: ExpressRoute does not carry it",
                )
            )
        elif row.alternative is None or row.alternative.path != VPN:
            out.append(Refusal("vpn-cannot-carry", f"prefix {row.prefix}: the VPN has no route for it"))
    if not any(r.declared for r in routes.rows):
        out.append(Refusal("no-declared-prefix", "the site declares no on-premises prefix"))
    return out


def preconditions(facts: SiteFacts) -> list[Refusal]:
    """Every reason the drill must not run, in a stable order; empty when it may."""
    out: list[Refusal] = []
    if facts.mode not in MODES:
        out.append(Refusal("bad-mode", f"drill mode {facts.mode!r} is not one of {', '.join(MODES)}"))
    if facts.vpn_status != "Connected":
        out.append(
            Refusal(
                "vpn-not-connected", f"the VPN connection is {facts.vpn_status or 'unknown'}, not Connected"
            )
        )
    out.extend(route_refusals(facts.routes))
    if not facts.peering_location:
        out.append(Refusal("no-peering-location", "the site's circuit has no peering location"))
    if facts.rotation_in_progress:
        out.append(Refusal("rotation-in-progress", "a key rotation is in progress for this site"))
    if facts.running_drill:
        out.append(Refusal("drill-in-progress", f"drill {facts.running_drill} is still running"))
    for incident in facts.open_incidents:
        out.append(Refusal("open-incident", f"open failover or outage: {incident}"))
    if facts.mode == "report" and not out:
        out.append(Refusal("report-mode", "HYBRIDNET_DRILL_MODE is report: the drill is planned, not run"))
    return out


# --- the drill -----------------------------------------------------------------------------------
def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(text: str, what: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError, AttributeError):
        raise DrillDataError(f"drill {what}: {text!r} is not an ISO time") from None
    if when.tzinfo is None:
        raise DrillDataError(f"drill {what}: {text!r} has no time zone")
    return when


@dataclass(frozen=True)
class Drill:
    id: str
    site: str
    peering_location: str
    phase: str
    created_at: str
    phase_since: str
    result: str | None = None  # decided outcome; final when phase is done
    reason: str = ""
    stop_successful: bool | None = None  # wasSimulationSuccessful to report on stop
    failover_seconds: float | None = None
    failback_seconds: float | None = None
    not_moved: tuple[str, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    log: tuple[Mapping[str, Any], ...] = ()  # evidence: every transition with what was seen
    test_id: str | None = None  # the simulation's failoverTestId once known

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "site": self.site,
            "peeringLocation": self.peering_location,
            "phase": self.phase,
            "createdAt": self.created_at,
            "phaseSince": self.phase_since,
            "result": self.result,
            "reason": self.reason,
            "stopSuccessful": self.stop_successful,
            "failoverSeconds": self.failover_seconds,
            "failbackSeconds": self.failback_seconds,
            "notMoved": list(self.not_moved),
            "refusals": [r.to_json() for r in self.refusals],
            "log": [dict(e) for e in self.log],
            "testId": self.test_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Drill:
        try:
            phase = data["phase"]
            if phase not in PHASES:
                raise DrillDataError(f"drill phase: {phase!r} is not one of {', '.join(PHASES)}")
            result = data.get("result")
            if result is not None and result not in RESULTS:
                raise DrillDataError(f"drill result: {result!r} is not one of {', '.join(RESULTS)}")
            drill = cls(
                id=str(data["id"]),
                site=str(data["site"]),
                peering_location=str(data.get("peeringLocation") or ""),
                phase=phase,
                created_at=data["createdAt"],
                phase_since=data["phaseSince"],
                result=result,
                reason=str(data.get("reason") or ""),
                stop_successful=data.get("stopSuccessful"),
                failover_seconds=data.get("failoverSeconds"),
                failback_seconds=data.get("failbackSeconds"),
                not_moved=tuple(data.get("notMoved") or ()),
                refusals=tuple(Refusal(r["code"], r["reason"]) for r in data.get("refusals") or ()),
                log=tuple(data.get("log") or ()),
                test_id=data.get("testId"),
            )
        except KeyError as missing:
            raise DrillDataError(f"drill: field {missing.args[0]!r} is missing") from None
        _parse(drill.created_at, "createdAt")
        _parse(drill.phase_since, "phaseSince")
        return drill


def plan(*, drill_id: str, facts: SiteFacts, now: datetime) -> Drill:
    """A new drill: ``starting`` when every precondition holds, else done and refused (or planned in
    report mode) with every reason."""
    refusals = preconditions(facts)
    base = Drill(
        id=drill_id,
        site=facts.site,
        peering_location=facts.peering_location or "",
        phase=STARTING,
        created_at=_iso(now),
        phase_since=_iso(now),
        refusals=tuple(refusals),
        log=({"at": _iso(now), "phase": STARTING, "note": "preconditions hold"},),
    )
    if not refusals:
        return base
    only_report = [r.code for r in refusals] == ["report-mode"]
    result = PLANNED if only_report else REFUSED
    reason = "; ".join(r.reason for r in refusals)
    return replace(
        base,
        phase=DONE,
        result=result,
        reason=reason,
        log=({"at": _iso(now), "phase": DONE, "note": reason},),
    )


@dataclass(frozen=True)
class Observation:
    """What the service saw on one step."""

    now: datetime
    routes: RouteAnalysis | None
    vpn_status: str | None
    real_failover: str | None = None  # a real incident detected meanwhile (its description)


@dataclass(frozen=True)
class Step:
    drill: Drill
    action: str | None = None  # START | STOP | None: what the service must do before the next step


def _declared(routes: RouteAnalysis) -> list[Any]:
    return [r for r in routes.rows if r.declared]


def _on(routes: RouteAnalysis, path: str) -> tuple[list[str], list[str]]:
    """(prefixes carried by ``path``, the others) among the declared ones."""
    on, off = [], []
    for row in _declared(routes):
        (on if row.carried_by is not None and row.carried_by.path == path else off).append(row.prefix)
    return on, off


def _move(drill: Drill, *, phase: str, now: datetime, note: str, **changes: Any) -> Drill:
    entry = {"at": _iso(now), "phase": phase, "note": note}
    return replace(drill, phase=phase, phase_since=_iso(now), log=(*drill.log, entry), **changes)


def _elapsed(drill: Drill, now: datetime) -> float:
    return (now - _parse(drill.phase_since, "phaseSince")).total_seconds()


def _abort(drill: Drill, now: datetime, reason: str, *, not_moved: tuple[str, ...] = ()) -> Step:
    moved = _move(
        drill,
        phase=STOPPING,
        now=now,
        note=f"abort: {reason}",
        result=ABORTED,
        reason=reason,
        stop_successful=False,
        not_moved=not_moved or drill.not_moved,
    )
    return Step(moved, STOP)


def _safety(drill: Drill, obs: Observation) -> str | None:
    """Why the running simulation must stop at once, if it must."""
    if obs.real_failover:
        return f"a real failover was detected: {obs.real_failover}"
    if obs.vpn_status != "Connected":
        return f"the VPN connection is {obs.vpn_status or 'unknown'}"
    if obs.routes is not None:
        lost = [r.prefix for r in _declared(obs.routes) if r.state == "unreachable"]
        if lost:
            return f"declared prefix unreachable: {', '.join(lost)}"
    return None


def advance(drill: Drill, obs: Observation, config: DrillConfig) -> Step:
    """The next state of an active drill given what was seen now, and the action to take."""
    now = obs.now
    if drill.phase == STARTING:
        # the start was asked (or its outcome is unknown after a crash): past the deadline, stop
        if _elapsed(drill, now) > config.deadline_of(STARTING).total_seconds():
            return _abort(drill, now, "the simulation did not start before its deadline")
        return Step(drill, START)
    if drill.phase in (FAILING_OVER, HOLDING):
        why = _safety(drill, obs)
        if why:
            not_moved = tuple(_on(obs.routes, VPN)[1]) if obs.routes is not None else ()
            return _abort(drill, now, why, not_moved=not_moved if drill.phase == FAILING_OVER else ())
        elapsed = _elapsed(drill, now)
        if drill.phase == FAILING_OVER:
            if obs.routes is not None and obs.routes.complete:
                on_vpn, off = _on(obs.routes, VPN)
                if not off and on_vpn:
                    held = _move(
                        drill,
                        phase=HOLDING,
                        now=now,
                        note=f"every declared prefix on the VPN: {', '.join(on_vpn)}",
                        failover_seconds=round(elapsed, 3),
                    )
                    return Step(held)
            else:
                off = []
            if elapsed > config.failover_deadline.total_seconds():
                reason = "the VPN did not take over every declared prefix before the deadline"
                moved = _move(
                    drill,
                    phase=STOPPING,
                    now=now,
                    note=reason,
                    result=FAILED,
                    reason=reason,
                    stop_successful=False,
                    not_moved=tuple(off),
                )
                return Step(moved, STOP)
            return Step(drill)
        if elapsed >= config.hold.total_seconds():
            moved = _move(drill, phase=STOPPING, now=now, note="hold complete", stop_successful=True)
            return Step(moved, STOP)
        return Step(drill)
    if drill.phase == STOPPING:
        return Step(drill, STOP)  # retried until a stop succeeds: the simulation must end
    if drill.phase == FAILING_BACK:
        if obs.routes is not None and obs.routes.complete:
            on_er, off = _on(obs.routes, EXPRESSROUTE)
            if not off and on_er:
                return Step(
                    _finish(
                        drill,
                        now,
                        note="every declared prefix back on ExpressRoute",
                        failback_seconds=round(_elapsed(drill, now), 3),
                    )
                )
        if _elapsed(drill, now) > config.failback_deadline.total_seconds():
            reason = "ExpressRoute did not carry every declared prefix again before the deadline"
            result = drill.result if drill.result in (ABORTED, FAILED) else FAILED
            why = drill.reason if drill.result in (ABORTED, FAILED) else reason
            return Step(_finish(drill, now, note=reason, result=result, reason=why))
        return Step(drill)
    return Step(drill)


def start_failed(drill: Drill, *, now: datetime, error: str) -> Step:
    """The start operation failed: abort, stopping whatever may have started."""
    return _abort(drill, now, f"the simulation could not be started: {error}"[:500])


def started(drill: Drill, *, now: datetime, test_id: str | None) -> Drill:
    """The start operation completed: watch the prefixes move."""
    return _move(drill, phase=FAILING_OVER, now=now, note="simulation started", test_id=test_id)


def stopped(drill: Drill, *, now: datetime) -> Drill:
    """The stop operation completed: watch failback."""
    return _move(drill, phase=FAILING_BACK, now=now, note="simulation stopped")


def _finish(drill: Drill, now: datetime, *, note: str, **changes: Any) -> Drill:
    result = changes.pop("result", drill.result or PASSED)
    return _move(drill, phase=DONE, now=now, note=note, result=result, **changes)


def recover(drill: Drill, *, now: datetime, config: DrillConfig, grace: timedelta) -> Step | None:
    """A drill found active by the timer, not owned by a live run (its lease expired): past its phase's
    deadline plus ``grace`` its host is taken as lost - abort it (stop the simulation) if it may still
    be running. ``None`` when it is not overdue."""
    if drill.phase not in ACTIVE:
        return None
    overdue = _elapsed(drill, now) > (config.deadline_of(drill.phase) + grace).total_seconds()
    if not overdue:
        return None
    reason = f"resumed past its deadline in phase {drill.phase}: the host running it was lost"
    if drill.phase in SIMULATING:
        if drill.phase == STOPPING:
            return Step(drill, STOP)
        return _abort(drill, now, reason)
    return Step(
        _finish(drill, now, note=reason, result=drill.result or ABORTED, reason=drill.reason or reason)
    )


def days_since_pass(drills: list[Drill], *, now: datetime) -> float | None:
    """Days since the last passing drill, None when none passed."""
    passes = [_parse(d.phase_since, "phaseSince") for d in drills if d.phase == DONE and d.result == PASSED]
    if not passes:
        return None
    return round((now - max(passes)).total_seconds() / 86400, 2)


@dataclass(frozen=True)
class DrillSummary:
    """The health report's view: the last drill and days since the last passing drill."""

    last: Drill | None
    days_since_pass: float | None
    max_age_days: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def degraded(self) -> bool:
        if self.max_age_days is None:
            return False
        return self.days_since_pass is None or self.days_since_pass > self.max_age_days

    def to_json(self) -> dict[str, Any]:
        last = self.last
        return {
            "last": None
            if last is None
            else {
                "id": last.id,
                "phase": last.phase,
                "result": last.result,
                "reason": last.reason,
                "at": last.phase_since,
                "failoverSeconds": last.failover_seconds,
                "failbackSeconds": last.failback_seconds,
                "notMoved": list(last.not_moved),
            },
            "daysSincePass": self.days_since_pass,
            "maxAgeDays": self.max_age_days,
            "degraded": self.degraded,
        }


CLOUD_EVENT_TYPES = {
    PASSED: "Hybridnet.Drill.Passed",
    FAILED: "Hybridnet.Drill.Failed",
    ABORTED: "Hybridnet.Drill.Aborted",
}
