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
import threading
from typing import Any

import azure.functions as func

from shared.errors import BadRequest
from shared.services.coalesce import SingleFlight
from shared.settings import Settings
from shared.triggers.http_json import JSON, json_errors

bp = func.Blueprint()
log = logging.getLogger(__name__)

PARAMETERS = ("site", "refresh", "format", "code", "status", "name", "page", "pageSize")
BOOLEANS = {"true": True, "false": False}
FORMATS = ("json", "html")
HTML = "text/html"
PRETTY_SITES = 10  # JSON reports of at most this many sites are indented


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
        raise BadRequest(
            f"unknown query parameter(s): {', '.join(unknown)}; allowed: site, refresh, format, status, name, "
            "page, pageSize"
        )
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


def parse_page(params: dict[str, str]) -> Any:
    """`status` (comma-separated), `name`, `page`, `pageSize` as a shared.services.health.Page, or
    BadRequest naming the parameter."""
    from shared.services.health import Page

    def number(name: str, default: int) -> int:
        raw = params.get(name)
        if raw is None:
            return default
        if not raw.strip().isdigit():
            raise BadRequest(f"{name}={raw!r}: must be a whole number")
        return int(raw)

    statuses = tuple(s.strip().lower() for s in (params.get("status") or "").split(",") if s.strip())
    name = params.get("name")
    if name is not None and not name.strip():
        raise BadRequest("name must not be empty (a part of site names)")
    try:
        return Page(
            number=number("page", 1),
            size=number("pageSize", Page.size),
            statuses=statuses,
            name=name.strip() if name else None,
        )
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def _headers(kind: str) -> dict[str, str]:
    headers = {"Cache-Control": "no-store", "Vary": "Accept", "X-Content-Type-Options": "nosniff"}
    if kind == "html":
        from shared.report.html import CONTENT_SECURITY_POLICY

        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return headers


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@json_errors
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Errors (shared.triggers.http_json): bad parameters 400, an unknown site 404 with the known names,
    a broken setting or spec 500 ConfigurationError, Table Storage (or, with refresh, ARM) out of reach
    503 with Retry-After."""
    from shared.services.health import health_report

    site, refresh, kind = parse(dict(req.params), req.headers.get("Accept", ""))
    report, status = health_report(
        Settings.from_env(), site=site, live=refresh, page=parse_page(dict(req.params))
    )
    if kind == "html":
        from shared.report.html import render_html, time_zone

        # Times on the page in the app's local zone: WEBSITE_TIME_ZONE (an IANA name on Linux plans), else UTC.
        page = render_html(report, zone=time_zone(os.environ.get("WEBSITE_TIME_ZONE")))
        return func.HttpResponse(
            page, status_code=status, mimetype=HTML, charset="utf-8", headers=_headers("html")
        )
    # Indented for a person reading a few sites; compact for a page of many (the C encoder: ~10x faster).
    return func.HttpResponse(_body(report), status_code=status, mimetype=JSON, headers=_headers("json"))


_bodies: dict[int, tuple[dict[str, Any], str]] = {}  # id(report) -> (report, its JSON): the service
_bodies_lock = threading.Lock()  # hands out one report per page and second, serialized once here
_serializing = SingleFlight()


def _body(report: dict[str, Any]) -> str:
    with _bodies_lock:
        hit = _bodies.get(id(report))
    if hit is not None and hit[0] is report:
        return hit[1]

    def serialize() -> str:
        with _bodies_lock:
            again = _bodies.get(id(report))
        if again is not None and again[0] is report:
            return again[1]
        indent = 2 if len(report.get("sites") or []) <= PRETTY_SITES else None
        body = json.dumps(report, indent=indent)
        with _bodies_lock:
            if len(_bodies) >= 32:
                _bodies.clear()
            _bodies[id(report)] = (report, body)
        return body

    # The requests that get a new report together serialize it once (the report object is the flight's
    # key, held by the flight while it runs: its id() cannot be reused meanwhile).
    return _serializing.do(id(report), serialize)[0]


@bp.route(route="health/schema", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@json_errors
def health_schema(req: func.HttpRequest) -> func.HttpResponse:
    """The report's JSON Schema (no data in it: anonymous, cacheable)."""
    from shared.report.schema import HEALTH_SCHEMA

    return func.HttpResponse(
        json.dumps(HEALTH_SCHEMA, indent=2),
        mimetype="application/schema+json",
        headers={"Cache-Control": "public, max-age=3600"},
    )
