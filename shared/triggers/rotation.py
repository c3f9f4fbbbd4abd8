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

HTTP_LRO_SECONDS = 150  # an HTTP-triggered function has 230 s in Azure


@bp.timer_trigger(arg_name="timer", schedule="%HYBRIDNET_ROTATION_SCHEDULE%", run_on_startup=False)
def rotation_timer(timer: func.TimerRequest) -> None:
    from shared.services.rotation import check_key, rotate_site
    from shared.spec_source import current_spec

    settings = Settings.from_env()
    if not settings.keyvault_url:
        log.warning("rotation_timer: HYBRIDNET_KEYVAULT_URL is not set, so keys are not rotated")
        return
    for site in current_spec(settings).sites:
        try:  # one site's failure must not stop the others (a rollback may be due further down)
            outcome = rotate_site(settings, site)
            if outcome.error:
                log.error("rotation_timer site=%s: %s", site.name, outcome.error)
            elif outcome.skipped and not outcome.started:
                check_key(settings, site)
        except Exception as exc:
            log.error("rotation_timer site=%s failed: %s: %s", site.name, type(exc).__name__, exc)


@bp.route(route="rotate", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
def rotate_now(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.rotation import rotate_site
    from shared.spec import UnknownSite
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
    except UnknownSite as exc:
        return error_response(404, "UnknownSite", str(exc), known=exc.known)
    try:
        # Within the HTTP request's time: a key write still running then is verified by the timer.
        outcome = rotate_site(
            settings, site, manual=True, force=force == "true", lro_timeout=HTTP_LRO_SECONDS
        )
    except Exception as exc:
        log.error("rotate_now site=%s failed: %s: %s", site.name, type(exc).__name__, exc)
        return error_response(502, "RotationFailed", f"{type(exc).__name__}: the rotation could not proceed")
    if outcome.skipped:
        return json_response(outcome.to_json(), 409)
    if outcome.refused:
        return json_response(outcome.to_json(), 409)
    if outcome.error:
        return json_response(outcome.to_json(), 502)
    return json_response(outcome.to_json(), 202 if outcome.phase == "awaiting-peer" else 200)
