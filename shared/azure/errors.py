"""Azure SDK exceptions -> the app's hierarchy (shared.errors). The adapters are the only modules that
know the SDKs, so the translation lives here; services hand it to `shared.errors.as_app_error`.

- cannot connect, connection reset, timeout, no token from the identity endpoint -> DependencyUnavailable
- an answer 5xx, 408 or 429 -> DependencyUnavailable (Retry-After taken from the answer when it has one)
- any other refusal (4xx) -> DependencyFailed (502): ARM's code and message are kept, redacted
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from shared.errors import AppError, DependencyFailed, DependencyUnavailable, redact, safe_message

_HOST_PORT = re.compile(r"host='([^']+)', port=(\d+)")
_DETAIL_CHARS = 400


def _where(exc: BaseException) -> str:
    """The dependency's address when the exception carries one (scheme://host:port/path, no query)."""
    response = getattr(exc, "response", None)
    request = getattr(response, "request", None) if response is not None else None
    url = getattr(request, "url", None)
    if isinstance(url, str) and url:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"
    found = _HOST_PORT.search(str(exc))
    return f"{found.group(1)}:{found.group(2)}" if found else ""


def _dependency(exc: BaseException, where: str) -> str:
    """Which service: from the address or the request the error names (Azure's host names, the local
    stack's paths)."""
    text = f"{where} {exc}".lower()
    if "vault" in text:
        return "Key Vault"
    if ".queue." in text or "/messages" in text:
        return "Queue Storage"
    if any(m in text for m in (".table.", "/tables", "(partitionkey=", "devstoreaccount")):
        return "Table Storage"
    if "/providers/" in text or "management." in text:
        return "Azure Resource Manager"
    if type(exc).__module__.startswith("azure.identity"):
        return "the managed identity endpoint"
    return "an Azure service"


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    raw = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def translate(exc: BaseException) -> AppError | None:
    """The AppError an Azure SDK exception stands for; None for anything else."""
    from azure.core.exceptions import (
        AzureError,
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    if not isinstance(exc, AzureError):
        return None
    where = _where(exc)
    dependency = _dependency(exc, where)
    at = f" at {where}" if where else ""
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        detail = safe_message(exc)[:_DETAIL_CHARS]
        return DependencyUnavailable(f"{dependency}{at} could not be reached ({detail})")
    if isinstance(exc, ClientAuthenticationError) and getattr(exc, "status_code", None) is None:
        detail = safe_message(exc)[:_DETAIL_CHARS]
        return DependencyUnavailable(f"no access token for {dependency}{at} ({detail})")
    if isinstance(exc, HttpResponseError):
        status = exc.status_code
        error = getattr(exc, "error", None)
        code = getattr(error, "code", None) if error is not None else None
        message = getattr(error, "message", None) if error is not None else None
        text = f"{dependency}{at} answered {status if status is not None else 'without a status'}"
        if code:
            text += f" {code}"
        if message:
            text += f": {redact(message, limit=_DETAIL_CHARS)}"
        if status is None or status >= 500 or status in (408, 429):
            return DependencyUnavailable(text, retry_after=_retry_after(exc))
        return DependencyFailed(text)
    return DependencyUnavailable(f"{dependency}{at} failed ({safe_message(exc)[:_DETAIL_CHARS]})")
