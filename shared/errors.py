"""The app's one exception hierarchy, and the one policy for what an error message may contain.

Hierarchy (``status`` is the HTTP answer shared.triggers.http_json gives, ``code`` the JSON error code):

    AppError                      500 InternalError
      ConfigurationError          500 ConfigurationError   a broken setting (SettingsError) or spec (SpecError)
      BadRequest                  400 BadRequest           the caller's input is unusable
      NotFound                    404 NotFound             (UnknownSite answers 404 UnknownSite)
      Busy                        409 Busy                 someone else holds the site (SiteBusy)
      DependencyUnavailable       503 DependencyUnavailable  Table Storage, ARM, Key Vault or the identity
                                                             endpoint cannot be reached or answers 5xx/429:
                                                             retry later (Retry-After)
        ObservationFailed         503 ObservationFailed    ARM could not be read, so nothing was classified
      DependencyFailed            502 DependencyFailed     a dependency answered, but refused (4xx)

Exceptions from the Azure SDKs are translated into this hierarchy by shared.azure.errors (the adapters
are the only modules that know the SDKs); `as_app_error` accepts that translator, so this module stays
pure (no SDK import: the pure cores may raise these classes).

Message policy (`redact`): a message that leaves the app (HTTP body, run record, rotation history, log
line) may name resources, ids, status codes and ARM's own error codes and messages; it never carries a
secret: IPsec shared keys, storage account keys, SAS signatures, bearer tokens, function keys, passwords.
Known secret values are replaced wherever they occur; values of secret-named fields and parameters are
replaced by pattern; long messages are cut (after redaction, so a cut never exposes half a secret).
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable, Iterable
from typing import Any

REDACTED = "***"
MAX_MESSAGE_CHARS = 2000
DEFAULT_RETRY_AFTER = 30  # seconds: Azure Monitor's webhook and Event Grid retry on their own schedule


class AppError(Exception):
    """Base of the app's errors. `message` is safe to show (it is redacted again on the way out)."""

    status: int = 500
    code: str = "InternalError"

    def __init__(self, message: Any = "", *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = details


class ConfigurationError(AppError):
    """An app setting or the desired-state spec is unusable: an operator must fix it (500)."""

    status = 500
    code = "ConfigurationError"


class BadRequest(AppError):
    """The request (query, body, event) is unusable; the message says what is wrong (400)."""

    status = 400
    code = "BadRequest"


class NotFound(AppError):
    status = 404
    code = "NotFound"


class Busy(AppError):
    """Another invocation holds what this one needs; retry later (409)."""

    status = 409
    code = "Busy"


class DependencyUnavailable(AppError):
    """Table Storage, ARM, Key Vault or the identity endpoint cannot be reached, or answered 5xx/429
    (503 with Retry-After, so webhook senders retry)."""

    status = 503
    code = "DependencyUnavailable"

    def __init__(
        self, message: Any = "", *, code: str | None = None, retry_after: float | None = None, **details: Any
    ) -> None:
        super().__init__(message, code=code, **details)
        self.retry_after = int(max(1, min(retry_after or DEFAULT_RETRY_AFTER, 3600)))


class ObservationFailed(DependencyUnavailable):
    """ARM could not be read: an ARM problem is not a network outage, so nothing was classified."""

    code = "ObservationFailed"


class DependencyFailed(AppError):
    """A dependency answered but refused the request (a 4xx other than 408/429) (502)."""

    status = 502
    code = "DependencyFailed"


# --------------------------------------------------------------------------------------------------
# Redaction
# --------------------------------------------------------------------------------------------------

_SECRET_NAMES = (
    r"shared[_-]?key|password|passwd|pwd|secret|client[_-]?secret|account[_-]?key|shared[_-]?access[_-]?key"
    r"|access[_-]?token|refresh[_-]?token|id[_-]?token|api[_-]?key|x-functions-key|aeg-sas-key|aeg-sas-token"
    r"|sig|signature|x-identity-header|identity[_-]?header"
)
# name: value / name=value / "name": "value" (JSON, query strings, connection strings, headers)
_NAMED = re.compile(
    rf"""(?ix)
    (?P<name>["']?\b(?:{_SECRET_NAMES})\b["']?\s*[:=]\s*)
    (?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s&;,"'}}\])]+)
    """
)
# The ARM sharedkey body is {"value": KEY}: a "value" next to a sharedkey operation is a key.
_SHAREDKEY_BODY = re.compile(r"""(?is)(sharedkey.{0,200}?["']value["']\s*:\s*)("(?:[^"\\]|\\.)*"|'[^']*')""")
# A function key in a URL: ...?code=KEY or &code=KEY
_QUERY_CODE = re.compile(r"(?i)([?&]code=)[^&\s#\"']+")
# An Authorization header's credentials, whatever the scheme; a bearer token anywhere.
_AUTHORIZATION = re.compile(
    r"""(?i)\b(authorization["']?\s*[:=]\s*["']?)(?:(bearer|basic|sharedkey(?:lite)?)\s+)?[^\s"',;]+"""
)
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")


def _quoted(value: str) -> str:
    if value[:1] in "\"'" and value[-1:] == value[:1] and len(value) >= 2:
        return f"{value[0]}{REDACTED}{value[0]}"
    return REDACTED


def redact(text: Any, *, secrets: Iterable[str | None] = (), limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` as it may leave the app: known `secrets` and secret-looking values replaced, then cut to
    `limit` characters."""
    out = str(text)
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        out = out.replace(secret, REDACTED)
    out = _SHAREDKEY_BODY.sub(lambda m: m.group(1) + _quoted(m.group(2)), out)
    out = _NAMED.sub(lambda m: m.group("name") + _quoted(m.group("value")), out)
    out = _QUERY_CODE.sub(lambda m: m.group(1) + REDACTED, out)
    out = _AUTHORIZATION.sub(lambda m: m.group(1) + (f"{m.group(2)} " if m.group(2) else "") + REDACTED, out)
    out = _BEARER.sub(f"Bearer {REDACTED}", out)
    out = _JWT.sub(REDACTED, out)
    if limit and len(out) > limit:
        out = out[:limit] + f"... ({len(out) - limit} more characters cut)"
    return out


def safe_message(exc: BaseException, *, secrets: Iterable[str | None] = ()) -> str:
    """An exception as a message that may leave the app: the app's own errors by their message, any
    other by its type and (redacted) message."""
    text = str(exc)
    if not isinstance(exc, AppError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return redact(text, secrets=secrets)


# --------------------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------------------

Translator = Callable[[BaseException], AppError | None]


def as_app_error(exc: BaseException, *, translate: Translator | None = None) -> AppError:
    """The AppError an exception stands for: itself, what `translate` (the SDK translation of
    shared.azure.errors) makes of it, or an InternalError naming only its type."""
    if isinstance(exc, AppError):
        return exc
    if translate is not None:
        translated = translate(exc)
        if translated is not None:
            return translated
    if isinstance(exc, RecursionError):
        return BadRequest("the input is nested too deeply")
    return AppError(f"unexpected {type(exc).__name__}; the function's log has the details")


def error_body(error: AppError) -> dict[str, Any]:
    """The JSON error document: {"error": {"code", "message", ...details}}, redacted."""
    body: dict[str, Any] = {"code": error.code, "message": safe_message(error)}
    for name, value in error.details.items():
        body[name] = value if isinstance(value, int | float | bool | None) else _redact_json(value)
    retry_after = getattr(error, "retry_after", None)
    if retry_after:
        body["retryAfterSeconds"] = retry_after
    return {"error": body}


def _redact_json(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_json(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------------
# Logs
# --------------------------------------------------------------------------------------------------

_installed: list[Callable[..., logging.LogRecord]] = []


def _redacted_record(factory: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: keep the record as it is, the handler reports it
            return record
        record.msg, record.args = redact(message, limit=20_000), None
        if record.exc_info and record.exc_info[1] is not None:
            # The traceback as redacted text; exc_info is dropped so that no handler formats the raw
            # exception again (formatters append exc_text; exporters would read exc_info).
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text, record.exc_info = redact(text, limit=20_000), None
        return record

    make.__hybridnet_redaction__ = True  # type: ignore[attr-defined]
    return make


def install_log_redaction() -> None:
    """Every log record created in this process (ours, the SDKs', the host's) is redacted when it is
    created, whatever handler (console, Application Insights) writes it later. Idempotent."""
    current = logging.getLogRecordFactory()
    if getattr(current, "__hybridnet_redaction__", False):
        return
    _installed.append(current)
    logging.setLogRecordFactory(_redacted_record(current))
