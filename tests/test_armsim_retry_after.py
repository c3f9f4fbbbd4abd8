"""ARM says when to poll a long-running operation: `Retry-After` (10 s on Microsoft.Network, lro.RETRY_AFTER)
on the answer that starts it and on every answer of its status or result URI while it runs, at the
simulator's time scale (`retry-after-ms` carries a scaled value; never below lro.RETRY_AFTER_FLOOR_MS). The
real SDK poller, and so the app, polls at that pace, not at its own polling_interval."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from azure.identity import DefaultAzureCredential

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.ids import ResourceId
from hybridnet_dev.armsim.lro import (
    DEFAULT_RETRY_AFTER,
    LOCAL_TIME_SCALE,
    RETRY_AFTER_FLOOR_MS,
    TEST_TIME_SCALE,
    Operation,
    Operations,
    duration,
    retry_after,
)
from hybridnet_dev.armsim.runner import SimulatorThread
from shared.azure.arm import network_client
from shared.azure.shared_keys import write_shared_key
from shared.settings import Settings
from tests.helpers import wait_for
from tests.stack import (
    LNG,
    RG_ID,
    VPN_CONNECTION,
    VPN_GATEWAY,
    arm_call,
    point_app_at,
    put_fidelity_nsg,
    sdk_client,
    simulator,
)

API = "2025-05-01"
RG = "hybrid-network-rg"
NSG = f"{RG_ID}/networkSecurityGroups/fidelity-nsg"
# 1 s of the test's clock is 100 s of Azure's: Retry-After 10 s -> 100 ms, above the floor; a connection
# update (2 min) takes 1.2 s, so Azure's 12 polls of it take about as long.
SCALE = 0.01


class Arm:
    """Plain ARM calls as the operator (Owner on the subscription: creates and deletes what the app may
    not)."""

    def __init__(self, sim: SimulatorThread) -> None:
        self.info = sim.info
        self.credential = SimControl(sim.info.control_url).operator_credential()

    def call(
        self, method: str, path: str = "", body: Any = None, *, url: str | None = None
    ) -> requests.Response:
        return arm_call(self.info, self.credential, method, path, body, url=url, api_version=API)

    def writable(self, path: str) -> dict[str, Any]:
        body = dict(self.call("GET", path).json())
        body.pop("etag", None)
        return body


def asks(resp: requests.Response) -> dict[str, str]:
    """The poll-pacing headers of an answer."""
    return {k: v for k, v in resp.headers.items() if k.lower() in ("retry-after", "retry-after-ms")}


def status_polls(control: SimControl) -> list[dict[str, Any]]:
    return [r for r in control.requests() if r["method"] == "GET" and "/locations/" in r["path"]]


# --- the table and the scale ------------------------------------------------------------------------
def _op(rtype: str = "virtualNetworkGateways") -> Operation:
    return Operation("op", "put", ResourceId("s", "rg", rtype, "x"), "eastus", False, lambda _f: None)


def test_microsoft_network_asks_for_10_seconds() -> None:
    for rtype in ("virtualNetworkGateways", "connections", "localNetworkGateways", "virtualNetworks"):
        for step in ("create", "update", "delete", "sharedKey", "action"):
            assert retry_after(ResourceId("s", "rg", rtype, "x"), step) == DEFAULT_RETRY_AFTER == 10.0


@pytest.mark.parametrize(
    ("scale", "expected"),
    [
        (1.0, {"retry-after-ms": "10000", "Retry-After": "10"}),  # the benches: Azure's own header
        (LOCAL_TIME_SCALE, {"retry-after-ms": "200"}),  # `make run`: 200 ms, not expressible in seconds
        (SCALE, {"retry-after-ms": "100"}),
        (TEST_TIME_SCALE, {"retry-after-ms": str(RETRY_AFTER_FLOOR_MS)}),  # 2 ms scaled: the floor
    ],
)
def test_retry_after_is_azures_at_the_time_scale(scale: float, expected: dict[str, str]) -> None:
    assert Operations(time_scale=scale).retry_after_headers(_op()) == expected


# --- on the wire ------------------------------------------------------------------------------------
@pytest.fixture
def real_time() -> Iterator[SimulatorThread]:
    """Azure's own clock (scale 1): every operation here is still running when its answers are read."""
    with simulator(time_scale=1.0) as running:
        yield running


AZURE = {"Retry-After": "10", "retry-after-ms": "10000"}


