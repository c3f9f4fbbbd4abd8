"""JSON responses shared by the HTTP triggers."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

JSON = "application/json"


def json_response(body: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, indent=2, default=str), status_code=status, mimetype=JSON)


def error_response(status: int, code: str, message: str, **extra: Any) -> func.HttpResponse:
    return json_response({"error": {"code": code, "message": message, **extra}}, status)


def site_and_flag(req: func.HttpRequest, flag: str) -> tuple[str, bool] | func.HttpResponse:
    """`?site=NAME[&<flag>=true|false]` (plus the `code` key): the site and the flag, or the 400 that
    names what is wrong."""
    unknown = sorted(set(req.params) - {"site", flag, "code"})
    if unknown:
        return error_response(400, "BadParameter", f"unknown query parameter(s): {', '.join(unknown)}")
    site = req.params.get("site")
    if not site:
        return error_response(400, "MissingSite", "query parameter 'site' is required")
    value = req.params.get(flag, "false").lower()
    if value not in ("true", "false"):
        return error_response(400, "BadParameter", f"{flag} must be true or false")
    return site, value == "true"
