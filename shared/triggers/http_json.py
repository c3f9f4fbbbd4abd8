"""JSON responses shared by the HTTP triggers, and the ONE place where errors become HTTP answers.

Every HTTP function is decorated with `@json_errors`: whatever it raises becomes a JSON error
`{"error": {"code", "message", ...}}` with the status of its class in shared.errors (SDK exceptions
translated by the adapters): a broken setting or spec is a 500 ConfigurationError, Table Storage or
ARM out of reach a 503 with Retry-After, bad input a 400. Never a bare 500 with an empty body; never a
secret in the body (shared.errors.redact).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

import azure.functions as func

from shared.errors import AppError, BadRequest, DependencyUnavailable, error_body, redact
from shared.services.errors import app_error

JSON = "application/json"
MAX_JSON_BYTES = 1024 * 1024  # an Azure Monitor common-schema alert is a few KiB
MAX_JSON_DEPTH = 64

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., func.HttpResponse])


def json_response(
    body: Any, status: int = 200, *, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, indent=2, default=str), status_code=status, mimetype=JSON, headers=headers
    )


def error_response(status: int, code: str, message: str, **extra: Any) -> func.HttpResponse:
    """An error answer built by a trigger itself (validation): same shape and redaction as raised ones."""
    error = AppError(message, code=code, **extra)
    error.status = status
    return response_for(error)


def response_for(error: AppError) -> func.HttpResponse:
    headers = {"Cache-Control": "no-store"}
    if isinstance(error, DependencyUnavailable):
        headers["Retry-After"] = str(error.retry_after)
    return json_response(error_body(error), error.status, headers=headers)


def error_from(exc: BaseException, *, function: str) -> func.HttpResponse:
    """The HTTP answer for anything an HTTP function raised (logged here, once, redacted)."""
    error = app_error(exc)
    if error.status >= 500 and type(error) is AppError:  # not one of ours: a bug, keep the traceback
        log.error("%s: unexpected error", function, exc_info=exc)
    elif error.status >= 500:
        log.error("%s: %s %s: %s", function, error.status, error.code, redact(error))
    else:
        log.info("%s: %s %s: %s", function, error.status, error.code, redact(error))
    return response_for(error)


def json_errors(fn: F) -> F:
    """Decorate every HTTP function (below `@bp.route`): exceptions become JSON errors."""

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> func.HttpResponse:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            return error_from(exc, function=fn.__name__)

    guarded.__json_errors__ = True  # type: ignore[attr-defined]
    return guarded  # type: ignore[return-value]


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(body: bytes) -> int:
    """Deepest nesting of arrays/objects in a JSON text (strings skipped), without parsing it."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def json_body(
    req: func.HttpRequest, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH
) -> Any:
    """The request body as JSON, bounded in size and depth; BadRequest (400) naming what is wrong."""
    body = req.get_body() or b""
    if len(body) > max_bytes:
        raise BadRequest(
            f"the request body has {len(body)} bytes; at most {max_bytes} are accepted", code="BodyTooLarge"
        )
    depth = json_depth(body)
    if depth > max_depth:
        raise BadRequest(
            f"the request body is nested {depth} levels deep; at most {max_depth} are accepted",
            code="BadJson",
        )
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest(f"the request body is not JSON ({redact(exc, limit=200)})", code="BadJson") from None


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
