"""Failover detection: observe a site's two connections, classify against the recorded state, confirm,
record exactly once, publish.

Cost of a check that finds nothing new: 1 Table read (the state entity) and 2 ARM GETs, no write. The
state entity is rewritten only when something changes: a transition (together with its event row, in one
transaction), the baseline, or — only with HYBRIDNET_FAILOVER_HOLD_COUNT > 1 — a flap streak starting,
growing or ending. The streak must live in the state entity then, because consecutive observations come
from different invocations (timer, alerts) and possibly different instances; with a hold count of 1 a
new condition is a transition at once, so no streak is ever stored and a no-change poll writes nothing.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.azure.arm import network_client
from shared.azure.budget import TokenBucket
from shared.azure.cloudevents_out import publish_failover_event
from shared.azure.failover_store import (
    Ambiguous,
    Conflict,
    StoredState,
    commit,
    delete_events_before,
    event_entity,
    event_json,
    fact_event_entity,
    new_event_id,
    read_state,
)
from shared.azure.health_snapshot import claim_refresh
from shared.azure.learned_routes import read_gateway_routes, read_local_gateway
from shared.azure.network_reads import ResourceRead, read_connection
from shared.azure.tables import table_service
from shared.errors import ObservationFailed as AppObservationFailed
from shared.failover.classify import Condition, Observation, SiteState, classify
from shared.failover.paths import CONNECTED
from shared.failover.route_cadence import (
    INLINE_ROUTE_CHECKS_PER_MINUTE,
    ROUTE_CONCURRENCY,
    due_for_routes,
)
from shared.failover.routes import (
    EXPRESSROUTE,
    VPN,
    Connection,
    FactState,
    FactTransition,
    RouteAnalysis,
    analyse,
    classify_facts,
)
from shared.services.coalesce import Coalescer
from shared.settings import Settings
from shared.spec import Site
from shared.spec_source import current_spec
from shared.telemetry import site_operation

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient
    from azure.mgmt.network import NetworkManagementClient

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6  # conflicts/unknown outcomes/unstable re-reads before giving up until the next check
Clock = Callable[[], datetime]


class ObservationFailed(AppObservationFailed):
    """A connection could not be read: an ARM problem is not a network outage, so nothing is classified.
    `reads` holds what was read (the health snapshot shows the error per connection)."""

    def __init__(self, message: str, reads: tuple[ResourceRead, ResourceRead] | None = None) -> None:
        super().__init__(message)
        self.reads = reads


@dataclass(frozen=True)
class CheckResult:
    site: str
    condition: Condition
    # baseline | unchanged | pending | recorded | already-recorded | unconfirmed; for an alert answered
    # by another instance's check: checked-elsewhere (the condition is then the recorded one);
    # internally route-check-due (never returned by check_site)
    outcome: str
    event: dict[str, Any] | None = None
    published: bool = False
    # The last reads of (ExpressRoute, VPN) connection: status, provisioning state, bytes (health snapshot).
    reads: tuple[ResourceRead, ResourceRead] | None = None
    coalesced: bool = False  # an alert answered by a check shared with other alerts
    routes: dict[str, Any] | None = None  # the route view in force (RouteView.to_report)
    events: tuple[dict[str, Any], ...] = ()  # every row recorded (a route check may record several)

    def to_json(self) -> dict[str, Any]:
        body = {
            "site": self.site,
            "condition": self.condition.value,
            "activePath": self.condition.path.value,
            "backupUp": self.condition.backup_up,
            "outcome": self.outcome,
            "event": self.event,
            "published": self.published,
        }
        if self.coalesced:
            body["coalesced"] = True
        if len(self.events) > 1:
            body["events"] = list(self.events)
        return body


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ReadObservation(Observation):
    """An observation with the reads it came from (status, provisioning state, bytes: the health
    snapshot shows them)."""

    reads: tuple[ResourceRead, ResourceRead] | None = None
    connection_reads: tuple[ResourceRead, ...] = ()  # every connection, ExpressRoute's first


def _path_read(reads: list[ResourceRead]) -> ResourceRead:
    """A path's representative read: a Connected connection if any, else the first."""
    return next((r for r in reads if r.connection_status == CONNECTED), reads[0])


