"""Reconcile one site: under its lease, observe/diff/plan/apply through the SDK, record the run.

The lease is short (HYBRIDNET_LEASE_SECONDS) and renewed in the background while the pass works; every
ARM write first renews it and stops the pass's writes when it is no longer ours. The run is recorded
BEFORE the lease is released (and the release never raises), so a Table Storage failure at the end
loses neither the record nor blocks the site for longer than one lease."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from shared.azure.arm import network_client
from shared.azure.event_inbox import clear_pending
from shared.azure.leases import Lease, LeaseLost, describe
from shared.azure.network_state import ArmResourceWriter, observe_site
from shared.azure.rotation_store import load_all_states, load_state
from shared.azure.run_log import record_run
from shared.azure.tables import table_service
from shared.drift.apply import ResourceWriter, WritesStopped
from shared.drift.observed import ObservedSite
from shared.drift.plan import Mode
from shared.drift.reconcile import ReconcileResult, SiteBusy, reconcile_site
from shared.drift.resources import Kind, arm_id
from shared.errors import DependencyUnavailable
from shared.rotation.findings import key_findings
from shared.rotation.machine import RotationState
from shared.services.failover import live_route_findings
from shared.services.instance import instance_id
from shared.services.rotation import key_for_new_connection
from shared.settings import Settings
from shared.spec import Site
from shared.spec_source import current_spec
from shared.telemetry import site_operation

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_CONCURRENT_SITES = 32  # below the ARM client's connection pool (shared.azure.arm.MAX_CONCURRENT_CALLS)


class StorageUnavailable(DependencyUnavailable):
    """Table Storage could not be reached (after retries) for something the pass cannot do without: the
    site's lease, its rotation state, or the run's record. A dependency outage, not a bad request."""


class RunNotRecorded(StorageUnavailable):
    """The pass ran (ARM may have been changed) but its run row could not be written. `result` is the
    run; it is also in the error log line, so nothing about it is lost."""

    def __init__(self, message: str, result: ReconcileResult, run_id: str) -> None:
        super().__init__(message, code="RunNotRecorded", run_id=run_id)
        self.result = result
        self.run_id = run_id


class _ReleasedAfterRecord:
    """The site lock handed to the pass: acquiring takes the lease; the pass's release is deferred, the
    service releases the lease itself once the run is recorded."""

    def __init__(self, lease: Lease, site: str) -> None:
        self._lease = lease
        self._site = site
        self.acquired = False

    def acquire(self) -> bool:
        from azure.core.exceptions import AzureError

        try:
            self.acquired = self._lease.acquire()
        except AzureError as exc:
            raise StorageUnavailable(
                f"site {self._site}: the site's lease could not be taken: Table Storage could not be reached ({describe(exc)})"
            ) from None
        return self.acquired

    def release(self) -> None:
        pass  # see reconcile(): after the run is recorded


class _LeaseGuardedWriter:
    """Every write renews the lease first; once it is not ours any more, nothing more is written."""

    def __init__(self, writer: ResourceWriter, lease: Lease) -> None:
        self._writer = writer
        self._lease = lease

    def put(
        self,
        kind: Kind,
        resource_id: str,
        body: Mapping[str, Any],
        *,
        if_match: str | None,
        create_only: bool,
    ) -> None:
        try:
            self._lease.ensure_held()
        except LeaseLost as exc:
            raise WritesStopped(str(exc)) from None
        self._writer.put(kind, resource_id, body, if_match=if_match, create_only=create_only)


def _record(tables: TableServiceClient, result: ReconcileResult, *, trigger: str) -> str:
    """record_run (which retries); when it still fails, the run goes to the error log whole and
    RunNotRecorded says so."""
    from azure.core.exceptions import AzureError

    run_id = uuid.uuid4().hex
    try:
        return record_run(tables, result, trigger=trigger, run_id=run_id)
    except AzureError as exc:
        log.error(
            "reconcile site=%s run=%s: the run could not be recorded (%s); the run: %s",
            result.site,
            run_id,
            describe(exc),
            json.dumps(result.to_json(), default=str),
        )
        raise RunNotRecorded(
            f"site {result.site}: run {run_id} ({result.outcome}) could not be recorded: Table Storage "
            f"failed ({describe(exc)}); the run is in the error log",
            result,
            run_id,
        ) from None


def _storage(site: Site, what: str, call: Callable[[], T]) -> T:
    from azure.core.exceptions import AzureError

    try:
        return call()
    except AzureError as exc:
        raise StorageUnavailable(
            f"site {site.name}: {what}: Table Storage could not be reached ({describe(exc)})"
        ) from None


def reconcile(
    settings: Settings,
    site_name: str,
    *,
    trigger: str,
    mode: Mode | None = None,
    rotation: RotationState | None = None,
    observed: ObservedSite | None = None,
) -> ReconcileResult:
    """`observed`: the site as the pass's Resource Graph query showed it (used for the first look only;
    anything that writes observes ARM again under the lease).

    Raises KeyError for an unknown site and SiteBusy when another instance is applying changes to
    it (the lease is taken only when there is something to write); StorageUnavailable when Table
    Storage fails for the lease or the state, RunNotRecorded (carrying the result) for the record."""
    spec = current_spec(settings)
    site = spec.site(site_name)
    subscription = settings.require_subscription()
    tables = table_service(settings)
    # One holder per call, not per process: two invocations in one instance must exclude each other too.
    holder = f"{instance_id()}/{uuid.uuid4().hex[:12]}"
    lease = Lease(tables, "reconcile", site.name, holder, ttl=timedelta(seconds=settings.lease_seconds))
    if trigger == "event":
        # Changes from now on queue a new reconcile (only event work items mark a site pending).
        _storage(site, "clearing its pending mark", lambda: clear_pending(tables, site.name))
    client = network_client(settings)
    if rotation is None:
        rotation, _ = _storage(site, "reading its rotation state", lambda: load_state(tables, site.name))
    connection_id = arm_id(subscription, site.resource_group, Kind.CONNECTION, site.vpn.connection.name)
    lock = _ReleasedAfterRecord(lease, site.name)
    try:
        result = reconcile_site(
            site,
            subscription,
            mode or Mode(settings.drift_mode),
            observe=_first_from(observed, lambda s: observe_site(client, s)),
            writer=_LeaseGuardedWriter(ArmResourceWriter(client, lro_timeout=settings.lro_timeout), lease),
            lock=lock,
            apply_deadline=time.monotonic() + settings.apply_budget,
            new_shared_key=lambda: key_for_new_connection(settings, site),
            extra_findings=tuple(
                key_findings(
                    site.name,
                    connection_id,
                    rotation,
                    max_age_days=site.max_key_age_days,
                    now=datetime.now(UTC),
                )
            )
            + live_route_findings(tables, site, connection_id),
        )
        run_id = _record(tables, result, trigger=trigger)  # before the release, whatever it does
    finally:
        if lock.acquired:
            lease.release()  # never raises: retried, logged, and the lease expires on its own
    log.info(
        "reconcile site=%s run=%s trigger=%s mode=%s outcome=%s findings=%d actions=%d",
        site.name,
        run_id,
        trigger,
        result.mode.value,
        result.outcome,
        len(result.findings),
        len(result.results),
    )
    return result


def reconcile_many(
    settings: Settings,
    site_names: list[str],
    *,
    trigger: str,
    mode: Mode | None = None,
    max_workers: int = MAX_CONCURRENT_SITES,
) -> dict[str, ReconcileResult | str]:
    """Reconcile several sites concurrently (bounded); a busy site, or one whose lease or record Table
    Storage failed, maps to the reason."""

    rotations = load_all_states(table_service(settings))  # one query instead of one read per site

    def one(name: str) -> ReconcileResult | str:
        try:
            return reconcile(
                settings, name, trigger=trigger, mode=mode, rotation=rotations.get(name, RotationState())
            )
        except (SiteBusy, StorageUnavailable) as exc:  # one site's trouble does not hide the others' runs
            return str(exc)

    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(site_names)))) as pool:
        return dict(zip(site_names, pool.map(one, site_names), strict=True))


def _first_from(
    observed: ObservedSite | None, observe: Callable[[Site], ObservedSite]
) -> Callable[[Site], ObservedSite]:
    """The first observation is `observed` (when given), every later one (under the lease) is ARM's."""
    pending = [observed] if observed is not None else []

    def first_then_arm(site: Site) -> ObservedSite:
        return pending.pop() if pending else observe(site)

    return first_then_arm


