"""Drift reconciliation triggers.

- reconcile_timer: on HYBRIDNET_RECONCILE_SCHEDULE, one queue message per site;
- reconcile_worker: a queue-triggered reconcile of one site (spreads sites over instances);
- arm_event: Event Grid resource events -> a reconcile of only the affected site (deduplicated,
  coalesced, never for the app's own writes);
- reconcile_now: POST /api/reconcile?site=NAME[&dryRun=true] (admin key) for operators.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import azure.functions as func

from shared.errors import ObservationFailed, safe_message
from shared.settings import Settings
from shared.triggers.http_json import json_errors, json_response, response_for, site_and_flag

bp = func.Blueprint()
log = logging.getLogger(__name__)

RECONCILE_QUEUE = "hybridnet-reconcile"
STORAGE = "AzureWebJobsStorage"


def work_item(site: str, trigger: str, cause: str = "") -> str:
    return json.dumps(
        {"site": site, "trigger": trigger, "cause": cause, "queuedAt": datetime.now(UTC).isoformat()}
    )


def shard_item(sites: list[str], trigger: str) -> str:
    """A timer work item for a shard of sites (observed with one Resource Graph query)."""
    return json.dumps({"sites": sites, "trigger": trigger, "queuedAt": datetime.now(UTC).isoformat()})


def parse_work_item(body: str) -> dict[str, Any]:
    try:
        item = json.loads(body)
    except ValueError:
        raise ValueError("reconcile work item is not JSON") from None
    if isinstance(item, dict) and "sites" in item:
        sites = item["sites"]
        if not isinstance(sites, list) or not sites or not all(isinstance(s, str) and s for s in sites):
            raise ValueError("reconcile work item's 'sites' is not a non-empty list of site names")
        return item
    if not isinstance(item, dict) or not isinstance(item.get("site"), str) or not item["site"]:
        raise ValueError("reconcile work item has no 'site'")
    return item


@bp.timer_trigger(arg_name="timer", schedule="%HYBRIDNET_RECONCILE_SCHEDULE%", run_on_startup=False)
@bp.queue_output(arg_name="work", queue_name=RECONCILE_QUEUE, connection=STORAGE)
def reconcile_timer(timer: func.TimerRequest, work: func.Out[list[str]]) -> None:
    from shared.services.arm_events import prune_seen_events
    from shared.services.reconciler import SHARD_SITES
    from shared.spec_source import current_spec

    settings = Settings.from_env()
    spec = current_spec(settings)
    names = [site.name for site in spec.sites]
    shards = [names[i : i + SHARD_SITES] for i in range(0, len(names), SHARD_SITES)]
    work.set([shard_item(shard, "timer") for shard in shards])
    log.info(
        "reconcile_timer: queued %d site(s) in %d shard(s) past_due=%s",
        len(names),
        len(shards),
        timer.past_due,
    )
    try:
        pruned = prune_seen_events(settings)
    except Exception as exc:  # housekeeping must not stop the reconcile
        log.error("reconcile_timer: pruning old event ids failed: %s", safe_message(exc))
    else:
        if pruned:
            log.info("reconcile_timer: forgot %d event id(s) older than Event Grid's retry window", pruned)


@bp.queue_trigger(arg_name="msg", queue_name=RECONCILE_QUEUE, connection=STORAGE)
def reconcile_worker(msg: func.QueueMessage) -> None:
    from shared.services.reconciler import SiteBusy, reconcile, reconcile_shard
    from shared.spec import UnknownSite

    item = parse_work_item(msg.get_body().decode("utf-8", errors="replace"))
    if "sites" in item:
        outcomes = reconcile_shard(
            Settings.from_env(), item["sites"], trigger=str(item.get("trigger") or "queue")
        )
        busy = [name for name, outcome in outcomes.items() if isinstance(outcome, str)]
        if busy:
            log.warning(
                "reconcile_worker: %d of %d site(s) not reconciled: %s",
                len(busy),
                len(outcomes),
                "; ".join(str(outcomes[n]) for n in busy[:5]),
            )
        return
    try:
        reconcile(Settings.from_env(), item["site"], trigger=str(item.get("trigger") or "queue"))
    except UnknownSite as exc:  # the spec changed since the item was queued
        log.warning("reconcile_worker: %s; work item dropped", exc)
    except SiteBusy as exc:
        # Raise so the host makes the message visible again after visibilityTimeout (host.json).
        raise RuntimeError(f"{exc}; retried later") from None


def _event_fields(event: Any) -> tuple[object, str, str, dict[str, Any]]:
    """Event Grid schema arrives as func.EventGridEvent, CloudEvents as func.CloudEvent. The id is
    passed on as it came (None when absent): the service rejects an event without one."""
    event_type = getattr(event, "event_type", None) or getattr(event, "type", None) or ""
    data = event.get_json() or {}
    return event.id, str(event_type), str(event.subject or ""), data if isinstance(data, dict) else {}


@bp.event_grid_trigger(arg_name="event")
@bp.queue_output(arg_name="work", queue_name=RECONCILE_QUEUE, connection=STORAGE)
def arm_event(event: func.EventGridEvent, work: func.Out[str]) -> None:
    from shared.services.arm_events import handle_arm_event

    event_id, event_type, subject, data = _event_fields(event)
    outcome = handle_arm_event(
        Settings.from_env(),
        event_id=event_id,
        event_type=event_type,
        subject=subject,
        data=data,
        enqueue=lambda site, cause: work.set(work_item(site, "event", cause=cause)),
    )
    log.info("arm_event %s: %s", outcome.event_id, outcome.detail)


@bp.route(route="reconcile", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@bp.queue_output(arg_name="work", queue_name=RECONCILE_QUEUE, connection=STORAGE)
@json_errors
def reconcile_now(req: func.HttpRequest, work: func.Out[str]) -> func.HttpResponse:
    """dryRun=true (or HYBRIDNET_DRIFT_MODE=report): reconcile now and answer with the result (reads
    only: quick). Otherwise queue it (202): applying can outlast an HTTP request."""
    from shared.drift.plan import Mode
    from shared.services.reconciler import reconcile
    from shared.spec_source import current_spec

    parsed = site_and_flag(req, "dryRun")
    if isinstance(parsed, func.HttpResponse):
        return parsed
    site, dry_run = parsed
    settings = Settings.from_env()
    current_spec(settings).site(site)  # UnknownSite: 404 with the known names
    if not dry_run and Mode(settings.drift_mode).writes:
        work.set(work_item(site, "manual"))
        return json_response({"queued": site, "mode": settings.drift_mode}, 202)
    result = reconcile(settings, site, trigger="manual", mode=Mode.REPORT)  # SiteBusy: 409
    if result.outcome == "error":
        # ARM could not be read: no finding can be trusted. 503 + Retry-After; the run is in the body.
        return response_for(ObservationFailed(result.error, run=result.to_json()))
    return json_response(result.to_json())
