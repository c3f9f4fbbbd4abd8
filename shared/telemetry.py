"""Structured logs for Application Insights, and OpenTelemetry when a connection string is set.

With azure-monitor-opentelemetry, the OpenTelemetry logging handler turns every attribute a
`logging.LogRecord` carries beyond the standard ones (that is, each key of `extra=`) into a log
attribute, and the Azure Monitor exporter writes those attributes to the trace's customDimensions.
So the fields go in flat: `extra={"site": ..., "run_id": ..., "operation": ...}` (a nested
`custom_dimensions` dict is the retired OpenCensus convention and would arrive as one unusable value).
Attribute values must be str, bool, int or float: anything else is sent as its str().

Without the connection string nothing is configured and nothing Azure Monitor related is imported:
the fields still sit on the LogRecord (the Functions host logs the message; tests read the fields).
"""

from __future__ import annotations

import logging
import os
from typing import Any

CONNECTION_STRING_SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"

_configured: list[bool] = []


def _attribute(value: Any) -> str | bool | int | float:
    if isinstance(value, str | bool | int | float):
        return value
    return str(value)


def log_event(
    logger: logging.Logger,
    message: str,
    *,
    site: str,
    operation: str,
    run_id: str | None = None,
    level: int = logging.INFO,
    **fields: Any,
) -> None:
    """Log `message` with `site`, `operation`, `run_id` and any further fields as custom dimensions.

    Never pass secrets (keys, ARM bodies) as fields: they are shipped to Application Insights as is.
    """
    dimensions: dict[str, str | bool | int | float] = {"site": site, "operation": operation}
    if run_id is not None:
        dimensions["run_id"] = run_id
    for key, value in fields.items():
        if value is not None:
            dimensions[key] = _attribute(value)
    logger.log(level, message, extra=dimensions)


def configure_telemetry(env: dict[str, str] | None = None) -> bool:
    """Send logs, traces and metrics to Application Insights when the connection string is set.

    Returns True when Azure Monitor was configured (once per process), False otherwise. The import is
    lazy so `import function_app` stays cheap where the setting is absent (tests, local runs).
    """
    environ = os.environ if env is None else env
    connection_string = environ.get(CONNECTION_STRING_SETTING, "").strip()
    if not connection_string:
        return False
    if _configured:
        return True
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(connection_string=connection_string)
    _configured.append(True)
    return True
