"""What a failed long-running ARM operation says went wrong.

When an operation's status monitor answers `Failed` or `Canceled`, azure-core raises an HttpResponseError
built from that (HTTP 200) status answer, its cause an `OperationFailed`. Its status code says nothing
(200); the cause is in the status body: {"status": "Failed", "error": {"code", "message", "details"}}.
https://learn.microsoft.com/azure/azure-resource-manager/management/async-operations
"""

from __future__ import annotations

import json
from typing import Any

MAX_MESSAGE_CHARS = 300


def _operation_failed(exc: BaseException) -> bool:
    from azure.core.polling.base_polling import OperationFailed

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OperationFailed):
            return True
        seen.add(id(current))
        current = getattr(current, "inner_exception", None) or current.__cause__
    return False


def _status_body(exc: BaseException) -> dict[str, Any]:
    response = getattr(exc, "response", None)
    if response is None:
        return {}
    try:
        body = json.loads(response.text())
    except (ValueError, TypeError, AttributeError):
        return {}
    return body if isinstance(body, dict) else {}


def _clean(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "***")  # before cutting, so no fragment of it survives
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def lro_failure(exc: BaseException, *, secret: str | None = None) -> str | None:
    """'the operation ended Failed: CODE: message' (with the first detail's code and message when ARM
    gives details) for an operation that failed or was canceled; None for any other error. `secret` is
    redacted from ARM's text."""
    from azure.core.exceptions import HttpResponseError

    if not isinstance(exc, HttpResponseError) or not _operation_failed(exc):
        return None
    body = _status_body(exc)
    status = str(body.get("status") or "Failed")
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    code = str(error.get("code") or (exc.error.code if exc.error is not None else "") or "")
    message = str(error.get("message") or (exc.error.message if exc.error is not None else "") or "")
    details = error.get("details")
    first = details[0] if isinstance(details, list) and details and isinstance(details[0], dict) else {}
    text = f"the operation ended {status}"
    if code:
        text += f": {code}"
    if message:
        text += f": {message}"
    if first.get("code") or first.get("message"):
        text += f" (detail: {first.get('code') or ''}{': ' if first.get('message') else ''}{first.get('message') or ''})"
    return _clean(text, secret)
