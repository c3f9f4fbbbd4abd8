"""Failover drills: read the preconditions, run the drill's state machine (shared.failover.drill) under
the site's drill lease, persisting every step in the drills table, and publish the result.

A drill is resumable: every step is saved before the next ARM call, so a drill whose host died is found
active by the next run (``recover_drills``, the timer) and, past its phase's deadline, aborted: the
simulation is stopped."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.azure import drill_ops, drill_store
from shared.azure.arm import network_client
from shared.azure.cloudevents_out import SOURCE, publish
from shared.azure.failover_store import read_state
from shared.azure.leases import Lease
from shared.azure.rotation_store import load_state
from shared.azure.tables import table_service
from shared.failover.classify import Condition
from shared.failover.drill import (
    CLOUD_EVENT_TYPES,
    DONE,
    START,
    STOP,
    Drill,
    DrillConfig,
    DrillSummary,
    Observation,
    SiteFacts,
    Step,
    advance,
    plan,
    recover,
    start_failed,
    started,
    stopped,
)
from shared.failover.paths import CONNECTED
from shared.failover.routes import RouteAnalysis
from shared.rotation.machine import Phase
from shared.services.failover import ObservationFailed, ReadObservation, _route_inputs, observe
from shared.services.instance import instance_id
from shared.settings import Settings
from shared.spec import Site
from shared.spec_source import current_spec

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient
    from azure.mgmt.network import NetworkManagementClient

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
LEASE = "drill"
# A drill found active and overdue by this much past its phase's deadline is taken as orphaned.
RECOVERY_GRACE = timedelta(seconds=60)


def _now() -> datetime:
    return datetime.now(UTC)


def config_of(settings: Settings) -> DrillConfig:
    return DrillConfig(
        failover_deadline=timedelta(seconds=settings.drill_failover_deadline),
        hold=timedelta(seconds=settings.drill_hold),
        failback_deadline=timedelta(seconds=settings.drill_failback_deadline),
        stop_deadline=timedelta(seconds=max(settings.lro_timeout, 60)),
    )


@dataclass
class DrillRun:
    """What a drill request did: the drill (as recorded), or why it could not be run."""

    drill: Drill | None
    dry_run: bool = False
    busy: str | None = None
    arm_calls: dict[str, int] = field(default_factory=dict)

    @property
    def would_run(self) -> bool:
        return self.drill is not None and not self.drill.refusals

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dryRun": self.dry_run, "wouldRun": self.would_run}
        if self.busy:
            out["busy"] = self.busy
        if self.drill is not None:
            out["drill"] = self.drill.to_json()
        return out


@dataclass(frozen=True)
class Reading:
    expressroute_status: str | None
    vpn_status: str | None
    routes: RouteAnalysis | None
    error: str | None

    def real_failover(self) -> str | None:
        """A real incident while a drill runs: the simulation withdraws routes but keeps the
        ExpressRoute connection Connected, so a connection that is not is no drill of ours."""
        if self.error is None and self.expressroute_status != CONNECTED:
            return f"the ExpressRoute connection is {self.expressroute_status or 'unknown'}"
        return None


class _Site:
    """A site's reads for a drill (ARM through the SDK), counting the ARM operations made."""

    def __init__(self, settings: Settings, site: Site, client: NetworkManagementClient) -> None:
        self.settings, self.site, self.client = settings, site, client
        self.calls: dict[str, int] = {}

    def _count(self, name: str, n: int = 1) -> None:
        self.calls[name] = self.calls.get(name, 0) + n

    def read(self) -> Reading:
        """The connections' statuses and route truth; ``error`` when unreadable."""
        self._count(
            "getConnection", len(self.site.express_route.connections) + len(self.site.vpn.connections)
        )
        try:
            obs = observe(self.client, self.site)
        except ObservationFailed as exc:
            return Reading(None, None, None, str(exc))
        assert isinstance(obs, ReadObservation)
        analysis = _route_inputs(self.client, self.site, obs, self.settings.failover_evidence_timeout)
        self._count("getLearnedRoutes", 2)
        self._count("getBgpPeerStatus", 1)
        self._count("getLocalNetworkGateway", len(self.site.vpn.local_network_gateways))
        return Reading(obs.expressroute_status, obs.vpn_status, analysis, None)

    def peering_location(self) -> str | None:
        """The peering location of the site's circuit(s), from the gateway's failover test list."""
        self._count("getFailoverAllTestsDetails")
        tests = drill_ops.location_tests(
            self.client,
            self.site.resource_group,
            self.site.express_route.gateway.name,
            timeout=self.settings.lro_timeout,
        )
        circuits = {
            c.circuit_id.rstrip("/").rsplit("/", 1)[-1].lower() for c in self.site.express_route.connections
        }
        for test in tests:
            if circuits & {c.lower() for c in test.circuits}:
                return test.peering_location
        return tests[0].peering_location if len(tests) == 1 else None

    def simulation_running(self, drill: Drill) -> bool:
        """Whether the gateway still has a failover test under way at the drill's location (True when
        that cannot be read: never assume the simulation ended)."""
        self._count("getFailoverAllTestsDetails")
        try:
            tests = drill_ops.location_tests(
                self.client,
                self.site.resource_group,
                self.site.express_route.gateway.name,
                timeout=self.settings.lro_timeout,
            )
        except Exception:
            return True
        for test in tests:
            if test.peering_location.lower() == drill.peering_location.lower():
                return test.status in ("Starting", "Running", "Stopping", "StopFailed")
        return True

    def start(self, drill: Drill) -> str:
        self._count("startSiteFailoverTest")
        return drill_ops.start_simulation(
            self.client,
            self.site.resource_group,
            self.site.express_route.gateway.name,
            peering_location=drill.peering_location,
            timeout=self.settings.lro_timeout,
        )

    def stop(self, drill: Drill, vpn_verified: bool) -> None:
        self._count("stopSiteFailoverTest")
        drill_ops.stop_simulation(
            self.client,
            self.site.resource_group,
            self.site.express_route.gateway.name,
            peering_location=drill.peering_location,
            successful=bool(drill.stop_successful),
            connections=[(c.name, self.site.location, vpn_verified) for c in self.site.vpn.connections],
            timeout=self.settings.lro_timeout,
        )


