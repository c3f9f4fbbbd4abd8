"""Reconcile one site: under its lease, observe/diff/plan/apply through the SDK, record the run."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from shared.azure.arm import network_client
from shared.azure.event_inbox import clear_pending
from shared.azure.leases import Lease
from shared.azure.network_state import ArmResourceWriter, observe_site
from shared.azure.run_log import record_run
from shared.azure.tables import table_service
from shared.drift.plan import Mode
from shared.drift.reconcile import ReconcileResult, reconcile_site
from shared.rotation.keygen import generate_shared_key
from shared.services.instance import instance_id
from shared.settings import Settings
from shared.spec_source import current_spec

log = logging.getLogger(__name__)


class SiteBusy(Exception):
    """Another instance holds the site's reconcile lease."""


def reconcile(
    settings: Settings, site_name: str, *, trigger: str, mode: Mode | None = None
) -> ReconcileResult:
    """Raises KeyError for an unknown site and SiteBusy when another instance is reconciling it."""
    spec = current_spec(settings)
    site = spec.site(site_name)
    subscription = settings.require_subscription()
    tables = table_service(settings)
    # One holder per call, not per process: two invocations in one instance must exclude each other too.
    holder = f"{instance_id()}/{uuid.uuid4().hex[:12]}"
    lease = Lease(tables, "reconcile", site.name, holder, ttl=timedelta(seconds=settings.lease_seconds))
    if not lease.acquire():
        raise SiteBusy(f"site {site.name}: another instance is reconciling it")
    try:
        clear_pending(tables, site.name)
        client = network_client(settings)
        result = reconcile_site(
            site,
            subscription,
            mode or Mode(settings.drift_mode),
            observe=lambda s: observe_site(client, s),
            writer=ArmResourceWriter(client, lro_timeout=settings.lro_timeout),
            new_shared_key=generate_shared_key,
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
    finally:
        lease.release()