def observe(client: NetworkManagementClient, site: Site, now: Clock = _now) -> Observation:
    """One GET per connection (a list may omit connectionStatus). A path is Connected when any of its
    connections is. A deleted connection is a down path; an unreadable one raises ObservationFailed."""
    rg = site.resource_group
    er_reads = [read_connection(client, rg, c.name) for c in site.express_route.connections]
    vpn_reads = [read_connection(client, rg, c.name) for c in site.vpn.connections]
    er, vpn = _path_read(er_reads), _path_read(vpn_reads)
    failed = [f"{r.name}: {r.error}" for r in (*er_reads, *vpn_reads) if r.error]
    if failed:
        raise ObservationFailed(
            f"site {site.name}: cannot read {'; '.join(failed)}; nothing classified", reads=(er, vpn)
        )
    return ReadObservation(
        er.connection_status,
        vpn.connection_status,
        now(),
        reads=(er, vpn),
        connection_reads=(*er_reads, *vpn_reads),
    )


def _reads(observation: Observation) -> tuple[ResourceRead, ResourceRead] | None:
    return observation.reads if isinstance(observation, ReadObservation) else None


# --- the route check ------------------------------------------------------------------------------------

ROUTE_CLAIMS = "routes"  # partition of the per-site route-check claim rows in the health table
CLAIM_SLACK = 0.8
MAX_FACT_ROWS = 90  # route-fact rows per transaction (with the state entity and a condition row: < 100)
MAX_ROWS = 200  # per-prefix rows kept in the state entity (Table properties hold 64 KiB)
_route_checks = Coalescer()
# The status poll's inline route checks, all polls of this instance together (shared.failover.route_cadence)
_inline_routes = TokenBucket(
    capacity=INLINE_ROUTE_CHECKS_PER_MINUTE, per_second=INLINE_ROUTE_CHECKS_PER_MINUTE / 60.0
)


class _Backlog:
    """Sites a poll decided on statuses alone although their route view was stale (the inline allowance
    was spent, or a first transition came before the first route check): the route timer checks them
    first. Per instance and best effort: the stale view itself is kept in the state entity, so a poll
    on any instance asks again, and the route timer's slices reach every site in turn."""

    MAX = 5000  # the spec's site cap

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: dict[str, None] = {}  # insertion-ordered: longest waiting first

    def add(self, name: str) -> None:
        with self._lock:
            if name not in self._names and len(self._names) < self.MAX:
                self._names[name] = None

    def discard(self, name: str) -> None:
        with self._lock:
            self._names.pop(name, None)

    def names(self) -> list[str]:
        with self._lock:
            return list(self._names)


_route_backlog = _Backlog()


