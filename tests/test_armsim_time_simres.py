"""The simulator takes Azure's time and refuses what Azure refuses: operation durations from the per-type
table times the time scale, `Updating` while an operation runs, 409 AnotherOperationInProgress for a
conflicting write, immutable properties, PUT responses shaped as Azure's; and the app at realistic
ratios of its LRO timeout to a gateway update."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from azure.identity import DefaultAzureCredential

from hybridnet_dev.armsim.cli import parser
from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.ids import ResourceId
from hybridnet_dev.armsim.lro import DURATIONS, LOCAL_TIME_SCALE, TEST_TIME_SCALE, duration
from hybridnet_dev.armsim.runner import SimulatorThread
from shared.azure.shared_keys import read_shared_key, write_shared_key
from shared.drift.plan import Mode
from shared.services.reconciler import reconcile
from shared.settings import Settings
from tests.helpers import wait_for
from tests.stack import RG_ID, arm_call, point_app_at, sdk_client, seed_spec, use_simulator_identity

API = "2025-05-01"
# 1 s of the tests' clock is 100 s of Azure's: a connection update (2 min) takes 1.2 s, a gateway
# update (35 min) 21 s, so a test sees each operation in progress for sure and never waits one out.
SCALE = 0.01
VPN_GATEWAY = f"{RG_ID}/virtualNetworkGateways/hybrid-vpn-gw"
ER_GATEWAY = f"{RG_ID}/virtualNetworkGateways/hybrid-er-gw"
VPN_CONNECTION = f"{RG_ID}/connections/hybrid-vpn-connection"
LNG = f"{RG_ID}/localNetworkGateways/hybrid-onprem-lng"
VNET = f"{RG_ID}/virtualNetworks/hybrid-vnet"
GATEWAY_SUBNET = f"{VNET}/subnets/GatewaySubnet"


class Arm:
    """Plain ARM calls with the simulator's managed-identity token."""

    def __init__(self, sim: SimulatorThread) -> None:
        self.sim = sim
        self.info = sim.info

    def call(
        self, method: str, path: str = "", body: Any = None, *, url: str | None = None
    ) -> requests.Response:
        return arm_call(self.info, DefaultAzureCredential(), method, path, body, url=url, api_version=API)

    def get(self, path: str) -> dict[str, Any]:
        resp = self.call("GET", path)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def writable(self, path: str) -> dict[str, Any]:
        body = self.get(path)
        body.pop("etag", None)
        return body


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    with pytest.MonkeyPatch.context() as mp, SimulatorThread(seed_spec(), time_scale=SCALE) as running:
        use_simulator_identity(mp, running.info)
        yield running


@pytest.fixture
def arm(sim: SimulatorThread) -> Arm:
    return Arm(sim)


