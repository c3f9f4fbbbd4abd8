"""ARM simulator behaviour, exercised through the real azure-mgmt-network SDK over HTTPS.

Credentials come from the simulator's managed-identity endpoint (IDENTITY_ENDPOINT/IDENTITY_HEADER),
so ``DefaultAzureCredential()`` runs exactly as in production.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import DefaultAzureCredential
from azure.mgmt.network import NetworkManagementClient

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorThread
from shared.spec.model import NetworkSpec
from tests.stack import sdk_client, simulator_fixtures

ROOT = Path(__file__).resolve().parents[1]
RG = "hybrid-network-rg"
API = "2024-05-01"


def load_spec() -> NetworkSpec:
    return NetworkSpec.model_validate(yaml.safe_load((ROOT / "examples" / "seed-network.yaml").read_text()))


sim, ctl = simulator_fixtures(load_spec, page_size=1)


@pytest.fixture(scope="module")
def client(sim: SimulatorThread) -> NetworkManagementClient:
    # the operator (Owner): these tests drive every operation, beyond what the app's role grants
    return sdk_client(sim, SimControl(sim.info.control_url).operator_credential())


@pytest.fixture(autouse=True)
def clean(ctl: SimControl) -> Iterator[None]:
    ctl.clear_faults()
    ctl.clear_requests()
    yield
    ctl.clear_faults()


def arm_path(sim: SimulatorThread, rtype: str, name: str, rg: str = RG) -> str:
    return f"/subscriptions/{sim.info.subscription_id}/resourceGroups/{rg}/providers/Microsoft.Network/{rtype}/{name}"


def arm_id(sim: SimulatorThread, rtype: str, name: str) -> str:
    return arm_path(sim, rtype, name)


def token(sim: SimulatorThread) -> str:
    return DefaultAzureCredential().get_token("https://management.azure.com/.default").token


# --- protocol ---------------------------------------------------------------------------------------
def test_missing_token_is_401_with_arm_error(sim: SimulatorThread) -> None:
    url = sim.info.arm_url + arm_path(sim, "virtualNetworkGateways", "hybrid-vpn-gw")
    resp = requests.get(url, params={"api-version": API}, verify=sim.info.ca_file, timeout=5)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "AuthenticationFailed"
    assert "WWW-Authenticate" in resp.headers


def test_missing_api_version_is_400(sim: SimulatorThread) -> None:
    url = sim.info.arm_url + arm_path(sim, "virtualNetworkGateways", "hybrid-vpn-gw")
    resp = requests.get(
        url, headers={"Authorization": f"Bearer {token(sim)}"}, verify=sim.info.ca_file, timeout=5
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "MissingApiVersionParameter"


def test_token_endpoint_checks_identity_header(sim: SimulatorThread) -> None:
    url = sim.info.identity_endpoint
    params = {"api-version": "2019-08-01", "resource": "https://management.azure.com"}
    assert (
        requests.get(url, params=params, headers={"X-IDENTITY-HEADER": "wrong"}, timeout=5).status_code == 401
    )
    assert requests.get(url, params=params, timeout=5).status_code == 400
    ok = requests.get(url, params=params, headers={"X-IDENTITY-HEADER": sim.info.identity_header}, timeout=5)
    body = ok.json()
    assert ok.status_code == 200 and body["token_type"] == "Bearer"
    assert body["resource"] == "https://management.azure.com" and int(body["expires_on"]) > 0
    assert body["access_token"]


def test_get_gateway(client: NetworkManagementClient) -> None:
    gw = client.virtual_network_gateways.get(RG, "hybrid-vpn-gw")
    assert gw.name == "hybrid-vpn-gw"
    assert gw.properties.gateway_type == "Vpn"
    assert gw.properties.vpn_type == "RouteBased"
    assert gw.properties.sku.name == "VpnGw1"
    assert gw.properties.provisioning_state == "Succeeded"
    assert gw.etag.startswith('W/"')
    assert gw.properties.ip_configurations[0].properties.subnet.id.endswith("/subnets/GatewaySubnet")


def test_list_connections_pages_and_omits_status(
    sim: SimulatorThread, client: NetworkManagementClient, ctl: SimControl
) -> None:
    conns = list(client.virtual_network_gateway_connections.list(RG))
    assert {c.name for c in conns} == {"hybrid-er-connection", "hybrid-vpn-connection"}
    assert all(c.properties.connection_status is None for c in conns)
    list_calls = [r for r in ctl.requests() if r["path"].endswith("/connections")]
    assert len(list_calls) == 2  # page size 1: the SDK followed nextLink
    assert list_calls[1]["query"].get("$skipToken") == "1"
    one = client.virtual_network_gateway_connections.get(RG, "hybrid-vpn-connection")
    assert one.properties.connection_status == "Connected"
    assert one.properties.shared_key is None


def test_list_all_pages(client: NetworkManagementClient) -> None:
    names = [p.name for p in client.public_ip_addresses.list_all()]
    assert sorted(names) == ["hybrid-er-gw-pip", "hybrid-vpn-gw-pip"]
    assert [c.name for c in client.express_route_circuits.list_all()] == ["hybrid-er-circuit"]


# --- long-running operations ------------------------------------------------------------------------
def lng_body(ip: str = "1.2.3.4") -> dict:
    return {
        "location": "eastus",
        "properties": {
            "gatewayIpAddress": ip,
            "localNetworkAddressSpace": {"addressPrefixes": ["10.99.0.0/16"]},
        },
    }


def test_put_lro_updating_then_succeeded(client: NetworkManagementClient, ctl: SimControl) -> None:
    # A gateway update takes 35 min in Azure (0.42 s at the tests' time scale): Updating meanwhile.
    gateway = client.virtual_network_gateways.get(RG, "hybrid-vpn-gw")
    update = client.virtual_network_gateways.begin_create_or_update(RG, "hybrid-vpn-gw", gateway)
    assert (
        client.virtual_network_gateways.get(RG, "hybrid-vpn-gw").properties.provisioning_state == "Updating"
    )
    assert update.result().properties.provisioning_state == "Succeeded"
    poller = client.local_network_gateways.begin_create_or_update(RG, "lro-lng", lng_body())
    result = poller.result()
    assert result.properties.provisioning_state == "Succeeded"
    assert result.properties.gateway_ip_address == "1.2.3.4"
    statuses = [r for r in ctl.requests() if "/operations/" in r["path"]]
    assert len(statuses) >= 2  # InProgress, then Succeeded
    client.local_network_gateways.begin_delete(RG, "lro-lng").result()
    with pytest.raises(ResourceNotFoundError):
        client.local_network_gateways.get(RG, "lro-lng")


def test_fail_lro(client: NetworkManagementClient, ctl: SimControl) -> None:
    ctl.add_fault("failLro", method="PUT", path="/localNetworkGateways/failing-lng$", count=1)
    with pytest.raises(HttpResponseError):
        client.local_network_gateways.begin_create_or_update(RG, "failing-lng", lng_body()).result()
    assert client.local_network_gateways.get(RG, "failing-lng").properties.provisioning_state == "Failed"
    client.local_network_gateways.begin_delete(RG, "failing-lng").result()


def test_not_found(client: NetworkManagementClient) -> None:
    with pytest.raises(ResourceNotFoundError) as err:
        client.virtual_network_gateways.get(RG, "nope")
    assert err.value.error.code == "ResourceNotFound"
    assert "Microsoft.Network/virtualNetworkGateways/nope" in err.value.error.message
    assert f"resource group '{RG}'" in err.value.error.message


def test_connection_naming_missing_gateway_is_400(
    sim: SimulatorThread, client: NetworkManagementClient
) -> None:
    body = {
        "location": "eastus",
        "properties": {
            "connectionType": "IPsec",
            "virtualNetworkGateway1": {"id": arm_id(sim, "virtualNetworkGateways", "missing-gw")},
            "localNetworkGateway2": {"id": arm_id(sim, "localNetworkGateways", "hybrid-onprem-lng")},
        },
    }
    with pytest.raises(HttpResponseError) as err:
        client.virtual_network_gateway_connections.begin_create_or_update(RG, "bad-conn", body).result()
    assert err.value.status_code == 400
    assert err.value.error.code == "InvalidResourceReference"
    body["properties"].pop("virtualNetworkGateway1")
    with pytest.raises(HttpResponseError) as err:
        client.virtual_network_gateway_connections.begin_create_or_update(RG, "bad-conn", body).result()
    assert err.value.status_code == 400


def test_gateway_outside_gateway_subnet_is_400(sim: SimulatorThread, client: NetworkManagementClient) -> None:
    vnet = arm_id(sim, "virtualNetworks", "hybrid-vnet")
    body = {
        "location": "eastus",
        "properties": {
            "gatewayType": "Vpn",
            "vpnType": "RouteBased",
            "sku": {"name": "VpnGw1", "tier": "VpnGw1"},
            "ipConfigurations": [
                {"name": "default", "properties": {"subnet": {"id": f"{vnet}/subnets/web-tier"}}}
            ],
        },
    }
    with pytest.raises(HttpResponseError) as err:
        client.virtual_network_gateways.begin_create_or_update(RG, "wrong-subnet-gw", body).result()
    assert err.value.status_code == 400
    assert err.value.error.code == "InvalidGatewaySubnet"


# --- ETags ------------------------------------------------------------------------------------------
def test_if_match(client: NetworkManagementClient) -> None:
    client.local_network_gateways.begin_create_or_update(RG, "etag-lng", lng_body()).result()
    current = client.local_network_gateways.get(RG, "etag-lng").etag
    with pytest.raises(HttpResponseError) as err:
        client.local_network_gateways.begin_create_or_update(
            RG, "etag-lng", lng_body("5.6.7.8"), headers={"If-Match": 'W/"stale"'}
        ).result()
    assert err.value.status_code == 412
    assert err.value.error.code == "PreconditionFailed"
    with pytest.raises(HttpResponseError) as err:
        client.local_network_gateways.begin_create_or_update(
            RG, "etag-lng", lng_body(), headers={"If-None-Match": "*"}
        ).result()
    assert err.value.status_code == 412
    updated = client.local_network_gateways.begin_create_or_update(
        RG, "etag-lng", lng_body("5.6.7.8"), headers={"If-Match": current}
    ).result()
    assert updated.etag != current
    again = client.local_network_gateways.begin_create_or_update(
        RG, "etag-lng", lng_body("5.6.7.9"), headers={"If-Match": "*"}
    ).result()
    assert again.properties.gateway_ip_address == "5.6.7.9"
    client.local_network_gateways.begin_delete(RG, "etag-lng").result()


# --- faults and the SDK's retries -------------------------------------------------------------------
def test_throttle_is_retried(client: NetworkManagementClient, ctl: SimControl) -> None:
    ctl.add_fault(
        "throttle", method="GET", path="/virtualNetworkGateways/hybrid-er-gw$", retry_after=1, count=1
    )
    assert client.virtual_network_gateways.get(RG, "hybrid-er-gw").name == "hybrid-er-gw"
    calls = [r for r in ctl.requests() if r["path"].endswith("/hybrid-er-gw")]
    assert [r["status"] for r in calls] == [429, 200]


def test_500_is_retried(client: NetworkManagementClient, ctl: SimControl) -> None:
    ctl.add_fault("error", method="GET", path="/localNetworkGateways/hybrid-onprem-lng$", status=500, count=1)
    assert client.local_network_gateways.get(RG, "hybrid-onprem-lng").name == "hybrid-onprem-lng"
    calls = [r for r in ctl.requests() if r["path"].endswith("/hybrid-onprem-lng")]
    assert [r["status"] for r in calls] == [500, 200]


def test_connection_reset_is_retried(client: NetworkManagementClient, ctl: SimControl) -> None:
    ctl.add_fault("reset", method="GET", path="/virtualNetworks/hybrid-vnet$", count=1)
    assert client.virtual_networks.get(RG, "hybrid-vnet").name == "hybrid-vnet"
    calls = [r for r in ctl.requests() if r["path"].endswith("/hybrid-vnet")]
    assert [r["status"] for r in calls] == [0, 200]
    assert calls[0]["fault"] == "reset"


def test_latency_fault(client: NetworkManagementClient, ctl: SimControl) -> None:
    import time

    ctl.add_fault("latency", method="GET", path="/loadBalancers/", latency_ms=150, count=1)
    start = time.monotonic()
    client.load_balancers.get(RG, "hybrid-web-ilb")
    assert time.monotonic() - start >= 0.15


# --- the physical model -----------------------------------------------------------------------------
def test_circuit_down_disconnects_expressroute(client: NetworkManagementClient, ctl: SimControl) -> None:
    conns = client.virtual_network_gateway_connections
    assert conns.get(RG, "hybrid-er-connection").properties.connection_status == "Connected"
    routes = client.virtual_network_gateways.begin_get_learned_routes(RG, "hybrid-er-gw").result().value
    assert any(r.origin == "EBgp" and r.network == "10.10.0.0/16" for r in routes)
    peers = client.virtual_network_gateways.begin_get_bgp_peer_status(RG, "hybrid-er-gw").result().value
    assert peers and all(p.state == "Connected" and p.asn == 12076 for p in peers)
    ctl.set_circuit("hybrid-er-circuit", False)
    try:
        assert conns.get(RG, "hybrid-er-connection").properties.connection_status == "NotConnected"
        routes = client.virtual_network_gateways.begin_get_learned_routes(RG, "hybrid-er-gw").result().value
        assert not any(r.origin == "EBgp" for r in routes)
        peers = client.virtual_network_gateways.begin_get_bgp_peer_status(RG, "hybrid-er-gw").result().value
        assert peers and all(p.state == "Idle" for p in peers)
        # The VPN path is independent of the circuit.
        assert conns.get(RG, "hybrid-vpn-connection").properties.connection_status == "Connected"
    finally:
        ctl.set_circuit("hybrid-er-circuit", True)
    assert conns.get(RG, "hybrid-er-connection").properties.connection_status == "Connected"


def test_vpn_learned_routes(client: NetworkManagementClient, ctl: SimControl) -> None:
    routes = client.virtual_network_gateways.begin_get_learned_routes(RG, "hybrid-vpn-gw").result().value
    onprem = [r for r in routes if r.network == "10.10.0.0/16"]
    assert onprem and onprem[0].next_hop == "40.50.60.70" and onprem[0].origin == "Network"
    ctl.set_appliance("40.50.60.70", up=False)
    try:
        routes = client.virtual_network_gateways.begin_get_learned_routes(RG, "hybrid-vpn-gw").result().value
        assert not [r for r in routes if r.network == "10.10.0.0/16"]
        conn = client.virtual_network_gateway_connections.get(RG, "hybrid-vpn-connection")
        assert conn.properties.connection_status == "NotConnected"
    finally:
        ctl.set_appliance("40.50.60.70", up=True)


def test_shared_key_mismatch_then_set_via_sdk(
    sim: SimulatorThread, client: NetworkManagementClient, ctl: SimControl, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    conns = client.virtual_network_gateway_connections
    ctl.set_appliance("40.50.60.70", shared_key="ApplianceOnlyKey1")
    assert conns.get(RG, "hybrid-vpn-connection").properties.connection_status == "NotConnected"
    new_key = "RotatedKey2Value"
    result = conns.begin_set_shared_key(RG, "hybrid-vpn-connection", {"value": new_key}).result()
    assert result.value == new_key
    assert conns.get_shared_key(RG, "hybrid-vpn-connection").value == new_key
    assert conns.get(RG, "hybrid-vpn-connection").properties.connection_status == "NotConnected"
    ctl.set_appliance("40.50.60.70", shared_key=new_key)
    conn = conns.get(RG, "hybrid-vpn-connection")
    assert conn.properties.connection_status == "Connected"
    assert conn.properties.provisioning_state == "Succeeded"
    # A PUT of the connection carrying another sharedKey does not change the stored key.
    body = conn.as_dict()
    body["properties"]["sharedKey"] = "SomethingElse3"
    conns.begin_create_or_update(RG, "hybrid-vpn-connection", body).result()
    assert conns.get_shared_key(RG, "hybrid-vpn-connection").value == new_key
    assert conns.get(RG, "hybrid-vpn-connection").properties.connection_status == "Connected"
    # Keys never appear in logs or in the state summary.
    state_text = str(ctl.state())
    for key in (new_key, "ApplianceOnlyKey1", "SomethingElse3"):
        assert key not in caplog.text
        assert key not in state_text
    assert "shared key set" in caplog.text  # the simulator did log the operation


def test_reset_shared_key(client: NetworkManagementClient, ctl: SimControl) -> None:
    conns = client.virtual_network_gateway_connections
    before = conns.get_shared_key(RG, "hybrid-vpn-connection").value
    result = conns.begin_reset_shared_key(RG, "hybrid-vpn-connection", {"keyLength": 40}).result()
    assert result.key_length == 40
    after = conns.get_shared_key(RG, "hybrid-vpn-connection").value
    assert len(after) == 40 and after != before
    assert conns.get(RG, "hybrid-vpn-connection").properties.connection_status == "NotConnected"
    with pytest.raises(HttpResponseError) as err:
        conns.begin_reset_shared_key(RG, "hybrid-vpn-connection", {"keyLength": 129}).result()
    assert err.value.status_code == 400
    ctl.set_appliance("40.50.60.70", shared_key=after)
    assert conns.get(RG, "hybrid-vpn-connection").properties.connection_status == "Connected"


def test_traffic_counters_grow_while_connected(client: NetworkManagementClient) -> None:
    import time

    first = client.virtual_network_gateway_connections.get(RG, "hybrid-er-connection").properties
    time.sleep(0.05)
    second = client.virtual_network_gateway_connections.get(RG, "hybrid-er-connection").properties
    assert second.ingress_bytes_transferred > first.ingress_bytes_transferred
    assert second.egress_bytes_transferred > first.egress_bytes_transferred


# --- out-of-band edits, subnets, hooks, request log -------------------------------------------------
def test_out_of_band_patch(sim: SimulatorThread, client: NetworkManagementClient, ctl: SimControl) -> None:
    lng_id = arm_id(sim, "localNetworkGateways", "hybrid-onprem-lng")
    before = client.local_network_gateways.get(RG, "hybrid-onprem-lng")
    ctl.patch_resource(
        lng_id, {"localNetworkAddressSpace": {"addressPrefixes": ["10.10.0.0/16", "10.11.0.0/16"]}}
    )
    try:
        after = client.local_network_gateways.get(RG, "hybrid-onprem-lng")
        assert after.properties.local_network_address_space.address_prefixes == [
            "10.10.0.0/16",
            "10.11.0.0/16",
        ]
        assert after.etag != before.etag
        assert after.properties.gateway_ip_address == "40.50.60.70"
    finally:
        ctl.patch_resource(lng_id, {"localNetworkAddressSpace": {"addressPrefixes": ["10.10.0.0/16"]}})
    # Out-of-band edits are not ARM requests: only the two SDK GETs are logged.
    assert [r["method"] for r in ctl.requests()] == ["GET", "GET"]


def test_out_of_band_put_and_delete(
    sim: SimulatorThread, client: NetworkManagementClient, ctl: SimControl
) -> None:
    nsg_id = arm_id(sim, "networkSecurityGroups", "portal-nsg")
    ctl.put_resource(nsg_id, {"location": "eastus", "properties": {"securityRules": []}})
    nsg = client.network_security_groups.get(RG, "portal-nsg")
    assert len(nsg.properties.default_security_rules) == 6
    assert ctl.delete_resource(nsg_id) is True
    with pytest.raises(ResourceNotFoundError):
        client.network_security_groups.get(RG, "portal-nsg")


def test_nsg_on_gateway_subnet_rejected(sim: SimulatorThread, client: NetworkManagementClient) -> None:
    nsg = client.network_security_groups.begin_create_or_update(RG, "gw-nsg", {"location": "eastus"}).result()
    subnet = client.subnets.get(RG, "hybrid-vnet", "GatewaySubnet")
    body = {
        "properties": {
            "addressPrefix": subnet.properties.address_prefix,
            "networkSecurityGroup": {"id": nsg.id},
        }
    }
    with pytest.raises(HttpResponseError) as err:
        client.subnets.begin_create_or_update(RG, "hybrid-vnet", "GatewaySubnet", body).result()
    assert err.value.status_code == 400
    client.network_security_groups.begin_delete(RG, "gw-nsg").result()


def test_subnets(client: NetworkManagementClient) -> None:
    subnets = client.subnets
    created = subnets.begin_create_or_update(
        RG, "hybrid-vnet", "app-tier", {"properties": {"addressPrefix": "10.20.2.0/24"}}
    ).result()
    assert created.properties.provisioning_state == "Succeeded"
    assert "app-tier" in [s.name for s in subnets.list(RG, "hybrid-vnet")]
    vnet = client.virtual_networks.get(RG, "hybrid-vnet")
    assert "app-tier" in [s.name for s in vnet.properties.subnets]
    subnets.begin_delete(RG, "hybrid-vnet", "app-tier").result()
    assert "app-tier" not in [s.name for s in subnets.list(RG, "hybrid-vnet")]
    with pytest.raises(HttpResponseError) as err:
        subnets.begin_delete(RG, "hybrid-vnet", "GatewaySubnet").result()
    assert err.value.error.code == "InUseSubnetCannotBeDeleted"
    gw_subnet = subnets.get(RG, "hybrid-vnet", "GatewaySubnet")
    assert len(gw_subnet.properties.ip_configurations) == 2  # both gateways


def test_change_hook(sim: SimulatorThread, client: NetworkManagementClient) -> None:
    seen: list[tuple[str, str]] = []
    sim.sim.change_listeners.append(lambda rid, op: seen.append((rid, op)))
    try:
        client.local_network_gateways.begin_create_or_update(RG, "hook-lng", lng_body()).result()
        client.local_network_gateways.begin_delete(RG, "hook-lng").result()
    finally:
        sim.sim.change_listeners.clear()
    ops = [op for rid, op in seen if rid.endswith("/hook-lng")]
    assert ops[0] == "write" and ops[-1] == "delete"


def test_request_log(client: NetworkManagementClient, ctl: SimControl) -> None:
    client.virtual_network_gateways.get(RG, "hybrid-vpn-gw")
    client.local_network_gateways.get(RG, "hybrid-onprem-lng")
    log = ctl.requests()
    assert [(r["method"], r["status"]) for r in log] == [("GET", 200), ("GET", 200)]
    assert log[0]["query"]["api-version"]
    ctl.clear_requests()
    assert ctl.requests() == []


def test_circuits_are_read_only(client: NetworkManagementClient) -> None:
    circuit = client.express_route_circuits.get("hybrid-circuit-rg", "hybrid-er-circuit")
    assert circuit.properties.service_provider_provisioning_state == "Provisioned"
    assert circuit.properties.circuit_provisioning_state == "Enabled"
    with pytest.raises(HttpResponseError) as err:
        client.express_route_circuits.begin_delete("hybrid-circuit-rg", "hybrid-er-circuit").result()
    assert err.value.status_code == 409


def test_empty_simulator_knows_circuit_and_appliance() -> None:
    with SimulatorThread(load_spec(), empty=True) as empty:
        ctl = SimControl(empty.info.control_url)
        state = ctl.state()
        assert [c["name"] for c in state["circuits"]] == ["hybrid-er-circuit"]
        assert state["appliances"] == [
            {
                "ip": "40.50.60.70",
                "up": True,
                "keyConfigured": False,
                "asn": 65010,
                "advertise": ["10.10.0.0/16"],
            }
        ]
        assert len(state["resources"]) == 1  # only the provider's circuit