@dataclass(frozen=True)
class RouteView:
    """What the latest route check saw, kept in the site's state entity (`routes`): the connection
    status it was taken under (a later status change makes it stale and asks for a new check), the
    withdrawn paths, the per-prefix rows (each with `since`), the redundancy and the route facts."""

    checked_at: str
    statuses: tuple[str | None, str | None]
    withdrawn: frozenset[str]
    rows: tuple[dict[str, Any], ...]
    redundancy: tuple[dict[str, Any], ...]
    errors: dict[str, str]
    facts: FactState

    def to_json(self) -> str:
        return json.dumps(
            {
                "checkedAt": self.checked_at,
                "statuses": {"expressRoute": self.statuses[0], "vpn": self.statuses[1]},
                "withdrawn": sorted(self.withdrawn),
                "prefixes": list(self.rows),
                "redundancy": list(self.redundancy),
                "errors": self.errors,
                "facts": self.facts.to_json(),
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def parse(cls, text: str | None) -> RouteView | None:
        if not text:
            return None
        try:
            body = json.loads(text)
            statuses = body.get("statuses") or {}
            return cls(
                checked_at=str(body.get("checkedAt") or ""),
                statuses=(statuses.get("expressRoute"), statuses.get("vpn")),
                withdrawn=frozenset(body.get("withdrawn") or ()),
                rows=tuple(body.get("prefixes") or ()),
                redundancy=tuple(body.get("redundancy") or ()),
                errors=dict(body.get("errors") or {}),
                facts=FactState.from_json(body.get("facts")),
            )
        except (ValueError, TypeError, AttributeError):
            log.warning("a stored route view could not be parsed; the next route check replaces it")
            return None

    def to_report(self) -> dict[str, Any]:
        """The view as the health snapshot and report show it."""
        return {
            "checkedAt": self.checked_at,
            "withdrawn": sorted(self.withdrawn),
            "prefixes": list(self.rows),
            "redundancy": list(self.redundancy),
            "errors": self.errors,
            "activeFacts": sorted(self.facts.active),
        }


def _route_inputs(
    client: NetworkManagementClient, site: Site, observation: ReadObservation, timeout: float
) -> RouteAnalysis:
    """The route check's reads: each gateway's learned routes + the ExpressRoute gateway's BGP peers
    (POST long-running operations, gateways in parallel) and each local network gateway (GET)."""
    rg = site.resource_group
    status = {r.name.lower(): r.connection_status for r in observation.connection_reads}
    lngs = {g.name.lower(): read_local_gateway(client, rg, g.name) for g in site.vpn.local_network_gateways}
    connections: list[Connection] = [
        Connection(c.name, EXPRESSROUTE, site.express_route.gateway.name, status.get(c.name.lower()))
        for c in site.express_route.connections
    ]
    for c in site.vpn.connections:
        lng = lngs[site.vpn.lng_of(c).name.lower()]
        peers = tuple(a for a in (lng.gateway_ip, lng.bgp_address) if a)
        connections.append(
            Connection(
                c.name, VPN, site.vpn.gateway.name, status.get(c.name.lower()), peers, tuple(lng.prefixes)
            )
        )
    vpn_bgp = any(c.enable_bgp for c in site.vpn.connections) or site.vpn.gateway.enable_bgp
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="route-gateways") as pool:
        er = pool.submit(
            read_gateway_routes,
            client,
            rg,
            site.express_route.gateway.name,
            path=EXPRESSROUTE,
            peers=True,
            timeout=timeout,
        )
        vpn = pool.submit(
            read_gateway_routes, client, rg, site.vpn.gateway.name, path=VPN, peers=vpn_bgp, timeout=timeout
        )
        readings = [er.result(), vpn.result()]
    analysis = analyse(declared=site.on_premises.address_space, connections=connections, readings=readings)
    lng_errors = {name: f"local network gateway: {r.error}" for name, r in lngs.items() if r.error}
    if lng_errors:
        # Without its local network gateway a VPN route cannot be attributed: never call the VPN's
        # routes withdrawn on that basis (an ARM problem is not a network outage).
        readings = [r if r.path != VPN else replace(r, routes=None) for r in readings]
        analysis = analyse(
            declared=site.on_premises.address_space, connections=connections, readings=readings
        )
        analysis = replace(analysis, errors={**analysis.errors, **lng_errors})
    return analysis


def _rows_with_since(
    analysis: RouteAnalysis, previous: RouteView | None, at: str
) -> tuple[dict[str, Any], ...]:
    before = {r.get("prefix"): r for r in (previous.rows if previous else ())}
    rows: list[dict[str, Any]] = []
    for row in analysis.rows[:MAX_ROWS]:
        body = row.to_json()
        old = before.get(row.prefix)
        same = old is not None and (old.get("state"), old.get("carriedBy")) == (
            body["state"],
            body["carriedBy"],
        )
        body["since"] = old.get("since") if same and old else at
        rows.append(body)
    return tuple(rows)


def _view_for(
    observation: Observation,
    analysis: RouteAnalysis,
    facts: FactState,
    previous: RouteView | None,
) -> RouteView:
    at = observation.at.astimezone(UTC).isoformat()
    return RouteView(
        checked_at=at,
        statuses=(observation.expressroute_status, observation.vpn_status),
        withdrawn=analysis.withdrawn,
        rows=_rows_with_since(analysis, previous, at),
        redundancy=tuple(r.to_json() for r in analysis.redundancy),
        errors=dict(analysis.errors),
        facts=facts,
    )


def _stale(view: RouteView | None, observation: Observation) -> bool:
    """The route view no longer describes the paths: never taken, or taken under other statuses."""
    return view is None or view.statuses != (observation.expressroute_status, observation.vpn_status)


def _apply_withdrawn(observation: Observation, withdrawn: frozenset[str]) -> Observation:
    return replace(
        observation,
        expressroute_withdrawn=EXPRESSROUTE in withdrawn,
        vpn_withdrawn=VPN in withdrawn,
    )


def _route_evidence(analysis: RouteAnalysis, observation: Observation) -> dict[str, Any]:
    withdrawn = sorted(
        p
        for p, status in ((EXPRESSROUTE, observation.expressroute_status), (VPN, observation.vpn_status))
        if p in analysis.withdrawn and status == CONNECTED
    )
    evidence: dict[str, Any] = {"routes": analysis.to_json()}
    if withdrawn:
        evidence["cause"] = "routes-withdrawn"
        evidence["withdrawnPaths"] = withdrawn
    return evidence


def _status_evidence(stored: StoredState, observation: Observation) -> dict[str, Any]:
    """Evidence of a transition seen in the connections' status alone: no POST here (route reads
    cost write quota and are coalesced); the latest route view, and the route check that follows."""
    view = RouteView.parse(stored.state.routes_json) if stored.state else None
    return {
        "cause": "connection-status",
        "routes": view.to_report() if view else None,
        "routesCheckedAt": view.checked_at if view else None,
        "routesStale": _stale(view, observation),
    }


def _fact_evidence(fact: FactTransition, analysis: RouteAnalysis) -> dict[str, Any]:
    kind = fact.fact.split(" ", 1)[0]
    return {
        "fact": kind,
        "subject": fact.subject,
        **dict(fact.evidence),  # the fact's own rows: "prefixes" or "redundancy"
        "routes": analysis.to_json(),  # the whole per-prefix table and every peering
    }


@dataclass
class _Pass:
    """One classification of an observation against the stored state (inside check_site's loop)."""

    state: SiteState
    transition: Any
    facts: list[FactTransition]


def _classify(
    stored: StoredState,
    observation: Observation,
    analysis: RouteAnalysis | None,
    hold: int,
) -> _Pass:
    state, transition = classify(stored.state, observation, hold)
    if analysis is None:
        return _Pass(state, transition, [])
    previous = RouteView.parse(stored.state.routes_json) if stored.state else None
    facts_before = previous.facts if previous else None
    facts, fact_transitions = classify_facts(
        facts_before,
        analysis.facts(),
        at=observation.at.astimezone(UTC).isoformat(),
        hold_count=hold,
        limit=MAX_FACT_ROWS,
    )
    view = _view_for(observation, analysis, facts, previous)
    return _Pass(replace(state, routes_json=view.to_json()), transition, fact_transitions)


@site_operation("failover")  # every log line of the check carries site, run_id, operation
def check_site(
    settings: Settings,
    site: Site,
    detected_by: str,
    *,
    detail: str = "",
    tables: TableServiceClient | None = None,
    client: NetworkManagementClient | None = None,
    now: Clock = _now,
    routes: str = "auto",
) -> CheckResult:
    """Check one site now and record what changed, exactly once however many detectors race.

    `routes`: "auto" (the status poll) reads the connections and uses the latest route check's view.
    When the statuses changed since that view was taken, a route check runs at once and decides, as
    long as the poll's inline allowance has one (INLINE_ROUTE_CHECKS_PER_MINUTE per instance, a route
    check is 3 ARM writes); otherwise the statuses decide now (a transition's evidence says
    `routesStale`) and the site waits first in line for the route timer, and every later poll that
    still sees the stale view asks again. A site without a route view yet gets its first one from the
    route timer's slice, never inline (a first poll of 1,000 sites would ask for 3,000 writes).
    "now" (the route timer, alerts) asks for a route check. Route checks are coalesced per site: at
    most one every HYBRIDNET_ROUTES_MIN_SECONDS, never two at a time; one asked for inside the interval
    becomes a status check now plus one route check when the interval ends. "never": statuses only."""
    if routes not in ("auto", "now", "never"):
        raise ValueError(f"routes must be auto, now or never, got {routes!r}")
    tables = tables if tables is not None else table_service(settings)
    client = client if client is not None else network_client(settings)

    def route_check() -> CheckResult:
        result = _check(settings, site, detected_by, detail, tables, client, now, with_routes=True)
        _route_backlog.discard(site.name)
        return result

    stale_views: list[RouteView | None] = []  # the stale view the status check found, if any
    refused: list[bool] = []

    def inline(view: RouteView | None) -> bool:
        """Whether the poll runs the route check now (the view is stale)."""
        stale_views.append(view)
        if view is None:
            return False  # never taken: the route timer's slice takes the first one
        if _inline_routes.try_take():
            return True
        refused.append(True)
        return False

    if routes != "now":
        result = _check(
            settings,
            site,
            detected_by,
            detail,
            tables,
            client,
            now,
            with_routes=False,
            inline_routes=inline if routes == "auto" else None,
        )
        if result.outcome != "route-check-due":
            if refused or (stale_views and result.outcome == "recorded"):
                # decided on statuses alone: the route timer checks this site first (and the next
                # poll that still finds the view stale asks for an inline check again)
                _route_backlog.add(site.name)
            return result
    routed, shared = _route_checks.do(site.name, route_check, min_interval=settings.routes_min_seconds)
    if not shared:
        return routed
    # A route check ran moments ago (its result predates this change): record what the statuses say
    # now; the follow-up route check the coalescer scheduled corrects it if the routes disagree.
    return _check(settings, site, detected_by, detail, tables, client, now, with_routes=False)


def _drill_cause(tables: TableServiceClient, site: str, observation: Observation) -> str | None:
    """The id of the failover drill running on the site when the transition is its doing: the
    simulation withdraws ExpressRoute's routes but leaves its connection Connected (issue 15)."""
    if observation.expressroute_status != CONNECTED:
        return None
    from shared.azure.drill_store import active

    running = active(tables, site)
    return running[0].id if running else None


def _check(
    settings: Settings,
    site: Site,
    detected_by: str,
    detail: str,
    tables: TableServiceClient,
    client: NetworkManagementClient,
    now: Clock,
    *,
    with_routes: bool,
    inline_routes: Callable[[RouteView | None], bool] | None = None,
) -> CheckResult:
    """One check. `inline_routes` (the status poll): asked when the route view is stale; True hands
    the site back to check_site as "route-check-due" (a route check runs at once), False goes on with
    the statuses alone."""
    hold = settings.failover_hold_count
    stored = read_state(tables, site.name)
    observation = observe(client, site, now)
    analysis: RouteAnalysis | None = None
    if with_routes:
        # The claim spaces checks across instances; its interval is a little shorter than the
        # coalescer's, so this instance's own follow-up (due exactly one interval later) is never refused.
        interval = settings.routes_min_seconds * CLAIM_SLACK
        claim = claim_refresh(tables, now(), interval, key=(ROUTE_CLAIMS, site.name))
        if claim.granted:
            analysis = _route_inputs(client, site, observation, settings.failover_evidence_timeout)  # type: ignore[arg-type]
        else:
            log.info("site %s: another instance checked the routes moments ago", site.name)
            _route_checks.follow_up(
                site.name,
                lambda: _check(settings, site, detected_by, detail, tables, client, now, with_routes=True),
                min_interval=settings.routes_min_seconds,
            )

    def effective(obs: Observation, state: StoredState) -> Observation:
        if analysis is not None:
            return _apply_withdrawn(obs, analysis.withdrawn)
        view = RouteView.parse(state.state.routes_json) if state.state else None
        return obs if _stale(view, obs) else _apply_withdrawn(obs, view.withdrawn)  # type: ignore[union-attr]

    if inline_routes is not None and analysis is None:
        view = RouteView.parse(stored.state.routes_json) if stored.state else None
        if _stale(view, observation) and inline_routes(view):
            return CheckResult(site.name, observation.condition, "route-check-due", reads=_reads(observation))
    observation = effective(observation, stored)
    event_id = new_event_id()
    evidence: dict[str, Any] | None = None
    confirmed: Condition | None = None
    lost_race = False
    for _attempt in range(MAX_ATTEMPTS):
        step = _classify(stored, observation, analysis, hold)
        new_state, transition = step.state, step.transition
        if new_state == stored.state:
            outcome = "already-recorded" if lost_race else "unchanged"
            return _result(site, observation, outcome, new_state)
        events: list[dict[str, Any]] = []
        if transition is not None:
            if confirmed is not transition.to_condition:
                fresh = effective(observe(client, site, now), stored)  # confirm before recording
                if fresh.condition is not observation.condition:
                    log.info(
                        "site %s: %s not confirmed (re-read shows %s)",
                        site.name,
                        transition.kind.value,
                        fresh.condition.value,
                    )
                    observation = fresh
                    continue
                confirmed = transition.to_condition
            if evidence is None:
                evidence = (
                    _route_evidence(analysis, observation)
                    if analysis is not None
                    else _status_evidence(stored, observation)
                )
                drill_id = _drill_cause(tables, site.name, observation)
                if drill_id:
                    evidence = {**evidence, "drillId": drill_id}  # a drill's failover, not an incident
            events.append(
                event_entity(
                    site.name,
                    event_id,
                    transition,
                    observation,
                    detected_by=detected_by,
                    evidence=evidence,
                    detail=detail,
                )
            )
        for number, fact in enumerate(step.facts):
            events.append(
                fact_event_entity(
                    site.name,
                    f"{event_id[:13]}f{number:02d}",
                    fact,
                    new_state.condition,
                    observation,
                    detected_by=detected_by,
                    evidence=_fact_evidence(fact, analysis),  # type: ignore[arg-type]
                    detail=detail,
                )
            )
        try:
            commit(tables, site.name, stored, new_state, events)
        except (Conflict, Ambiguous) as exc:
            # Re-read: the state entity says whether our own transaction landed after all (a retried
            # request whose first attempt succeeded fails its If-Match) or someone else's did.
            log.info("site %s: %s; re-reading the failover state", site.name, exc)
            stored = read_state(tables, site.name)
            if not events or stored.last_event_id != events[0]["eventId"]:
                lost_race = lost_race or isinstance(exc, Conflict)
                # Ours did not land. Someone else recorded meanwhile: classify a fresh reading against
                # what is recorded now (the old reading may predate their record, and be stale).
                observation = effective(observe(client, site, now), stored)
                confirmed, evidence = None, None
                continue
        if not events:
            if stored.state is None:
                outcome = "baseline"
            elif (
                new_state.pending is not None or stored.state.pending is not None or _facts_pending(new_state)
            ):
                outcome = "pending"
            else:
                outcome = "routes-updated"  # the route view was refreshed; nothing to record
            return _result(site, observation, outcome, new_state)
        recorded = [event_json(e) for e in events]
        for one in recorded:
            log.warning(
                "site %s: %s recorded (%s -> %s%s, detected by %s)",
                site.name,
                one["kind"],
                one["fromPath"],
                one["toPath"],
                f", {one['subject']}" if one.get("subject") else "",
                detected_by,
            )
        published = all([publish_failover_event(settings, one) for one in recorded])
        if recorded[0]["kind"] in ("failover", "outage"):
            _advance_rotation(settings, site)
        return _result(site, observation, "recorded", new_state, recorded, published)
    log.warning(
        "site %s: no stable result after %d attempts; the next check retries", site.name, MAX_ATTEMPTS
    )
    return _result(site, observation, "unconfirmed", stored.state)


def _facts_pending(state: SiteState) -> bool:
    view = RouteView.parse(state.routes_json)
    return bool(view and view.facts.pending)


def _result(
    site: Site,
    observation: Observation,
    outcome: str,
    state: SiteState | None,
    recorded: list[dict[str, Any]] | None = None,
    published: bool = False,
) -> CheckResult:
    view = RouteView.parse(state.routes_json) if state else None
    return CheckResult(
        site.name,
        observation.condition,
        outcome,
        recorded[0] if recorded else None,
        published,
        _reads(observation),
        routes=view.to_report() if view else None,
        events=tuple(recorded or ()),
    )


def live_route_findings(tables: TableServiceClient, site: Site, resource_id: str) -> tuple[Any, ...]:
    """Drift findings from the latest route check (1 Table read): a VPN route more specific than
    ExpressRoute's for the same range (shared.drift.routes). Never fails a reconcile."""
    from shared.drift.routes import route_findings

    try:
        stored = read_state(tables, site.name)
    except Exception as exc:
        log.warning("site %s: route view unavailable for drift: %s", site.name, type(exc).__name__)
        return ()
    view = RouteView.parse(stored.state.routes_json) if stored.state else None
    return tuple(route_findings(site.name, resource_id, view.rows)) if view else ()


def check_routes_all(
    settings: Settings,
    sites: list[Site] | None = None,
    *,
    tables: TableServiceClient | None = None,
    now: Clock = _now,
) -> list[CheckResult]:
    """The route timer: a route check of the sites due this run (default: of the spec's sites), at most
    route_checks_per_run of them (shared.failover.route_cadence: 150 at the default 5 minutes, so at
    most 450 ARM writes a run): every site up to 135 sites, else the slice whose turn it is (1,000
    sites: 125, each site every 8th run), with the sites polls left waiting for a route check first.
    ROUTE_CONCURRENCY checks at once; one failing site does not stop the others."""
    sites = list(current_spec(settings).sites) if sites is None else sites
    by_name = {site.name: site for site in sites}
    names = due_for_routes(
        list(by_name),
        now=now(),
        interval_seconds=settings.routes_interval,
        first=_route_backlog.names(),
    )
    due = [by_name[name] for name in names]
    tables = tables if tables is not None else table_service(settings)
    client = network_client(settings) if due else None

    def one(site: Site) -> CheckResult | None:
        try:
            return check_site(settings, site, "route-check", tables=tables, client=client, routes="now")
        except Exception:
            log.exception("site %s: route check failed", site.name)
            return None

    if len(due) <= 1:
        checked = [one(site) for site in due]
    else:
        workers = min(ROUTE_CONCURRENCY, len(due))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="route-timer") as pool:
            checked = list(pool.map(one, due))
    return [result for result in checked if result is not None]


