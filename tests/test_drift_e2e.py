"""Drift reconciliation through the real SDK against the simulator, records in a real Azurite."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from hybridnet_dev.armsim.control import SimControl
from shared.azure.run_log import latest_runs
from shared.azure.tables import table_service
from shared.drift.plan import Mode
from shared.services.reconciler import SiteBusy, reconcile
from shared.settings import Settings
from tests.stack import LNG, RG_ID, VPN_CONNECTION, VPN_GATEWAY, app_on_simulator, put_rogue_connection

GATEWAY_SUBNET = f"{RG_ID}/virtualNetworks/hybrid-vnet/subnets/GatewaySubnet"


@pytest.fixture
def network(azurite) -> Iterator[tuple[Settings, SimControl]]:
    """A freshly seeded simulator per test: every scenario starts in sync."""
    with app_on_simulator(storage=azurite.connection_string) as app:
        app.control.clear_requests()
        yield Settings.from_env(), app.control


def writes(control: SimControl) -> list[dict]:
    return [r for r in control.requests() if r["method"] in ("PUT", "PATCH", "DELETE", "POST")]


def reads(control: SimControl) -> list[dict]:
    return [r for r in control.requests() if r["method"] == "GET" and "operations" not in r["path"].lower()]


def test_steady_state_costs_five_reads_and_no_writes(network):
    settings, control = network
    result = reconcile(settings, "seed", trigger="manual", mode=Mode.ENFORCE)
    assert result.outcome == "in-sync" and result.findings == ()
    assert writes(control) == []
    assert len(reads(control)) <= 5, [r["path"] for r in reads(control)]


def test_lng_prefixes_changed_report_then_enforce(network):
    settings, control = network
    control.patch_resource(LNG, {"localNetworkAddressSpace": {"addressPrefixes": ["10.10.1.0/24"]}})
    control.clear_requests()

    report = reconcile(settings, "seed", trigger="manual", mode=Mode.REPORT)
    assert report.outcome == "drift-reported"
    assert any("traffic-stealing" in f.message for f in report.findings)
    assert writes(control) == []

    fixed = reconcile(settings, "seed", trigger="manual", mode=Mode.ENFORCE)
    assert fixed.outcome == "fixed", fixed.to_json()
    assert [r.outcome.value for r in fixed.results] == ["applied"]
    puts = writes(control)
    assert len(puts) == 1 and puts[0]["path"].endswith("localNetworkGateways/hybrid-onprem-lng")

    control.clear_requests()
    again = reconcile(settings, "seed", trigger="manual", mode=Mode.ENFORCE)
    assert again.outcome == "in-sync" and writes(control) == []


def test_routing_weight_changed_is_restored(network):
    settings, control = network
    control.patch_resource(VPN_CONNECTION, {"routingWeight": 99})
    result = reconcile(settings, "seed", trigger="manual", mode=Mode.ENFORCE)
    assert result.outcome == "fixed"
    assert reconcile(settings, "seed", trigger="manual", mode=Mode.REPORT).findings == ()


def test_deleted_vpn_connection_is_recreated(network):
    settings, control = network
    control.delete_resource(VPN_CONNECTION)
    result = reconcile(settings, "seed", trigger="manual", mode=Mode.ENFORCE)
    assert result.outcome == "fixed", result.to_json()
    (action,) = result.results
    assert action.action.operation.value == "create"
    assert reconcile(settings, "seed", trigger="manual", mode=Mode.REPORT).findings == ()


def test_rogue_connection_is_reported_and_left_alone(network):
    settings, control = network
    put_rogue_connection(control)
    control.clear_requests()
    result = reconcile(settings, "seed", trigger="manual", mode=Mode.ENFORCE_DISRUPTIVE)
    assert [f.kind.value for f in result.findings] == ["unexpected"]
    assert result.plan is not None and result.plan.refused[0].reason.startswith("forbidden")
    assert writes(control) == []
    assert result.outcome == "drift-remains"


def test_gateway_sku_downgrade_needs_enforce_disruptive(network):
    settings, control = network
    control.patch_resource(VPN_GATEWAY, {"sku": {"name": "VpnGw2", "tier": "VpnGw2"}})
    control.clear_requests()
    refused = reconcile(settings, "seed", trigger="manual", mode=Mode.ENFORCE)
    assert refused.outcome == "drift-remains" and writes(control) == []
    assert "enforce-disruptive" in refused.plan.refused[0].reason
    fixed = reconcile(settings, "seed", trigger="manual", mode=Mode.ENFORCE_DISRUPTIVE)
    assert fixed.outcome == "fixed", fixed.to_json()


def test_nsg_on_gateway_subnet_is_detached(network):
    settings, control = network
    nsg = f"{RG_ID}/networkSecurityGroups/gateway-nsg"
    control.put_resource(nsg, {"location": "eastus", "properties": {"securityRules": []}})
    control.patch_resource(GATEWAY_SUBNET, {"networkSecurityGroup": {"id": nsg}})
    result = reconcile(settings, "seed", trigger="manual", mode=Mode.ENFORCE)
    assert result.outcome == "fixed", result.to_json()
    assert reconcile(settings, "seed", trigger="manual", mode=Mode.REPORT).findings == ()


def test_runs_are_recorded_newest_first(network):
    settings, control = network
    reconcile(settings, "seed", trigger="timer", mode=Mode.REPORT)
    control.patch_resource(VPN_CONNECTION, {"routingWeight": 7})
    reconcile(settings, "seed", trigger="event", mode=Mode.REPORT)
    runs = latest_runs(table_service(settings), "seed", limit=2)
    assert [r["trigger"] for r in runs] == ["event", "timer"]
    assert runs[0]["outcome"] == "drift-reported" and runs[0]["openBySeverity"] == {"medium": 1}


def test_throttling_and_server_errors_still_converge(network):
    settings, control = network
    control.patch_resource(LNG, {"gatewayIpAddress": "40.50.60.71"})
    control.add_fault("throttle", method="PUT", path="localNetworkGateways", retry_after=1, count=1)
    control.add_fault("error", method="GET", path="virtualNetworkGateways$", status=500, count=1)
    result = reconcile(settings, "seed", trigger="manual", mode=Mode.ENFORCE)
    assert result.outcome == "fixed", result.to_json()
    statuses = [r["status"] for r in control.requests()]
    assert 429 in statuses and 500 in statuses


def test_failed_long_running_operation_is_recorded(network):
    settings, control = network
    control.patch_resource(LNG, {"gatewayIpAddress": "40.50.60.71"})
    control.add_fault("failLro", method="PUT", path="localNetworkGateways", count=1)
    result = reconcile(settings, "seed", trigger="manual", mode=Mode.ENFORCE)
    assert result.outcome == "partial"
    assert result.results[0].outcome.value == "failed"
    runs = latest_runs(table_service(settings), "seed", limit=1)
    assert runs[0]["outcome"] == "partial" and runs[0]["actions"][0]["outcome"] == "failed"


def test_two_reconcilers_racing_on_one_site(network):
    settings, control = network
    control.patch_resource(VPN_CONNECTION, {"routingWeight": 42})
    control.add_fault(
        "latency", method="PUT", path="connections/hybrid-vpn-connection$", latency_ms=600, count=1
    )
    control.clear_requests()
    outcomes: list[str] = []

    def run() -> None:
        try:
            outcomes.append(reconcile(settings, "seed", trigger="timer", mode=Mode.ENFORCE).outcome)
        except SiteBusy:
            outcomes.append("busy")

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["busy", "fixed"]
    assert len([w for w in writes(control) if w["method"] == "PUT"]) == 1
    # The lease is released: the next run goes ahead and finds nothing to do.
    assert reconcile(settings, "seed", trigger="timer", mode=Mode.ENFORCE).outcome == "in-sync"


def test_provision_from_an_empty_resource_group(azurite):
    with app_on_simulator(storage=azurite.connection_string, empty=True) as app:
        settings = Settings.from_env()
        result = reconcile(settings, "seed", trigger="manual", mode=Mode.ENFORCE)
        assert result.outcome == "fixed", result.to_json()
        created = [r.action.name for r in result.results]
        assert (
            created.index("hybrid-vpn-gw-pip")
            < created.index("hybrid-vpn-gw")
            < created.index("hybrid-vpn-connection")
        )
        control = app.control
        control.clear_requests()
        again = reconcile(settings, "seed", trigger="manual", mode=Mode.ENFORCE)
        assert again.outcome == "in-sync" and writes(control) == []


def test_connection_resets_are_retried(network):
    settings, control = network
    control.patch_resource(VPN_CONNECTION, {"routingWeight": 3})
    control.add_fault("reset", method="GET", path="localNetworkGateways$", count=1)
    control.add_fault("reset", method="PUT", path="connections/hybrid-vpn-connection$", count=1)
    result = reconcile(settings, "seed", trigger="manual", mode=Mode.ENFORCE)
    assert result.outcome == "fixed", result.to_json()
    assert sum(1 for r in control.requests() if r["status"] == 0) == 2  # both resets happened
