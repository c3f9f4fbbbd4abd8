"""Failover drill triggers.

- drill_now: POST /api/drill?site=NAME[&dryRun=true] (admin key). A dry run answers whether the drill
  would run and every reason it would not (nothing recorded); otherwise the drill is recorded and, when
  every precondition holds and HYBRIDNET_DRILL_MODE is enforce, run to its end: 200 passed, 409 refused
  / planned (report mode) / another drill running, 502 failed or aborted.
- drill_timer: on HYBRIDNET_DRILL_SCHEDULE, stop any drill left running past its deadline (its host
  died), then start drills for sites whose spec maintenanceWindow is open (enforce mode only; a site
  without a maintenance window is never drilled on a schedule).
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.settings import Settings
from shared.triggers.http_json import json_errors, json_response, site_and_flag

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.timer_trigger(arg_name="timer", schedule="%HYBRIDNET_DRILL_SCHEDULE%", run_on_startup=False)
def drill_timer(timer: func.TimerRequest) -> None:
    from shared.services.drill import scheduled_drills

    drills = scheduled_drills(Settings.from_env())
    for drill in drills:
        log.info(
            "drill_timer site=%s drill=%s result=%s %s", drill.site, drill.id, drill.result, drill.reason
        )


@bp.route(route="drill", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@json_errors
def drill_now(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.drill import run_drill

    parsed = site_and_flag(req, "dryRun")
    if isinstance(parsed, func.HttpResponse):
        return parsed
    site_name, dry_run = parsed
    run = run_drill(Settings.from_env(), site_name, dry_run=dry_run)
    body = run.to_json()
    if dry_run:
        return json_response(body, 200)
    if run.drill is None or run.drill.result in ("refused", "planned"):
        return json_response(body, 409)
    return json_response(body, 200 if run.drill.result == "passed" else 502)
