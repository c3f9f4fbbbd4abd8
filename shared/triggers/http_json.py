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
