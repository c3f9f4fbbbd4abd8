"""Structured telemetry wired (issue 12, item 13): every log line of a site's work carries `site`,
`run_id` and `operation`, whichever logger writes it (ours or the SDKs'), set once at each service
entry point; Application Insights authenticates with the client factory's credential under
`Authorization=AAD`."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Any

import pytest

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorThread
from shared import telemetry
from shared.azure import clients
from shared.services.failover import check_site
from shared.services.reconciler import reconcile
from shared.services.rotation import check_key, rotate_site
from shared.settings import Settings
from shared.telemetry import (
    LogContextFilter,
    add_log_context,
    configure_telemetry,
    log_context,
)
from tests.stack import APPLIANCE, seed_spec


@pytest.fixture(autouse=True)
def context_on_capture(caplog: pytest.LogCaptureFixture) -> None:
    """The capture handler gets the filter as the root logger's handlers get it in the app."""
    add_log_context(caplog.handler)


def test_the_root_handlers_get_the_filter() -> None:
    handler = logging.StreamHandler()
    logging.getLogger().addHandler(handler)
    try:
        add_log_context()
        add_log_context()
        assert [type(f) for f in handler.filters] == [LogContextFilter]
    finally:
        logging.getLogger().removeHandler(handler)


def _ours(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    """Records written by this thread (the simulator's own thread logs too, outside any site's work)."""
    return [r for r in records if r.thread == threading.get_ident()]


def test_every_record_in_the_block_carries_the_fields_whatever_the_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with log_context(site="seed", operation="reconcile", run_id="r-1") as run_id:
        assert run_id == "r-1"
        logging.getLogger("shared.services.example").info("ours")
        logging.getLogger("azure.core.pipeline").warning("an SDK's")
        with log_context(site="other", operation="rotation") as inner:
            logging.getLogger("x").error("nested")
        logging.getLogger("x").info("outer again")
    logging.getLogger("x").info("outside")
    fields = [
        (r.getMessage(), getattr(r, "site", None), getattr(r, "operation", None)) for r in caplog.records
    ]
    assert fields == [
        ("ours", "seed", "reconcile"),
        ("an SDK's", "seed", "reconcile"),
        ("nested", "other", "rotation"),
        ("outer again", "seed", "reconcile"),
        ("outside", None, None),
    ]
    assert [getattr(r, "run_id", None) for r in caplog.records] == ["r-1", "r-1", inner, "r-1", None]
    assert len(inner) == 32


def test_explicit_extra_fields_win_over_the_context(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with log_context(site="seed", operation="failover"):
        logging.getLogger("x").info("m", extra={"operation": "alert"})
    (record,) = caplog.records
    assert (record.site, record.operation) == ("seed", "alert")


def test_each_thread_keeps_its_own_site(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    barrier = threading.Barrier(2)

    def work(site: str) -> None:
        with log_context(site=site, operation="reconcile"):
            barrier.wait(timeout=5)
            logging.getLogger("x").info(site)

    threads = [threading.Thread(target=work, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted((r.getMessage(), r.site) for r in caplog.records) == [("a", "a"), ("b", "b")]


# --- the service entry points, against the simulator and Azurite ------------------------------------------


def _assert_all_carry(records: list[logging.LogRecord], *, site: str, operation: str) -> None:
    assert records, "the operation logged nothing"
    missing = [
        (r.name, getattr(r, "operation", None), r.getMessage()[:60])
        for r in records
        if (getattr(r, "site", None), getattr(r, "operation", None)) != (site, operation)
    ]
    assert missing == []
    run_ids = {getattr(r, "run_id", None) for r in records}
    assert len(run_ids) == 1 and None not in run_ids


def test_a_reconcile_logs_every_line_with_site_run_and_operation(
    seed_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the SDK's HTTP logging too
    reconcile(seed_settings, "seed", trigger="manual")
    records = _ours(caplog.records)
    assert any(r.name == "shared.services.reconciler" for r in records)
    assert any(r.name.startswith("azure.") for r in records)
    _assert_all_carry(records, site="seed", operation="reconcile")


def test_a_failover_check_logs_every_line_with_site_run_and_operation(
    seed_settings: Settings, seed_sim: SimulatorThread, caplog: pytest.LogCaptureFixture
) -> None:
    settings = replace(seed_settings, keyvault_url=None)  # no rotation rollback nested in the check
    site = seed_spec().site("seed")
    check_site(settings, site, "poll")  # the baseline
    SimControl(seed_sim.info.control_url).set_circuit("hybrid-er-circuit", up=False)
    try:
        caplog.clear()
        caplog.set_level(logging.DEBUG)
        result = check_site(settings, site, "poll")
        assert result.outcome == "recorded"
        records = _ours(caplog.records)
        assert any("failover recorded" in r.getMessage() for r in records)
        _assert_all_carry(records, site="seed", operation="failover")
    finally:
        SimControl(seed_sim.info.control_url).set_circuit("hybrid-er-circuit", up=True)
        check_site(settings, site, "poll")


def test_rotation_and_key_check_log_with_site_run_and_operation(
    seed_settings: Settings, seed_sim: SimulatorThread, caplog: pytest.LogCaptureFixture
) -> None:
    site = seed_spec().site("seed")
    SimControl(seed_sim.info.control_url).set_appliance(APPLIANCE, up=True)
    caplog.set_level(logging.DEBUG)
    rotate_site(seed_settings, site, manual=True)
    records = _ours(caplog.records)
    _assert_all_carry(records, site="seed", operation="rotation")
    caplog.clear()
    check_key(seed_settings, site)
    _assert_all_carry(_ours(caplog.records), site="seed", operation="key-check")


# --- Application Insights with Entra ID (managed identity) -----------------------------------------------

CONNECTION = "InstrumentationKey=00000000-0000-0000-0000-000000000000"


@pytest.fixture()
def monitor_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    import azure.monitor.opentelemetry as distro

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(distro, "configure_azure_monitor", lambda **kw: calls.append(kw))
    monkeypatch.setattr(telemetry, "_configured", [])
    return calls


def test_aad_authentication_uses_the_factory_credential_for_the_named_identity(
    monitor_calls: list[dict[str, Any]],
) -> None:
    env = {
        "APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION,
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Authorization=AAD;ClientId=11111111-2222-3333-4444-555555555555",
    }
    assert configure_telemetry(env) is True
    (call,) = monitor_calls
    assert call["connection_string"] == CONNECTION
    expected = clients.credential(managed_identity_client_id="11111111-2222-3333-4444-555555555555")
    assert call["credential"] is expected
    assert call["credential"] is not clients.credential()  # a credential for that identity, not the default


def test_aad_without_client_id_uses_the_default_credential(monitor_calls: list[dict[str, Any]]) -> None:
    env = {
        "APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION,
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "authorization=AAD",
    }
    assert configure_telemetry(env) is True
    assert monitor_calls[0]["credential"] is clients.credential()


def test_without_aad_no_credential_is_passed(monitor_calls: list[dict[str, Any]]) -> None:
    assert configure_telemetry({"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION}) is True
    assert monitor_calls == [{"connection_string": CONNECTION}]
