"""GET /api/health: the live state of every site's two paths."""

from __future__ import annotations

import logging

import azure.functions as func

from shared.settings import Settings, SettingsError
from shared.spec.load import SpecError
from shared.triggers.http_json import error_response, json_response

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def health(req: func.HttpRequest) -> func.HttpResponse:
    from shared.azure.arm import network_client
    from shared.azure.network_reads import read_site_paths
    from shared.health.live import live_health
    from shared.spec_source import current_spec

    try:
        settings = Settings.from_env()
        spec = current_spec(settings)
        client = network_client(settings)
    except (SettingsError, SpecError) as exc:
        log.error("health: configuration error: %s", exc)
        return error_response(500, "ConfigurationError", str(exc))
    site_name = req.params.get("site")
    sites = list(spec.sites)
    if site_name is not None:
        sites = [s for s in sites if s.name == site_name]
        if not sites:
            known = [s.name for s in spec.sites]
            return error_response(404, "UnknownSite", f"unknown site {site_name!r}", known=known)
    return json_response(live_health(sites, lambda site: read_site_paths(client, site)))
