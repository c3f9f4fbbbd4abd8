"""shared.telemetry: structured log fields, and Azure Monitor only when its connection string is set
(the log context itself: tests/test_telemetry_context_platform.py)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from shared import telemetry
from shared.telemetry import configure_telemetry

ROOT = Path(__file__).resolve().parent.parent


def test_the_fields_reach_opentelemetry_log_attributes():
    """The OpenTelemetry handler azure-monitor-opentelemetry installs maps `extra` keys to attributes,
    which the Azure Monitor exporter writes to customDimensions."""
    import opentelemetry.sdk._logs as handler_module  # installed with azure-monitor-opentelemetry

    assert hasattr(handler_module.LoggingHandler, "_get_attributes"), (
        "opentelemetry-sdk changed how log records become attributes: re-check shared/telemetry.py"
    )
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    record.__dict__.update({"site": "seed", "operation": "failover", "run_id": "r-2"})
    attributes = handler_module.LoggingHandler._get_attributes(record)
    assert {k: attributes[k] for k in ("site", "operation", "run_id")} == {
        "site": "seed",
        "operation": "failover",
        "run_id": "r-2",
    }


def test_configure_is_a_no_op_without_the_connection_string(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)
    assert configure_telemetry() is False
    assert configure_telemetry({"APPLICATIONINSIGHTS_CONNECTION_STRING": "  "}) is False


def test_configure_calls_azure_monitor_once_when_the_setting_is_there(monkeypatch: pytest.MonkeyPatch):
    import azure.monitor.opentelemetry as distro

    calls: list[str] = []
    monkeypatch.setattr(distro, "configure_azure_monitor", lambda **kw: calls.append(kw["connection_string"]))
    monkeypatch.setattr(telemetry, "_configured", [])
    env = {"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-0000-0000-000000000000"}
    assert configure_telemetry(env) is True
    assert configure_telemetry(env) is True
    assert calls == [env["APPLICATIONINSIGHTS_CONNECTION_STRING"]]


def test_importing_function_app_loads_no_monitor_or_management_sdk():
    env = {"PATH": "", "PYTHONPATH": str(ROOT)}
    code = (
        "import sys, function_app; "
        "print(sorted(m for m in sys.modules if m.startswith(('azure.mgmt', 'azure.monitor', 'opentelemetry'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
