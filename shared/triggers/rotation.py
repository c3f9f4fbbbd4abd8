"""IPsec shared-key rotation triggers.

- rotation_timer: on HYBRIDNET_ROTATION_SCHEDULE, one queue message per site (as drift does, so that
  many sites' key writes spread over instances and no invocation outlives its timeout);
- rotation_worker: for one site, advance a rotation in progress (peer picked up the key? ExpressRoute
  lost? deadline passed?), start one that is due, or check the idle key against Key Vault;
- rotate_now: POST /api/rotate?site=NAME[&force=true] (admin key) rotates on demand; 409 with a `code`
  when the site's rotation is not enabled, HYBRIDNET_ROTATION_MODE is report, ExpressRoute is down
  (each overridden by force) or another instance is rotating it.
"""

from __future__ import annotations

import json
import logging

import azure.functions as func

from shared.settings import Settings
from shared.spec import UnknownSite
from shared.triggers.http_json import json_errors, json_response, site_and_flag

bp = func.Blueprint()
log = logging.getLogger(__name__)

HTTP_LRO_SECONDS = 150  # an HTTP-triggered function has 230 s in Azure
ROTATION_QUEUE = "hybridnet-rotation"
STORAGE = "AzureWebJobsStorage"


@bp.timer_trigger(arg_name="timer", schedule="%HYBRIDNET_ROTATION_SCHEDULE%", run_on_startup=False)
@bp.queue_output(arg_name="work", queue_name=ROTATION_QUEUE, connection=STORAGE)
def rotation_timer(timer: func.TimerRequest, work: func.Out[list[str]]) -> None:
    from shared.spec_source import current_spec

    settings = Settings.from_env()
    if not settings.keyvault_url:
        log.warning("rotation_timer: HYBRIDNET_KEYVAULT_URL is not set, so keys are not rotated")
        return
    sites = current_spec(settings).sites
    work.set([json.dumps({"site": site.name}) for site in sites])
    log.info("rotation_timer: queued %d site(s) past_due=%s", len(sites), timer.past_due)


@bp.queue_trigger(arg_name="msg", queue_name=ROTATION_QUEUE, connection=STORAGE)
def rotation_worker(msg: func.QueueMessage) -> None:
    from shared.services.rotation import check_key, rotate_site
    from shared.spec_source import current_spec

    try:
        name = json.loads(msg.get_body())["site"]
    except (ValueError, KeyError, TypeError):
        raise ValueError('rotation work item is not {"site": NAME}') from None
    settings = Settings.from_env()
    try:
        site = current_spec(settings).site(name)
    except UnknownSite as exc:  # the spec changed since the item was queued
        log.warning("rotation_worker: %s; work item dropped", exc)
        return
    outcome = rotate_site(settings, site)
    if outcome.error:
        # Recorded in the rotation history; the next timer run resumes from the persisted phase.
        log.error("rotation_worker site=%s: %s", site.name, outcome.error)
    elif (
        outcome.skipped
        and not outcome.started
        and outcome.phase not in ("started", "escrowed", "awaiting-peer")
    ):
        check_key(settings, site)


@bp.route(route="rotate", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@json_errors
def rotate_now(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.rotation import rotate_site
    from shared.spec_source import current_spec

    parsed = site_and_flag(req, "force")
    if isinstance(parsed, func.HttpResponse):
        return parsed
    site_name, force = parsed
    # Errors map in one place (json_errors): a broken setting or spec 500 ConfigurationError, an unknown
    # site 404, Table Storage / ARM / Key Vault out of reach 503 with Retry-After.
    settings = Settings.from_env()
    settings.require_vault()
    site = current_spec(settings).site(site_name)
    # Within the HTTP request's time: a key write still running then is verified by the timer.
    outcome = rotate_site(settings, site, manual=True, force=force, lro_timeout=HTTP_LRO_SECONDS)
    if outcome.skipped or outcome.refused:
        # 409 with the reason and a code (RotationNotEnabled, RotationReportMode, RotationRefused,
        # Busy): `force=true` overrides all but Busy, for an operator who knows.
        return json_response(outcome.to_json(), 409)
    if outcome.error:
        return json_response(outcome.to_json(), 502)
    return json_response(outcome.to_json(), 202 if outcome.phase == "awaiting-peer" else 200)
