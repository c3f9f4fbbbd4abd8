"""IPsec shared-key rotation triggers.

- rotation_timer: on HYBRIDNET_ROTATION_SCHEDULE, advance rotations in progress (peer picked up the
  key? ExpressRoute lost? deadline passed?), start the ones that are due, and check each idle site's
  key against Key Vault;
- rotate_now: POST /api/rotate?site=NAME[&force=true] (admin key) rotates on demand.
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.settings import Settings, SettingsError
from shared.triggers.http_json import error_response, json_response

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.timer_trigger(arg_name="timer", schedule="%HYBRIDNET_ROTATION_SCHEDULE%", run_on_startup=False)
def rotation_timer(timer: func.TimerRequest) -> None:
    from shared.services.rotation import check_key, rotate_site
    from shared.spec_source import current_spec

    settings = Settings.from_env()
    for site in current_spec(settings).sites:
        outcome = rotate_site(settings, site)
        if outcome.error:
            log.error("rotation_timer site=%s: %s", site.name, outcome.error)
        elif outcome.skipped and not outcome.started:
            try:
                check_key(settings, site)
            except Exception as exc:  # one site's check must not stop the others
                log.error("rotation_timer site=%s: key check failed: %s", site.name, type(exc).__name__)


@bp.route(route="rotate", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
def rotate_now(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.rotation import rotate_site
    from shared.spec_source import current_spec

    unknown = sorted(set(req.params) - {"site", "force", "code"})
    if unknown:
        return error_response(400, "BadParameter", f"unknown query parameter(s): {', '.join(unknown)}")
    site_name = req.params.get("site")
    if not site_name:
        return error_response(400, "MissingSite", "query parameter 'site' is required")
    force = req.params.get("force", "false").lower()
    if force not in ("true", "false"):
        return error_response(400, "BadParameter", "force must be true or false")
    try:
        settings = Settings.from_env()
        settings.require_vault()
        spec = current_spec(settings)
    except SettingsError as exc:
        return error_response(500, "ConfigurationError", str(exc))
    try:
        site = spec.site(site_name)
    except KeyError as exc:
        return error_response(404, "UnknownSite", str(exc.args[0]), known=[s.name for s in spec.sites])
    outcome = rotate_site(settings, site, manual=True, force=force == "true")
    if outcome.skipped:
        return json_response(outcome.to_json(), 409)
    if outcome.refused:
        return json_response(outcome.to_json(), 409)
    if outcome.error:
        return json_response(outcome.to_json(), 502)
    return json_response(outcome.to_json(), 202 if outcome.phase == "awaiting-peer" else 200)