def _open_incident(tables: TableServiceClient, site: str) -> tuple[str, ...]:
    stored = read_state(tables, site)
    if stored.state is None:
        return ()
    condition = stored.state.condition
    if condition in (Condition.FAILED_OVER, Condition.OUTAGE):
        return (f"{condition.value} since {stored.state.since.isoformat()}",)
    return ()


def _rotating(tables: TableServiceClient, site: str) -> bool:
    state, _etag = load_state(tables, site)
    return state.phase != Phase.IDLE


def site_facts(
    settings: Settings, site: Site, tables: TableServiceClient, reads: _Site, *, exclude: str | None = None
) -> SiteFacts:
    seen = reads.read()
    running = [d.id for d in drill_store.active(tables, site.name) if d.id != exclude]
    location = reads.peering_location() if seen.error is None else None
    return SiteFacts(
        site=site.name,
        routes=seen.routes,
        vpn_status=seen.vpn_status,
        peering_location=location,
        rotation_in_progress=_rotating(tables, site.name),
        running_drill=running[0] if running else None,
        open_incidents=_open_incident(tables, site.name),
        mode=settings.drill_mode,
    )


def _event(drill: Drill) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": drill.id,
        "source": f"{SOURCE}/sites/{drill.site}",
        "type": CLOUD_EVENT_TYPES[drill.result or ""],
        "subject": drill.site,
        "time": drill.phase_since,
        "datacontenttype": "application/json",
        "data": {k: v for k, v in drill.to_json().items() if k != "log"},
    }


def _finish(settings: Settings, drill: Drill) -> None:
    if drill.phase == DONE and drill.result in CLOUD_EVENT_TYPES:
        publish(settings, _event(drill), what=f"site {drill.site}: drill {drill.id}")


def _drive(
    settings: Settings,
    tables: TableServiceClient,
    reads: _Site,
    step: Step,
    *,
    now: Clock,
    sleep: Callable[[float], None],
    lease: Lease,
    progress: Callable[[Drill], None],
) -> Drill:
    """Run the drill to its end: take each step's action, persist, observe, advance."""
    cfg = config_of(settings)
    drill = step.drill
    action = step.action
    while True:
        lease.ensure_held()
        if action == START:
            try:
                test_id = reads.start(drill)
            except Exception as exc:
                log.warning("site %s: drill %s: start failed: %s", drill.site, drill.id, type(exc).__name__)
                step = start_failed(drill, now=now(), error=str(exc))
                drill, action = step.drill, step.action
                drill_store.save(tables, drill)
                progress(drill)
                continue
            drill = started(drill, now=now(), test_id=test_id or None)
        elif action == STOP:
            try:
                reads.stop(drill, vpn_verified=drill.stop_successful is True)
            except Exception as exc:  # the stop is retried (a hanging test must end): record why
                log.warning("site %s: drill %s: stop failed: %s", drill.site, drill.id, type(exc).__name__)
                note = {"at": now().isoformat(), "phase": drill.phase, "note": f"stop failed: {exc}"[:300]}
                drill = replace(drill, log=(*drill.log, note))
                if reads.simulation_running(drill):
                    drill_store.save(tables, drill)
                    progress(drill)
                    since = datetime.fromisoformat(drill.phase_since.replace("Z", "+00:00"))
                    if now() - since > cfg.stop_deadline:
                        return drill  # still stopping: the drill timer retries the stop (recover_drills)
                    sleep(settings.drill_poll_seconds)
                    step = advance(drill, Observation(now(), None, None), cfg)
                    drill, action = step.drill, step.action
                    continue
                # no test runs at the location (its start never happened): nothing left to stop
            drill = stopped(drill, now=now())
        drill_store.save(tables, drill)
        progress(drill)
        if drill.phase == DONE:
            _finish(settings, drill)
            return drill
        if action is None:
            sleep(settings.drill_poll_seconds)
        seen = reads.read()
        step = advance(drill, Observation(now(), seen.routes, seen.vpn_status, seen.real_failover()), cfg)
        drill, action = step.drill, step.action