SHARD_SITES = 100  # sites per timer work item: one Resource Graph query (one page of <= 1,000 rows)
SHARD_CONCURRENCY = 8  # sites of a shard reconciled at once (a host runs batchSize shards at once)


def reconcile_shard(
    settings: Settings, site_names: list[str], *, trigger: str, max_workers: int = SHARD_CONCURRENCY
) -> dict[str, ReconcileResult | str]:
    """Reconcile a shard of sites from ONE paged Resource Graph query (shared.azure.network_state.
    observe_sites_graph): in steady state no ARM read at all; a site with something to write takes its
    lease and reads ARM again (Graph lags and has no ETag); a site whose gateway is missing is read
    from ARM (public IPs). When Graph cannot be read, every site is read from ARM, as before.
    An unknown site (the spec changed since the item was queued) maps to the reason."""
    from shared.azure.network_state import observe_sites_graph
    from shared.azure.resource_graph import graph_client
    from shared.drift.observed import ObserveFailed

    spec = current_spec(settings)
    known = {s.name: s for s in spec.sites}
    sites = [known[name] for name in site_names if name in known]
    rotations = (
        _storage(sites[0], "reading the rotation states", lambda: load_all_states(table_service(settings)))
        if sites
        else {}
    )
    try:
        seen: dict[str, ObservedSite | None] = observe_sites_graph(
            graph_client(settings), subscription=settings.require_subscription(), sites=sites
        )
    except ObserveFailed as exc:
        log.warning("reconcile shard of %d site(s): %s; reading ARM per site", len(sites), exc)
        seen = {}

    def one(site: Site) -> ReconcileResult | str:
        try:
            return reconcile(
                settings,
                site.name,
                trigger=trigger,
                rotation=rotations.get(site.name, RotationState()),
                observed=seen.get(site.name),
            )
        except (SiteBusy, StorageUnavailable) as exc:
            return str(exc)

    out: dict[str, ReconcileResult | str] = {
        name: f"site {name} is not in the spec" for name in site_names if name not in known
    }
    if sites:
        with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(sites)))) as pool:
            out.update(zip((s.name for s in sites), pool.map(one, sites), strict=True))
    return out


# Every log line of a reconcile carries site, run_id and operation (shared.telemetry).
reconcile = site_operation("reconcile")(reconcile)