ALERT_CLAIMS = "alert"  # partition of the per-site claim rows in the health table
_alert_checks = Coalescer()


def check_site_for_alert(
    settings: Settings,
    site: Site,
    *,
    detail: str = "",
    tables: TableServiceClient | None = None,
    client: NetworkManagementClient | None = None,
    now: Clock = _now,
) -> CheckResult:
    """check_site for an Azure Monitor alert, coalesced per site as the health refresh is (single flight
    + minimum interval): checks of a site start at least HYBRIDNET_FAILOVER_ALERT_MIN_SECONDS apart, in
    this instance (shared.services.coalesce.Coalescer) and across instances (a claim row per site, as
    `?refresh=true` claims one). An alert inside the interval is answered at once from the check in
    progress or the latest one (`coalesced`), and one follow-up check runs when the interval ends, so
    every alert is still followed by a check that started after it arrived. A burst of alerts costs
    about one check (2 ARM reads) per interval, not one per alert."""
    tables = tables if tables is not None else table_service(settings)
    client = client if client is not None else network_client(settings)
    minimum = settings.failover_alert_min_seconds

    def run() -> CheckResult:
        claim = claim_refresh(tables, now(), minimum, key=(ALERT_CLAIMS, site.name))
        if claim.granted:
            return check_site(
                settings, site, "alert", detail=detail, tables=tables, client=client, now=now, routes="now"
            )
        # Another instance checked this site moments ago, maybe before this alert arrived: answer with
        # what is recorded, and check again once its interval is over.
        _alert_checks.follow_up(site.name, run, min_interval=minimum)
        stored = read_state(tables, site.name)
        if stored.state is None:  # nothing recorded yet: no answer without a check
            return check_site(settings, site, "alert", detail=detail, tables=tables, client=client, now=now)
        return CheckResult(site.name, stored.state.condition, "checked-elsewhere", coalesced=True)

    result, shared = _alert_checks.do(site.name, run, min_interval=minimum)
    return replace(result, coalesced=True) if shared else result


