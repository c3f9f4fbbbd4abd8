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

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.azure.arm import network_client
from shared.azure.cloudevents_out import publish_failover_event
from shared.azure.failover_store import (
    Ambiguous,
    Conflict,
    commit,
    delete_events_before,
    event_entity,
    event_json,
    new_event_id,
    read_state,
)
from shared.azure.health_snapshot import claim_refresh
from shared.azure.learned_routes import onprem_route_counts
from shared.azure.network_reads import ResourceRead, read_connection
from shared.azure.tables import table_service
from shared.errors import ObservationFailed as AppObservationFailed
from shared.failover.classify import Condition, Observation, classify
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
    # by another instance's check: checked-elsewhere (the condition is then the recorded one)
    outcome: str
    event: dict[str, Any] | None = None
    published: bool = False
    # The last reads of (ExpressRoute, VPN) connection: status, provisioning state, bytes (health snapshot).
    reads: tuple[ResourceRead, ResourceRead] | None = None
    coalesced: bool = False  # an alert answered by a check shared with other alerts

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
        return body


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ReadObservation(Observation):
    """An observation with the reads it came from (status, provisioning state, bytes: the health
    snapshot shows them)."""

    reads: tuple[ResourceRead, ResourceRead] | None = None


def observe(client: NetworkManagementClient, site: Site, now: Clock = _now) -> Observation:
    """Two GETs (a list may omit connectionStatus). A deleted connection is a down path; an unreadable
    one raises ObservationFailed."""
    rg = site.resource_group
    er = read_connection(client, rg, site.express_route.connection.name)
    vpn = read_connection(client, rg, site.vpn.connection.name)
    failed = [f"{r.name}: {r.error}" for r in (er, vpn) if r.error]
    if failed:
        raise ObservationFailed(
            f"site {site.name}: cannot read {'; '.join(failed)}; nothing classified", reads=(er, vpn)
        )
    return ReadObservation(er.connection_status, vpn.connection_status, now(), reads=(er, vpn))


def _reads(observation: Observation) -> tuple[ResourceRead, ResourceRead] | None:
    return observation.reads if isinstance(observation, ReadObservation) else None


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
) -> CheckResult:
    """Check one site now and record what changed, exactly once however many detectors race."""
    tables = tables if tables is not None else table_service(settings)
    client = client if client is not None else network_client(settings)
    hold = settings.failover_hold_count
    stored = read_state(tables, site.name)
    observation = observe(client, site, now)
    event_id = new_event_id()
    evidence: dict[str, Any] | None = None
    confirmed: Condition | None = None
    lost_race = False
    for _attempt in range(MAX_ATTEMPTS):
        new_state, transition = classify(stored.state, observation, hold)
        if new_state == stored.state:
            outcome = "already-recorded" if lost_race else "unchanged"
            return CheckResult(site.name, observation.condition, outcome, reads=_reads(observation))
        event: dict[str, Any] | None = None
        if transition is not None:
            if confirmed is not transition.to_condition:
                fresh = observe(client, site, now)  # confirm before recording
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
                evidence = onprem_route_counts(client, site, timeout=settings.failover_evidence_timeout)
            event = event_entity(
                site.name,
                event_id,
                transition,
                observation,
                detected_by=detected_by,
                evidence=evidence,
                detail=detail,
            )
        try:
            commit(tables, site.name, stored, new_state, event)
        except (Conflict, Ambiguous) as exc:
            # Re-read: the state entity says whether our own transaction landed after all (a retried
            # request whose first attempt succeeded fails its If-Match) or someone else's did.
            log.info("site %s: %s; re-reading the failover state", site.name, exc)
            stored = read_state(tables, site.name)
            if event is None or stored.last_event_id != event_id:
                lost_race = lost_race or isinstance(exc, Conflict)
                # Ours did not land. Someone else recorded meanwhile: classify a fresh reading against
                # what is recorded now (the old reading may predate their record, and be stale).
                observation = observe(client, site, now)
                confirmed, evidence = None, None
                continue
        if event is None:
            outcome = "baseline" if stored.state is None else "pending"
            return CheckResult(site.name, observation.condition, outcome, reads=_reads(observation))
        recorded = event_json(event)
        log.warning(
            "site %s: %s recorded (%s -> %s, detected by %s)",
            site.name,
            recorded["kind"],
            recorded["fromPath"],
            recorded["toPath"],
            detected_by,
        )
        published = publish_failover_event(settings, recorded)
        if recorded["kind"] in ("failover", "outage"):
            _advance_rotation(settings, site)
        return CheckResult(
            site.name, observation.condition, "recorded", recorded, published, _reads(observation)
        )
    log.warning(
        "site %s: no stable result after %d attempts; the next check retries", site.name, MAX_ATTEMPTS
    )
    return CheckResult(site.name, observation.condition, "unconfirmed", reads=_reads(observation))


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
            return check_site(settings, site, "alert", detail=detail, tables=tables, client=client, now=now)
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
