"""Structured logs for Application Insights, and OpenTelemetry when a connection string is set.

Every log record of a site's work carries `site`, `run_id` and `operation`: the service entry points
run inside :func:`log_context` (decorated with :func:`site_operation`), which sets a context variable,
and :class:`LogContextFilter`, on the root logger's handlers (the Functions worker's, and the one Azure
Monitor adds), copies it onto every record they handle as plain attributes. A handler filter rather
than a logger filter: it sees the records of every logger (the SDKs' too), not only one logger's own.

With azure-monitor-opentelemetry, the OpenTelemetry logging handler turns every attribute a
`logging.LogRecord` carries beyond the standard ones into a log attribute, and the Azure Monitor
exporter writes those attributes to the trace's customDimensions. So the fields go in flat (a nested
`custom_dimensions` dict is the retired OpenCensus convention and would arrive as one unusable value).
Never put secrets in the context: it is shipped to Application Insights as is.

Without the connection string nothing is configured and nothing Azure Monitor related is imported:
the fields still sit on the LogRecord (the Functions host logs the message; tests read the fields).
"""

from __future__ import annotations

import functools
import logging
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

CONNECTION_STRING_SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
AUTHENTICATION_STRING_SETTING = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"

P = ParamSpec("P")
R = TypeVar("R")

_context: ContextVar[Mapping[str, str] | None] = ContextVar("hybridnet_log_context", default=None)
_configured: list[bool] = []


# --- the per-site context ------------------------------------------------------------------------------


@contextmanager
def log_context(*, site: str, operation: str, run_id: str | None = None) -> Iterator[str]:
    """Within the block, every log record carries `site`, `run_id` and `operation`. Yields the run id
    (a new one unless given). Nested contexts replace the outer one until they end."""
    run = run_id or uuid.uuid4().hex
    token = _context.set({"site": site, "run_id": run, "operation": operation})
    try:
        yield run
    finally:
        _context.reset(token)


def _site_name(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The site of a service call `f(settings, site_or_name, ...)` (or `site=` / `site_name=`)."""
    value = kwargs.get("site", kwargs.get("site_name", args[1] if len(args) > 1 else None))
    return str(getattr(value, "name", value) or "")


def site_operation(operation: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a service entry point `f(settings, site, ...)` (a Site or a site name) so its work runs
    in a :func:`log_context` for that site: one line per entry point, no re-indented body."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with log_context(site=_site_name(args, kwargs), operation=operation):
                return function(*args, **kwargs)

        return wrapper

    return decorate


class LogContextFilter(logging.Filter):
    """Copies the enclosing :func:`log_context` onto each record a handler sees (fields passed with
    `extra=` win). A handler filter runs for the records of every logger that reaches the handler,
    the SDKs' too, in the thread that logged them, after `extra` was applied."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get()
        if context:
            for key, value in context.items():
                record.__dict__.setdefault(key, value)
        return True


_FILTER = LogContextFilter()


def add_log_context(*handlers: logging.Handler) -> None:
    """Put the context filter on `handlers` (default: every handler of the root logger, where the
    Functions worker's and Azure Monitor's handlers sit). Idempotent."""
    for handler in handlers or tuple(logging.getLogger().handlers):
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)


add_log_context()  # the handlers the Functions worker set up before importing function_app


# --- Azure Monitor -------------------------------------------------------------------------------------


def _aad_client_id(authentication: str) -> str | None:
    """`Authorization=AAD;ClientId=<id>` -> "<id>", `Authorization=AAD` -> "" (the default identity),
    anything else -> None (no Entra ID authentication)."""
    pairs = {}
    for part in authentication.split(";"):
        key, _, value = part.partition("=")
        pairs[key.strip().lower()] = value.strip()
    if pairs.get("authorization", "").upper() != "AAD":
        return None
    return pairs.get("clientid", "")


def configure_telemetry(env: Mapping[str, str] | None = None) -> bool:
    """Send logs, traces and metrics to Application Insights when the connection string is set.

    With APPLICATIONINSIGHTS_AUTHENTICATION_STRING `Authorization=AAD[;ClientId=<id>]` (local
    authentication disabled on the Application Insights resource) the exporter authenticates with the
    app's credential from the client factory (the user-assigned identity `ClientId` names, else the
    default one). Returns True when Azure Monitor was configured (once per process), False otherwise.
    The import is lazy so `import function_app` stays cheap where the setting is absent.
    """
    environ = os.environ if env is None else env
    connection_string = environ.get(CONNECTION_STRING_SETTING, "").strip()
    if not connection_string:
        return False
    if _configured:
        return True
    from azure.monitor.opentelemetry import configure_azure_monitor

    options: dict[str, Any] = {"connection_string": connection_string}
    client_id = _aad_client_id(environ.get(AUTHENTICATION_STRING_SETTING, ""))
    if client_id is not None:
        from shared.azure.clients import credential

        options["credential"] = credential(managed_identity_client_id=client_id or None)
    configure_azure_monitor(**options)
    add_log_context()  # the OpenTelemetry handler configure_azure_monitor added
    _configured.append(True)
    return True
