"""Failover history triggers.

- failover_poll: on HYBRIDNET_FAILOVER_SCHEDULE, check every site (polling is the backbone: tunnel
  state changes raise no Event Grid event) and persist the health snapshot GET /api/health serves; at
  most once an hour per instance also the retention cleanup;
- failover_alert: POST /api/alerts (function key), an Azure Monitor alert in the common alert schema
  (e.g. ExpressRoute BgpAvailability, VPN TunnelIngressBytes): check the sites it names at once, their
  routes included (log search alerts by the resource ids of their dimensions, Service Health alerts by
  impacted region: shared.failover.alerts);
- routes_check: on HYBRIDNET_ROUTES_SCHEDULE, the route check (learned routes and BGP peers: POST
  long-running operations, ARM writes, so on their own, slower schedule) of the sites due this run:
  every site up to 135 sites at the default 5 minutes, else a slice in turn (1,000 sites: 125 a run,
  each site every 8th run), sites a poll left waiting first; at most 150 route checks (450 ARM
  writes) a run, 90 writes a minute (shared.failover.route_cadence).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import azure.functions as func

from shared.settings import Settings
from shared.triggers.http_json import error_response, json_body, json_errors, json_response

bp = func.Blueprint()
log = logging.getLogger(__name__)

CLEANUP_EVERY_SECONDS = 3600.0
_last_cleanup: list[float] = []  # monotonic time of this instance's last retention cleanup
_cleanup_lock = threading.Lock()


def cleanup_due(now: float | None = None) -> bool:
    """True at most once per CLEANUP_EVERY_SECONDS per instance (so a poll stays 1 read per site)."""
    now = time.monotonic() if now is None else now
    with _cleanup_lock:
        if _last_cleanup and now - _last_cleanup[-1] < CLEANUP_EVERY_SECONDS:
            return False
        _last_cleanup[:] = [now]
        return True


def _log_checked(function: str, results: list[Any], timer: func.TimerRequest) -> None:
    recorded = sum(1 for r in results if r.outcome == "recorded")
    log.info(
        "%s: %d site(s) checked, %d transition(s) recorded, past_due=%s",
        function,
        len(results),
        recorded,
        timer.past_due,
    )


@bp.timer_trigger(arg_name="timer", schedule="%HYBRIDNET_FAILOVER_SCHEDULE%", run_on_startup=False)
def failover_poll(timer: func.TimerRequest) -> None:
    from shared.services.failover import cleanup_history
    from shared.services.health import poll_due_sites

    settings = Settings.from_env()
    # The failover check of every site due this poll (all of them up to 300 sites a minute), concurrently,
    # + the health snapshot (1 write).
    results = poll_due_sites(settings)
    _log_checked("failover_poll", results, timer)
    if cleanup_due():
        try:
            cleanup_history(settings)
        except Exception:
            log.exception("failover_poll: retention cleanup failed; retried within the hour")


@bp.route(route="alerts", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@json_errors
def failover_alert(req: func.HttpRequest) -> func.HttpResponse:
    """Errors (shared.triggers.http_json): a bad body 400; a broken setting or spec 500
    ConfigurationError; Table Storage or ARM out of reach 503 with Retry-After (Azure Monitor's webhook
    retries; the timer poll is the backstop either way)."""
    from shared.failover.alerts import PATH_SERVICES, parse_alert, sites_for_alert
    from shared.services.failover import check_site_for_alert
    from shared.spec_source import current_spec

    json_body(req)  # bounded: size and nesting checked before the alert is read
    alert = parse_alert(req.get_body())  # AlertError: 400 with its code
    settings = Settings.from_env()
    spec = current_spec(settings)
    subscription = settings.require_subscription()
    sites, unknown, matched_by = sites_for_alert(alert, spec.sites, subscription)
    if not sites and alert.is_service_health:
        # Not an incident of a path's service in a site's region: nothing to check (and nothing wrong
        # with the request: a 4xx would only make the action group retry).
        return json_response(
            {
                "alertId": alert.alert_id,
                "monitorCondition": alert.monitor_condition,
                "matchedBy": matched_by,
                "sites": [],
                "ignoredTargets": unknown,
                "detail": (
                    f"no site is in a region this Service Health alert names for {' or '.join(PATH_SERVICES)}"
                ),
            }
        )
    if not sites:
        return error_response(
            400,
            "UnknownAlertTarget",
            "no site's gateway, connection, local network gateway or circuit matches alertTargetIDs "
            "(or, for a log search alert, the resource ids in its dimensions or search results)",
            targets=list(alert.target_ids),
        )
    detail = f"alert {alert.alert_rule or alert.alert_id} {alert.monitor_condition}"
    results = [check_site_for_alert(settings, site, detail=detail).to_json() for site in sites]
    return json_response(
        {
            "alertId": alert.alert_id,
            "monitorCondition": alert.monitor_condition,
            "matchedBy": matched_by,
            "sites": results,
            "ignoredTargets": unknown,
        }
    )


@bp.timer_trigger(arg_name="timer", schedule="%HYBRIDNET_ROUTES_SCHEDULE%", run_on_startup=False)
def routes_check(timer: func.TimerRequest) -> None:
    from shared.services.failover import check_routes_all

    settings = Settings.from_env()
    # The route check of the sites due this run (budgeted slices), 32 at a time.
    results = check_routes_all(settings)
    _log_checked("routes_check", results, timer)