def check_sites(
    settings: Settings,
    sites: list[Site] | None = None,
    detected_by: str = "poll",
    *,
    detail: str = "",
    tables: TableServiceClient | None = None,
) -> list[CheckResult]:
    """Check every site (default: all sites of the spec); one failing site does not stop the others."""
    sites = list(current_spec(settings).sites) if sites is None else sites
    results: list[CheckResult] = []
    for site in sites:
        try:
            results.append(check_site(settings, site, detected_by, detail=detail, tables=tables))
        except Exception:
            log.exception("site %s: failover check failed", site.name)
    return results


def cleanup_history(
    settings: Settings, *, tables: TableServiceClient | None = None, now: Clock = _now
) -> int:
    """Delete event rows older than HYBRIDNET_FAILOVER_RETENTION_DAYS."""
    tables = tables if tables is not None else table_service(settings)
    cutoff = now() - timedelta(days=settings.failover_retention_days)
    deleted = delete_events_before(tables, cutoff)
    if deleted:
        log.info("failover history: deleted %d event row(s) detected before %s", deleted, cutoff.isoformat())
    return deleted


def _advance_rotation(settings: Settings, site: Site) -> None:
    """ExpressRoute was just lost: a key rotation waiting for its peer must roll back now, not at the
    rotation timer's next run. Never fails the failover check."""
    if not settings.keyvault_url:
        return
    from shared.services.rotation import rotate_site

    try:
        outcome = rotate_site(settings, site, advance_only=True)
    except Exception as exc:  # the failover record matters more; the rotation timer retries
        log.error(
            "site %s: advancing the key rotation after a failover failed: %s", site.name, type(exc).__name__
        )
        return
    if outcome.steps:
        log.warning(
            "site %s: key rotation advanced after the failover: %s", site.name, ", ".join(outcome.steps)
        )
