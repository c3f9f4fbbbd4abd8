"""Reconcile one site: under its lease, observe/diff/plan/apply through the SDK, record the run."""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from shared.azure.arm import network_client
from shared.azure.event_inbox import clear_pending
from shared.azure.leases import Lease
from shared.azure.network_state import ArmResourceWriter, observe_site
from shared.azure.rotation_store import load_all_states, load_state
from shared.azure.run_log import record_run
from shared.azure.tables import table_service
from shared.drift.plan import Mode
from shared.drift.reconcile import ReconcileResult, SiteBusy, reconcile_site
from shared.drift.resources import Kind, arm_id
from shared.rotation.findings import key_findings
from shared.rotation.machine import RotationState
from shared.services.instance import instance_id
from shared.services.rotation import key_for_new_connection
from shared.settings import Settings
from shared.spec_source import current_spec
from shared.telemetry import site_operation

log = logging.getLogger(__name__)

MAX_CONCURRENT_SITES = 32  # below the ARM client's connection pool (shared.azure.arm.MAX_CONCURRENT_CALLS)


def reconcile(
    settings: Settings,
    site_name: str,
    *,
    trigger: str,
    mode: Mode | None = None,
    rotation: RotationState | None = None,
) -> ReconcileResult:
    """Raises KeyError for an unknown site and SiteBusy when another instance is applying changes to
    it (the lease is taken only when there is something to write)."""
    spec = current_spec(settings)
    site = spec.site(site_name)
    subscription = settings.require_subscription()
    tables = table_service(settings)
    # One holder per call, not per process: two invocations in one instance must exclude each other too.
    holder = f"{instance_id()}/{uuid.uuid4().hex[:12]}"
    lease = Lease(tables, "reconcile", site.name, holder, ttl=timedelta(seconds=settings.lease_seconds))
    if trigger == "event":
        # Changes from now on queue a new reconcile (only event work items mark a site pending).
        clear_pending(tables, site.name)
    client = network_client(settings)
    if rotation is None:
        rotation, _ = load_state(tables, site.name)
    connection_id = arm_id(subscription, site.resource_group, Kind.CONNECTION, site.vpn.connection.name)
    result = reconcile_site(
        site,
        subscription,
        mode or Mode(settings.drift_mode),
        observe=lambda s: observe_site(client, s),
        writer=ArmResourceWriter(client, lro_timeout=settings.lro_timeout),
        lock=lease,
        apply_deadline=time.monotonic() + settings.apply_budget,
        new_shared_key=lambda: key_for_new_connection(settings, site),
        extra_findings=tuple(
            key_findings(
                site.name, connection_id, rotation, max_age_days=site.max_key_age_days, now=datetime.now(UTC)
            )
        ),
    )
    run_id = record_run(tables, result, trigger=trigger)
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
    """Reconcile several sites concurrently (bounded); a busy site maps to the reason it was skipped."""

    rotations = load_all_states(table_service(settings))  # one query instead of one read per site

    def one(name: str) -> ReconcileResult | str:
        try:
            return reconcile(
                settings, name, trigger=trigger, mode=mode, rotation=rotations.get(name, RotationState())
            )
        except SiteBusy as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(site_names)))) as pool:
        return dict(zip(site_names, pool.map(one, site_names), strict=True))


# Every log line of a reconcile carries site, run_id and operation (shared.telemetry).
reconcile = site_operation("reconcile")(reconcile)