def wait_until(predicate: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(0.02)


# --- the duration table -----------------------------------------------------------------------------
def test_durations_follow_azure_orders_of_magnitude() -> None:
    gw = ResourceId("s", "rg", "virtualNetworkGateways", "gw")
    conn = ResourceId("s", "rg", "connections", "c")
    lng = ResourceId("s", "rg", "localNetworkGateways", "l")
    subnet = ResourceId("s", "rg", "virtualNetworks", "v", "subnets", "x")
    assert 30 * 60 <= duration(gw, "create") <= 45 * 60
    assert 30 * 60 <= duration(gw, "update") <= 45 * 60  # a SKU resize
    assert 60 <= duration(conn, "update") <= 5 * 60 and 60 <= duration(conn, "sharedKey") <= 5 * 60
    assert 30 <= duration(lng, "create") <= 2 * 60
    assert duration(subnet, "update") <= 30
    assert set(DURATIONS) >= {"virtualNetworkGateways", "connections", "localNetworkGateways", "subnets"}
    # The tests' default scale keeps a gateway create under a second; `make run` under a minute.
    assert duration(gw, "create") * TEST_TIME_SCALE < 1
    assert duration(gw, "create") * LOCAL_TIME_SCALE < 60


def test_time_scale_flag() -> None:
    assert parser().parse_args(["--spec", "x"]).time_scale == 1.0  # real time unless told
    assert parser().parse_args(["--spec", "x", "--time-scale", "0.02"]).time_scale == 0.02
    for bad in ("0", "-1", "fast"):
        with pytest.raises(SystemExit):
            parser().parse_args(["--spec", "x", "--time-scale", bad])


def test_an_update_is_updating_for_its_duration_however_often_it_is_polled(arm: Arm) -> None:
    body = arm.writable(LNG)
    started = time.monotonic()
    resp = arm.call("PUT", LNG, body)
    assert resp.status_code == 200
    monitor = resp.headers["Azure-AsyncOperation"]
    assert resp.json()["properties"]["provisioningState"] == "Updating"
    expected = duration(ResourceId.parse(LNG), "update") * SCALE  # 60 s at 1/100: 0.6 s
    statuses = []
    while time.monotonic() - started < expected * 0.8:  # polling fast does not hurry it
        statuses.append(arm.call("GET", "", url=monitor).json()["status"])
        assert arm.get(LNG)["properties"]["provisioningState"] == "Updating"
        time.sleep(0.02)
    assert len(statuses) > 5 and set(statuses) == {"InProgress"}
    assert wait_until(lambda: arm.call("GET", "", url=monitor).json()["status"] == "Succeeded", 5)
    assert time.monotonic() - started >= expected
    assert arm.get(LNG)["properties"]["provisioningState"] == "Succeeded"


# --- 409 while an operation runs --------------------------------------------------------------------
def test_writes_during_a_gateway_update_get_409_another_operation_in_progress(arm: Arm) -> None:
    body = arm.writable(VPN_GATEWAY)
    body["properties"]["sku"] = {"name": "VpnGw2", "tier": "VpnGw2"}
    resize = arm.call("PUT", VPN_GATEWAY, body)
    assert resize.status_code == 200, resize.text
    again = arm.call("PUT", VPN_GATEWAY, body)
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "AnotherOperationInProgress"
    assert error["message"].startswith("Another operation on this or dependent resource is in progress.")
    assert "/operations/" in error["message"]  # ARM names the operation to watch
    # A dependent resource: the connection on that gateway (its PUT and its shared key) waits too.
    conn = arm.writable(VPN_CONNECTION)
    assert arm.call("PUT", VPN_CONNECTION, conn).json()["error"]["code"] == "AnotherOperationInProgress"
    key = arm.call("PUT", VPN_CONNECTION + "/sharedkey", {"value": "NewKey123"})
    assert key.status_code == 409
    tags = arm.call("PATCH", VPN_GATEWAY, {"tags": {"owner": "net"}})
    assert tags.status_code == 409 and tags.json()["error"]["code"] == "AnotherOperationInProgress"
    # Unrelated resources are not held.
    assert arm.call("PUT", LNG, arm.writable(LNG)).status_code == 200


# --- the shared key in force ----------------------------------------------------------------------------
def test_a_shared_key_set_is_in_force_only_once_its_operation_succeeds(arm: Arm) -> None:
    """KEY_IN_FORCE (arm.py): while the set runs (2 min in Azure: 1.2 s here) a read returns the old key;
    the new one once the operation has succeeded; the app's read-back after the LRO sees it."""
    key_path = VPN_CONNECTION + "/sharedkey"
    old = arm.get(key_path)["value"]
    started = arm.call("PUT", key_path, {"value": "InForceLater123"})
    assert started.status_code == 200, started.text
    monitor = started.headers["Azure-AsyncOperation"]
    assert arm.call("GET", "", url=monitor).json()["status"] == "InProgress"
    assert arm.get(key_path)["value"] == old  # not yet in force
    wait_for(lambda: arm.call("GET", "", url=monitor).json()["status"] == "Succeeded", 10, what="the set")
    assert arm.get(key_path)["value"] == "InForceLater123"
    # The app's rotation path: write (waits for the LRO), then read back.
    client = sdk_client(arm.sim, DefaultAzureCredential())
    rg = VPN_CONNECTION.split("/")[4]
    write_shared_key(client, rg, "hybrid-vpn-connection", "AppRotated456", timeout=30)
    assert read_shared_key(client, rg, "hybrid-vpn-connection") == "AppRotated456"


def test_a_failed_shared_key_set_leaves_the_old_key(arm: Arm) -> None:
    key_path = VPN_CONNECTION + "/sharedkey"
    old = arm.get(key_path)["value"]
    SimControl(arm.info.control_url).add_fault("failLro", method="PUT", path="/sharedkey", count=1)
    started = arm.call("PUT", key_path, {"value": "NeverInForce789"})
    assert started.status_code == 200
    monitor = started.headers["Azure-AsyncOperation"]
    assert arm.get(key_path)["value"] == old
    wait_for(lambda: arm.call("GET", "", url=monitor).json()["status"] == "Failed", 10, what="the failure")
    assert arm.get(key_path)["value"] == old


# --- Resource Graph's lag is one of Azure's durations ---------------------------------------------------
def test_resource_graph_lag_follows_the_time_scale(arm: Arm) -> None:
    """100 s of Azure's lag is 1 s at this module's scale (1/100): Graph shows an edit after about that."""
    control = SimControl(arm.info.control_url)
    settings = control._call("PUT", "/_sim/resourcegraph", {"lagSeconds": 100, "quota": 1000})
    assert settings["timeScale"] == SCALE and settings["effectiveLagSeconds"] == pytest.approx(1.0)
    query = {
        "subscriptions": [arm.info.subscription_id],
        "query": "resources | where type in~ ('microsoft.network/localnetworkgateways') | project properties",
    }

    def graph_ip() -> str:
        resp = arm.call(
            "POST",
            "",
            query,
            url=f"{arm.info.arm_url}/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01",
        )
        assert resp.status_code == 200, resp.text
        return str(resp.json()["data"][0]["properties"]["gatewayIpAddress"])

    before = graph_ip()
    control.patch_resource(LNG, {"gatewayIpAddress": "40.50.60.123"})
    changed = time.monotonic()
    assert graph_ip() == before  # ARM has it, Graph not yet
    wait_for(lambda: graph_ip() == "40.50.60.123", 10, interval=0.05, what="Graph to show the edit")
    assert 0.9 <= time.monotonic() - changed < 5


def test_a_subnet_write_holds_its_vnet(arm: Arm) -> None:
    subnet = arm.get(f"{VNET}/subnets/web-tier")
    subnet.pop("etag", None)
    assert arm.call("PUT", f"{VNET}/subnets/web-tier", subnet).status_code == 200
    vnet = arm.writable(VNET)
    assert arm.call("PUT", VNET, vnet).json()["error"]["code"] == "AnotherOperationInProgress"


# --- immutable properties ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "field", "value", "code"),
    [
        (VPN_GATEWAY, "gatewayType", "ExpressRoute", "GatewayTypeCannotBeChanged"),
        (VPN_GATEWAY, "vpnType", "PolicyBased", "VpnTypeCannotBeChanged"),
        (VPN_CONNECTION, "connectionType", "Vnet2Vnet", "ConnectionTypeCannotBeChanged"),
        (
            VPN_CONNECTION,
            "localNetworkGateway2",
            {"id": f"{RG_ID}/localNetworkGateways/other-lng"},
            "ConnectionGatewayCannotBeChanged",
        ),
        (VPN_CONNECTION, "virtualNetworkGateway1", {"id": ER_GATEWAY}, "ConnectionGatewayCannotBeChanged"),
    ],
)
def test_immutable_properties_are_rejected(arm: Arm, path: str, field: str, value: Any, code: str) -> None:
    if field == "localNetworkGateway2":  # an existing LNG: only the immutability can refuse it
        other = arm.writable(LNG)
        other["properties"].pop("provisioningState", None)
        SimControl(arm.info.control_url).put_resource(value["id"], other)
    before = arm.get(path)
    body = arm.writable(path)
    body["properties"][field] = value
    resp = arm.call("PUT", path, body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == code
    assert "cannot be changed" in resp.json()["error"]["message"]
    after = arm.get(path)
    assert after["etag"] == before["etag"] and after["properties"][field] == before["properties"][field]


def test_gateway_subnet_prefix_is_fixed_while_a_gateway_uses_it(arm: Arm) -> None:
    subnet = arm.get(GATEWAY_SUBNET)
    subnet.pop("etag", None)
    old = subnet["properties"]["addressPrefix"]
    subnet["properties"]["addressPrefix"] = "10.20.254.0/26"
    resp = arm.call("PUT", GATEWAY_SUBNET, subnet)
    assert resp.status_code == 400
    assert resp.json()["error"] == {
        "code": "InUsePrefixCannotBeDeleted",
        "message": f"IpPrefix {old} on Subnet GatewaySubnet has active allocations and cannot be deleted.",
    }
    # The same change inside a VNet PUT, and dropping the subnet from the VNet, are refused too.
    vnet = arm.writable(VNET)
    for item in vnet["properties"]["subnets"]:
        if item["name"] == "GatewaySubnet":
            item["properties"]["addressPrefix"] = "10.20.254.0/26"
    assert arm.call("PUT", VNET, vnet).json()["error"]["code"] == "InUsePrefixCannotBeDeleted"
    vnet = arm.writable(VNET)
    vnet["properties"]["subnets"] = [s for s in vnet["properties"]["subnets"] if s["name"] != "GatewaySubnet"]
    assert arm.call("PUT", VNET, vnet).json()["error"]["code"] == "InUseSubnetCannotBeDeleted"
    # A subnet nobody uses may change its prefix.
    web = arm.get(f"{VNET}/subnets/web-tier")
    web.pop("etag", None)
    assert arm.call("PUT", f"{VNET}/subnets/web-tier", web).status_code == 200


# --- PUT responses ----------------------------------------------------------------------------------
def test_put_responses_are_shaped_as_azure_answers(arm: Arm) -> None:
    update = arm.call("PUT", VPN_CONNECTION, arm.writable(VPN_CONNECTION))
    assert update.status_code == 200
    props = update.json()["properties"]
    # Azure's CreateOrUpdate example (2025-05-01): no connectionStatus, counters at 0, Updating.
    assert "connectionStatus" not in props
    assert props["provisioningState"] == "Updating"
    assert props["ingressBytesTransferred"] == 0 and props["egressBytesTransferred"] == 0
    assert "sharedKey" not in props
    assert update.headers["ETag"] == update.json()["etag"]
    assert "/providers/Microsoft.Network/locations/" in update.headers["Azure-AsyncOperation"]
    assert "connectionStatus" in arm.get(VPN_CONNECTION)["properties"]  # only a GET reports it
    body = arm.writable(LNG)
    created = arm.call("PUT", f"{RG_ID}/localNetworkGateways/new-lng", body)
    assert created.status_code == 201 and created.headers["ETag"] == created.json()["etag"]


# --- computed fields --------------------------------------------------------------------------------
def test_computed_fields(arm: Arm) -> None:
    vpn = arm.get(VPN_GATEWAY)["properties"]
    assert vpn["sku"]["capacity"] == 2
    peering = vpn["bgpSettings"]["bgpPeeringAddresses"]
    assert [p["ipconfigurationId"] for p in peering] == [c["id"] for c in vpn["ipConfigurations"]]
    assert peering[0]["defaultBgpIpAddresses"] == ["10.20.255.254"]  # last address of GatewaySubnet
    assert peering[0]["tunnelIpAddresses"]  # the gateway's public IP
    er = arm.get(ER_GATEWAY)["properties"]
    assert er["sku"]["capacity"] == 2 and er["bgpSettings"]["asn"] == 65515
    assert arm.get(VNET)["properties"]["dhcpOptions"] == {"dnsServers": []}
    pip = arm.get(f"{RG_ID}/publicIPAddresses/hybrid-vpn-gw-pip")["properties"]
    assert pip["ipTags"] == [] and pip["ddosSettings"] == {"protectionMode": "VirtualNetworkInherited"}
    lb_path = f"{RG_ID}/loadBalancers/hybrid-web-ilb"
    lb = arm.writable(lb_path)
    frontend = lb["properties"]["frontendIPConfigurations"][0]
    assert frontend["properties"]["privateIPAddress"]
    lb_id = lb["id"]
    lb["properties"]["backendAddressPools"] = [{"name": "web"}]
    lb["properties"]["probes"] = [{"name": "https", "properties": {"protocol": "Tcp", "port": 443}}]
    lb["properties"]["loadBalancingRules"] = [
        {
            "name": "https",
            "properties": {
                "frontendIPConfiguration": {"id": frontend["id"]},
                "backendAddressPool": {"id": f"{lb_id}/backendAddressPools/web"},
                "probe": {"id": f"{lb_id}/probes/https"},
                "protocol": "Tcp",
                "frontendPort": 443,
                "backendPort": 443,
            },
        }
    ]
    assert arm.call("PUT", lb_path, lb).status_code == 200
    got = arm.get(lb_path)["properties"]
    rule = [{"id": f"{lb_id}/loadBalancingRules/https"}]
    assert got["frontendIPConfigurations"][0]["properties"]["loadBalancingRules"] == rule
    assert got["backendAddressPools"][0]["properties"]["loadBalancingRules"] == rule
    assert got["probes"][0]["properties"]["loadBalancingRules"] == rule


# --- the app at realistic ratios --------------------------------------------------------------------
def test_a_gateway_resize_longer_than_the_lro_timeout_is_left_to_finish(azurite: Any) -> None:
    """HYBRIDNET_LRO_TIMEOUT (240 s by default) against a 35-minute gateway update: at a scale of 1/240
    the timeout is its minimum, 1 s, and the update takes ~9 s. The pass reports the write as still in
    progress; the next pass sees the gateway Updating and does not PUT it again."""
    scale = 1 / 240
    with SimulatorThread(seed_spec(), time_scale=scale) as sim, pytest.MonkeyPatch.context() as env:
        point_app_at(env, sim.info, storage=azurite.connection_string)
        env.setenv("HYBRIDNET_LRO_TIMEOUT", "1")
        settings = Settings.from_env()
        assert settings.lro_timeout < duration(ResourceId.parse(VPN_GATEWAY), "update") * scale
        control = SimControl(sim.info.control_url)
        control.patch_resource(VPN_GATEWAY, {"sku": {"name": "VpnGw2", "tier": "VpnGw2"}})
        control.clear_requests()

        first = reconcile(settings, "seed", trigger="manual", mode=Mode.ENFORCE_DISRUPTIVE)
        [result] = first.results
        assert result.outcome.value == "failed"
        assert "did not finish within 1s" in result.detail and "may still complete" in result.detail

        second = reconcile(settings, "seed", trigger="manual", mode=Mode.ENFORCE_DISRUPTIVE)
        puts = [
            r for r in control.requests() if r["method"] == "PUT" and "virtualNetworkGateways" in r["path"]
        ]
        assert len(puts) == 1, puts  # the resize was sent once
        assert second.results == () and second.findings == ()
        gateway = sim.sim.store.body_of(ResourceId.parse(VPN_GATEWAY))
        assert gateway is not None and gateway["properties"]["provisioningState"] == "Updating"
        assert gateway["properties"]["sku"]["name"] == "VpnGw1"  # the spec's SKU, being applied


def test_a_gateway_create_longer_than_the_lro_timeout_holds_back_its_connection(azurite: Any) -> None:
    """A deleted VPN gateway and its connection: the gateway's re-creation (40 min in Azure) outlives the
    pass; while it runs, later passes neither PUT the gateway again nor send the connection's PUT (which
    ARM would refuse with 409 AnotherOperationInProgress): they wait for the gateway."""
    scale = 1 / 240
    with SimulatorThread(seed_spec(), time_scale=scale) as sim, pytest.MonkeyPatch.context() as env:
        point_app_at(env, sim.info, storage=azurite.connection_string)
        env.setenv("HYBRIDNET_LRO_TIMEOUT", "1")
        settings = Settings.from_env()
        control = SimControl(sim.info.control_url)
        control.delete_resource(VPN_CONNECTION)
        control.delete_resource(VPN_GATEWAY)
        control.clear_requests()

        first = reconcile(settings, "seed", trigger="manual", mode=Mode.ENFORCE)
        outcomes = {r.action.resource_id.rsplit("/", 1)[-1]: r.outcome.value for r in first.results}
        assert outcomes == {"hybrid-vpn-gw": "failed", "hybrid-vpn-connection": "skipped"}, first.to_json()

        second = reconcile(settings, "seed", trigger="manual", mode=Mode.ENFORCE)
        puts = [r for r in control.requests() if r["method"] == "PUT"]
        # One gateway PUT, and nothing else: no connection PUT, no new key escrowed in Key Vault.
        assert [p["path"].rsplit("/", 1)[-1] for p in puts] == ["hybrid-vpn-gw"], second.to_json()
        assert second.results == () and second.outcome == "drift-remains", second.to_json()
        assert second.plan is not None
        [waiting] = second.plan.refused
        assert waiting.reason.startswith("waiting: virtualNetworkGateways/hybrid-vpn-gw is Updating"), (
            waiting.reason
        )


def test_a_new_site_fits_the_apply_budget_at_azure_times(azurite: Any) -> None:
    """Creating the whole seed site at Azure's times, with the app's defaults in ratio (1/120): the
    LRO timeout (240 s -> 2 s) and the apply budget (1200 s -> 10 s) against two 40-minute gateway
    creates (20 s). The pass ends inside its budget, creates what is quick, reports both gateways as still
    in progress and skips their connections; the next pass waits for the gateways."""
    scale = 1 / 120
    with (
        SimulatorThread(seed_spec(), empty=True, time_scale=scale) as sim,
        pytest.MonkeyPatch.context() as env,
    ):
        point_app_at(env, sim.info, storage=azurite.connection_string)
        env.setenv("HYBRIDNET_LRO_TIMEOUT", str(240 * scale))
        env.setenv("HYBRIDNET_APPLY_BUDGET_SECONDS", str(1200 * scale))
        settings = Settings.from_env()
        control = SimControl(sim.info.control_url)
        started = time.monotonic()
        first = reconcile(settings, "seed", trigger="manual", mode=Mode.ENFORCE)
        assert time.monotonic() - started < settings.apply_budget
        outcomes = {r.action.kind.value: [] for r in first.results}
        for r in first.results:
            outcomes[r.action.kind.value].append(r.outcome.value)
        gateways, connections = "virtualNetworkGateways", "connections"
        assert outcomes.pop(gateways) == ["failed", "failed"], first.to_json()
        details = [r.detail for r in first.results if r.action.kind.value == gateways]
        assert all("did not finish within 2s" in d for d in details), details
        assert outcomes.pop(connections) == ["skipped", "skipped"], first.to_json()
        assert outcomes and all(o == "applied" for v in outcomes.values() for o in v), outcomes
        assert not any("time budget" in r.detail for r in first.results)
        control.clear_requests()

        second = reconcile(settings, "seed", trigger="manual", mode=Mode.ENFORCE)
        assert [r for r in control.requests() if r["method"] == "PUT"] == []
        assert second.plan is not None and second.results == ()
        assert {r.reason.split(";")[0] for r in second.plan.refused} <= {
            "waiting: virtualNetworkGateways/hybrid-vpn-gw is Updating",
            "waiting: virtualNetworkGateways/hybrid-er-gw is Updating",
        }
        assert len(second.plan.refused) == 2