def run_drill(
    settings: Settings,
    site_name: str,
    *,
    dry_run: bool = False,
    now: Clock = _now,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[Drill], None] = lambda _d: None,
    client: NetworkManagementClient | None = None,
) -> DrillRun:
    """Plan a drill for the site; unless dry_run, record it and (when every precondition holds) run it to
    the end. The plan of a dry run is not recorded."""
    site = current_spec(settings).site(site_name)
    tables = table_service(settings)
    reads = _Site(settings, site, client if client is not None else network_client(settings))
    lease = _drill_lease(settings, tables, site.name)
    if not dry_run and not lease.acquire():
        return DrillRun(None, busy="another instance is running a drill on this site")
    try:
        facts = site_facts(settings, site, tables, reads)
        drill = plan(
            drill_id=f"drill-{now().strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}",
            facts=facts,
            now=now(),
        )
        if dry_run:
            return DrillRun(drill, dry_run=True, arm_calls=reads.calls)
        drill_store.save(tables, drill)
        progress(drill)
        if drill.phase != DONE:
            drill = _drive(
                settings,
                tables,
                reads,
                Step(drill, START),
                now=now,
                sleep=sleep,
                lease=lease,
                progress=progress,
            )
        return DrillRun(drill, arm_calls=reads.calls)
    finally:
        if not dry_run:
            lease.release()


def _drill_lease(settings: Settings, tables: TableServiceClient, site: str) -> Lease:
    """The site's drill lease, held by this instance's run (one drill run of a site at a time)."""
    return Lease(
        tables,
        LEASE,
        site,
        f"{instance_id()}/{uuid.uuid4().hex[:12]}",
        ttl=timedelta(seconds=settings.lease_seconds),
    )


def recover_drills(
    settings: Settings,
    *,
    now: Clock = _now,
    sleep: Callable[[float], None] = time.sleep,
    client: NetworkManagementClient | None = None,
) -> list[Drill]:
    """The timer's safety net: every active drill not held by a live run (its lease free) and past its
    phase's deadline is aborted - the simulation stopped, failback watched - and recorded."""
    tables = table_service(settings)
    spec = current_spec(settings)
    cfg = config_of(settings)
    out = []
    for drill in drill_store.active(tables):
        step = recover(drill, now=now(), config=cfg, grace=RECOVERY_GRACE)
        if step is None:
            continue
        site = spec.site(drill.site)
        lease = _drill_lease(settings, tables, site.name)
        if not lease.acquire():
            continue  # a live run holds it
        try:
            reads = _Site(settings, site, client if client is not None else network_client(settings))
            drill_store.save(tables, step.drill)
            out.append(
                _drive(
                    settings, tables, reads, step, now=now, sleep=sleep, lease=lease, progress=lambda _d: None
                )
            )
        finally:
            lease.release()
    return out


def last_drills(settings: Settings, site: str | None = None) -> list[Drill]:
    return drill_store.drills(table_service(settings), site)


SCHEDULED_EVERY = timedelta(hours=20)  # one scheduled drill per site per maintenance window (daily)


def scheduled_drills(
    settings: Settings,
    *,
    now: Clock = _now,
    sleep: Callable[[float], None] = time.sleep,
    client: NetworkManagementClient | None = None,
) -> list[Drill]:
    """The drill timer: first the safety net (``recover_drills``), then, in enforce mode only, a drill
    for each site whose spec's ``maintenanceWindow`` contains now and that had none in the last 20 h.
    Sites without a maintenance window are never drilled by the timer (scheduled drills are off by
    default)."""
    out = recover_drills(settings, now=now, sleep=sleep, client=client)
    if settings.drill_mode != "enforce":
        return out
    tables = table_service(settings)
    at = now()
    for site in current_spec(settings).sites:
        window = site.maintenance_window
        if window is None or not window.contains(at):
            continue
        recent = [
            d
            for d in drill_store.drills(tables, site.name)
            if at - datetime.fromisoformat(d.created_at.replace("Z", "+00:00")) < SCHEDULED_EVERY
        ]
        if recent:
            continue
        run = run_drill(settings, site.name, now=now, sleep=sleep, client=client)
        if run.drill is not None:
            out.append(run.drill)
    return out


def drill_status(tables: TableServiceClient, site: str) -> dict[str, Any]:
    """The health report's input: the site's last drill and when a drill last passed."""
    found = drill_store.drills(tables, site)
    last = found[0] if found else None
    passes = [d.phase_since for d in found if d.phase == DONE and d.result == "passed"]
    return {
        "last": None if last is None else DrillSummary(last, None).to_json()["last"],
        "lastPassAt": max(passes) if passes else None,
    }
