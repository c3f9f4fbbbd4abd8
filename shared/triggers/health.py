"""GET /api/health: the health report, served from the snapshot the failover poll persists (Table reads
only, never ARM). GET /api/health/schema: its JSON Schema.

Query parameters: `site=NAME` (404 with the known names when unknown), `refresh=true|false` (a live
check, coalesced), `format=json|html` (default: JSON, or HTML when the Accept header prefers text/html),
and `code` (the function key). Anything else is a 400 with the reason.
"""

from __future__ import annotations

import json
import logging
import os

import azure.functions as func

from shared.settings import Settings, SettingsError
from shared.spec.load import SpecError
from shared.triggers.http_json import JSON, error_response

bp = func.Blueprint()
log = logging.getLogger(__name__)

PARAMETERS = ("site", "refresh", "format", "code")
BOOLEANS = {"true": True, "false": False}
FORMATS = ("json", "html")
HTML = "text/html"


class BadRequest(ValueError):
    pass


def _quality(accept: str, media: str) -> float:
    """The q of `media` in an Accept header (exact media range only; 0 when absent)."""
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        if fields[0].lower() != media:
            continue
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    return float(value)
                except ValueError:
                    return 0.0
        return 1.0
    return 0.0


def negotiate(format_param: str | None, accept: str) -> str:
    if format_param is not None:
        return format_param
    html, as_json = _quality(accept, HTML), _quality(accept, JSON)
    return "html" if html > 0 and html >= as_json else "json"


def parse(params: dict[str, str], accept: str) -> tuple[str | None, bool, str]:
    """(site, refresh, format) or BadRequest."""
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)}; allowed: site, refresh, format")
    site = params.get("site")
    if site is not None and not site.strip():
        raise BadRequest("site must name a site")
    raw_refresh = params.get("refresh")
    if raw_refresh is not None and raw_refresh.lower() not in BOOLEANS:
        raise BadRequest(f"refresh={raw_refresh!r}: must be true or false")
    raw_format = params.get("format")
    if raw_format is not None and raw_format.lower() not in FORMATS:
        raise BadRequest(f"format={raw_format!r}: must be json or html")
    refresh = BOOLEANS[raw_refresh.lower()] if raw_refresh is not None else False
    return site, refresh, negotiate(raw_format.lower() if raw_format else None, accept)


def _headers(kind: str) -> dict[str, str]:
    headers = {"Cache-Control": "no-store", "Vary": "Accept", "X-Content-Type-Options": "nosniff"}
    if kind == "html":
        from shared.report.html import CONTENT_SECURITY_POLICY

        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return headers


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def health(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.health import health_report
    from shared.spec import UnknownSite

    try:
        site, refresh, kind = parse(dict(req.params), req.headers.get("Accept", ""))
    except BadRequest as exc:
        return error_response(400, "BadRequest", str(exc))
    try:
        settings = Settings.from_env()
        report, status = health_report(settings, site=site, live=refresh)
    except UnknownSite as exc:
        return error_response(404, "UnknownSite", f"unknown site {exc.name!r}", known=exc.known)
    except (SettingsError, SpecError) as exc:
        log.error("health: configuration error: %s", exc)
        return error_response(500, "ConfigurationError", str(exc))
    except Exception as exc:
        log.exception("health: the report could not be read")
        return error_response(
            503, "ReportUnavailable", f"the health report could not be read ({type(exc).__name__})"
        )
    if kind == "html":
        from shared.report.html import render_html, time_zone

        # Times on the page in the app's local zone: WEBSITE_TIME_ZONE (an IANA name on Linux plans), else UTC.
        page = render_html(report, zone=time_zone(os.environ.get("WEBSITE_TIME_ZONE")))
        return func.HttpResponse(
            page, status_code=status, mimetype=HTML, charset="utf-8", headers=_headers("html")
        )
    return func.HttpResponse(
        json.dumps(report, indent=2), status_code=status, mimetype=JSON, headers=_headers("json")
    )


@bp.route(route="health/schema", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health_schema(req: func.HttpRequest) -> func.HttpResponse:
    """The report's JSON Schema (no data in it: anonymous, cacheable)."""
    from shared.report.schema import HEALTH_SCHEMA

    return func.HttpResponse(
        json.dumps(HEALTH_SCHEMA, indent=2),
        mimetype="application/schema+json",
        headers={"Cache-Control": "public, max-age=3600"},
    )
