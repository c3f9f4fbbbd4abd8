"""The foundation's whole chain: local Functions host -> function_app -> DefaultAzureCredential
(managed-identity endpoint of the simulator) -> real azure-mgmt-network SDK over HTTPS -> simulator."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorThread
from hybridnet_dev.funchost.server import LocalHost
from shared.spec import NetworkSpec
from tests.stack import point_app_at

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "examples/seed-network.yaml"
CIRCUIT = "hybrid-er-circuit"
APPLIANCE = "40.50.60.70"


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[tuple[str, str, SimControl]]:
    spec = NetworkSpec.model_validate(yaml.safe_load(SEED.read_text()))
    with SimulatorThread(spec) as sim, pytest.MonkeyPatch.context() as env:
        info = sim.info
        point_app_at(env, info, HYBRIDNET_ARM_RETRY_TOTAL="1")
        with LocalHost("function_app", app_dir=str(ROOT), port=0, enable_timers=False) as host:
            yield host.info.base_url, host.info.function_key, SimControl(info.control_url)


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_health_needs_the_function_key(stack):
    base, _key, _control = stack
    status, _ = _get(f"{base}/api/health")
    assert status == 401


def test_health_shows_both_paths_and_follows_the_circuit(stack):
    base, key, control = stack
    status, body = _get(f"{base}/api/health?code={key}")
    assert status == 200, body
    (site,) = body["sites"]
    assert site["name"] == "seed"
    assert site["connections"]["expressRoute"]["connectionStatus"] == "Connected"
    assert site["connections"]["vpn"]["connectionStatus"] == "Connected"
    assert site["gateways"]["expressRoute"]["provisioningState"] == "Succeeded"
    assert site["gateways"]["vpn"]["provisioningState"] == "Succeeded"
    assert site["activePath"] == "expressroute"

    control.set_circuit(CIRCUIT, up=False)
    try:
        _, body = _get(f"{base}/api/health?code={key}")
        site = body["sites"][0]
        assert site["connections"]["expressRoute"]["connectionStatus"] == "NotConnected"
        assert site["activePath"] == "vpn"

        control.set_appliance(APPLIANCE, up=False)
        _, body = _get(f"{base}/api/health?code={key}")
        assert body["sites"][0]["activePath"] == "none"
    finally:
        control.set_circuit(CIRCUIT, up=True)
        control.set_appliance(APPLIANCE, up=True)
    _, body = _get(f"{base}/api/health?code={key}")
    assert body["sites"][0]["activePath"] == "expressroute"


def test_health_site_filter_and_unknown_site(stack):
    base, key, _control = stack
    status, body = _get(f"{base}/api/health?code={key}&site=seed")
    assert status == 200 and [s["name"] for s in body["sites"]] == ["seed"]
    status, body = _get(f"{base}/api/health?code={key}&site=nowhere")
    assert status == 404
    assert body["error"]["known"] == ["seed"]


def test_an_arm_failure_is_reported_for_that_resource(stack):
    base, key, control = stack
    control.add_fault(method="GET", path="virtualNetworkGateways/hybrid-vpn-gw$", kind="error", status=500)
    try:
        status, body = _get(f"{base}/api/health?code={key}")
    finally:
        control.clear_faults()
    assert status == 200
    vpn_gateway = body["sites"][0]["gateways"]["vpn"]
    assert vpn_gateway["error"].startswith("ARM answered 500")
    assert body["sites"][0]["gateways"]["expressRoute"]["provisioningState"] == "Succeeded"


def test_a_deleted_connection_is_reported_not_raised(stack):
    base, key, control = stack
    sub = "00000000-0000-0000-0000-000000000000"
    vpn_id = (
        f"/subscriptions/{sub}/resourceGroups/hybrid-network-rg/providers/Microsoft.Network/"
        "connections/hybrid-vpn-connection"
    )
    _status, body = _get(f"{base}/api/health?code={key}")
    before = body["sites"][0]["connections"]["vpn"]
    assert before["exists"] is True
    # Out of band, as a person in the portal would (this module's last test: nothing restores it).
    control.delete_resource(vpn_id)
    _, body = _get(f"{base}/api/health?code={key}")
    vpn = body["sites"][0]["connections"]["vpn"]
    assert vpn["exists"] is False and vpn["connectionStatus"] is None
    assert body["sites"][0]["activePath"] == "expressroute"
