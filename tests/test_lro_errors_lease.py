"""A failed long-running operation is reported with the operation's own error code and message (issue
12, item 9), through the real SDK against the simulator's failLro fault."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hybridnet_dev.armsim.control import SimControl
from shared import cli
from shared.azure.arm import network_client
from shared.azure.run_log import latest_runs
from shared.azure.shared_keys import SharedKeyError, write_shared_key
from shared.azure.tables import table_service
from shared.drift.plan import Mode
from shared.rotation.keygen import generate_shared_key
from shared.services.reconciler import reconcile
from shared.settings import Settings
from tests.failover_support import unique_spec
from tests.stack import LNG, app_on_simulator

OPERATION_ERROR = (
    "the operation ended Failed: InternalServerError: An error occurred while processing the operation"
)


@pytest.fixture
def network(azurite, tmp_path) -> Iterator[tuple[Settings, SimControl, str]]:
    spec_path, site = unique_spec(tmp_path)
    with app_on_simulator(
        storage=azurite.connection_string, spec_path=spec_path, HYBRIDNET_ARM_RETRY_TOTAL="0"
    ) as app:
        yield Settings.from_env(), app.control, site


def test_a_failed_operation_names_its_error_in_the_result_the_run_and_the_cli(network, capsys):
    settings, control, site = network
    control.patch_resource(LNG, {"gatewayIpAddress": "40.50.60.71"})
    control.add_fault("failLro", method="PUT", path="localNetworkGateways", count=1)
    result = reconcile(settings, site, trigger="manual", mode=Mode.ENFORCE)
    (action,) = result.results
    assert action.outcome.value == "failed"
    assert action.detail.startswith(f"localNetworkGateways/hybrid-onprem-lng: {OPERATION_ERROR}"), (
        action.detail
    )
    assert "hybrid-onprem-lng" in action.detail and "ARM answered" not in action.detail
    (run,) = latest_runs(table_service(settings), site, limit=1)
    assert OPERATION_ERROR in run["actions"][0]["detail"]

    control.add_fault("failLro", method="PUT", path="localNetworkGateways", count=1)
    assert cli.main(["apply", "--site", site]) == 1
    out = capsys.readouterr().out
    assert OPERATION_ERROR in out and "ARM answered 200" not in out


def test_a_failed_shared_key_operation_names_its_error_and_never_the_key(network):
    settings, control, _site = network
    control.add_fault("failLro", method="PUT", path="sharedkey$", count=1)
    key = generate_shared_key()
    with pytest.raises(SharedKeyError) as failed:
        write_shared_key(
            network_client(settings), "hybrid-network-rg", "hybrid-vpn-connection", key, timeout=30
        )
    assert OPERATION_ERROR in str(failed.value) and "(200" not in str(failed.value)
    assert key not in str(failed.value)


def test_an_error_answered_at_once_still_says_what_arm_answered(network):
    settings, control, site = network
    control.patch_resource(LNG, {"gatewayIpAddress": "40.50.60.71"})
    control.add_fault("error", method="PUT", path="localNetworkGateways", status=500, count=1)
    result = reconcile(settings, site, trigger="manual", mode=Mode.ENFORCE)
    assert "ARM answered 500 InternalServerError" in result.results[0].detail
    assert "the operation ended" not in result.results[0].detail