def test_every_async_answer_asks_for_retry_after(real_time: SimulatorThread) -> None:
    arm = Arm(real_time)
    control = SimControl(real_time.info.control_url)
    # The shared-key set: 200 + Azure-AsyncOperation (first: a running LNG update would hold it, 409).
    key = arm.call("PUT", f"{VPN_CONNECTION}/sharedkey", {"value": "RetryAfter123"})
    assert key.status_code == 200 and asks(key) == AZURE
    # PUT update: 200 + Azure-AsyncOperation (Azure/azure-powershell#14460), create: 201.
    update = arm.call("PUT", LNG, arm.writable(LNG))
    assert update.status_code == 200 and "Azure-AsyncOperation" in update.headers
    assert asks(update) == AZURE
    nsg = {"location": "eastus", "properties": {"securityRules": []}}
    create = arm.call("PUT", f"{RG_ID}/networkSecurityGroups/retry-after-nsg", nsg)
    assert create.status_code == 201 and asks(create) == AZURE
    # The status GET while InProgress.
    status = arm.call("GET", url=update.headers["Azure-AsyncOperation"])
    assert status.json()["status"] == "InProgress" and asks(status) == AZURE
    # POST action: 202 + Location; the Location GET while it runs: 202 again, asking again.
    action = arm.call("POST", f"{VPN_GATEWAY}/getLearnedRoutes")
    assert action.status_code == 202 and asks(action) == AZURE
    result = arm.call("GET", url=action.headers["Location"])
    assert result.status_code == 202 and asks(result) == AZURE
    # DELETE: 202.
    put_fidelity_nsg(control, real_time.info.subscription_id)
    delete = arm.call("DELETE", NSG)
    assert delete.status_code == 202 and asks(delete) == AZURE
    # A synchronous answer asks for nothing.
    assert asks(arm.call("GET", LNG)) == {}


def test_a_finished_operation_asks_for_nothing() -> None:
    with simulator(time_scale=SCALE) as sim:
        arm = Arm(sim)
        update = arm.call("PUT", LNG, arm.writable(LNG))  # 1 min in Azure: 0.6 s here
        assert asks(update) == {"retry-after-ms": "100"}
        monitor = update.headers["Azure-AsyncOperation"]
        done = wait_for(
            lambda: (r := arm.call("GET", url=monitor)).json()["status"] == "Succeeded" and r,
            10,
            what="the update",
        )
        assert asks(done) == {}


# --- the SDK and the app follow it --------------------------------------------------------------------
def test_the_sdk_polls_at_the_servers_pace_not_its_polling_interval() -> None:
    """A connection update (2 min in Azure) polled every 10 s: 12 status polls in Azure, plus the one
    azure-core makes at once, before its first wait (azure/core/polling/base_polling.py ``_poll``). Here the
    same 13 (at 1/100: every 100 ms for 1.2 s), though the client's polling_interval (10 ms) would make ~120."""
    with simulator(time_scale=SCALE) as sim:
        control = SimControl(sim.info.control_url)
        client = sdk_client(sim, DefaultAzureCredential(), polling_interval=0.01)
        body = client.virtual_network_gateway_connections.get(RG, "hybrid-vpn-connection")
        control.clear_requests()
        client.virtual_network_gateway_connections.begin_create_or_update(
            RG, "hybrid-vpn-connection", body
        ).result()
        azure = 1 + duration(ResourceId.parse(VPN_CONNECTION), "update") / DEFAULT_RETRY_AFTER
        assert azure == 13
        polls = status_polls(control)
        assert azure - 2 <= len(polls) <= azure + 1, [p["path"] for p in polls]


def test_the_app_waits_for_an_operation_at_the_servers_pace() -> None:
    """The app's clients keep HYBRIDNET_ARM_POLLING_INTERVAL's default, 30 s: a shared-key set (2 min in
    Azure, 1.2 s here) still ends in about its duration, polled at Retry-After's pace, not 30 s later."""
    with simulator(time_scale=SCALE) as sim, pytest.MonkeyPatch.context() as env:
        point_app_at(env, sim.info, HYBRIDNET_ARM_POLLING_INTERVAL="30")
        settings = Settings.from_env()
        assert settings.arm_polling_interval == 30
        control = SimControl(sim.info.control_url)
        control.clear_requests()
        started = time.monotonic()
        write_shared_key(network_client(settings), RG, "hybrid-vpn-connection", "PacedKey123", timeout=20)
        took = time.monotonic() - started
        expected = duration(ResourceId.parse(VPN_CONNECTION), "sharedKey") * SCALE
        assert expected <= took < expected + 3 * DEFAULT_RETRY_AFTER * SCALE + 1
        assert 11 <= len(status_polls(control)) <= 14  # 1 + 12, as test_the_sdk_polls_... says
