"""The simulator is never kinder than ARM about identity, authorization, api-versions, missing scopes and
throttling: driven through the real azure-mgmt-network SDK with DefaultAzureCredential (the app's managed
identity, from the simulator's IDENTITY_ENDPOINT) or the operator's token (Owner), and with plain HTTP
where the exact answer matters."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.identity import DefaultAzureCredential
from azure.mgmt.network import NetworkManagementClient

from hybridnet_dev.armsim import apiversions
from hybridnet_dev.armsim.armevents import OID_CLAIM, PORTAL_USER_OBJECT_ID, TENANT_ID
from hybridnet_dev.armsim.auth import APP_CLIENT_ID
from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.eventfilters import deployed_filters, matches
from hybridnet_dev.armsim.rbac import CONTRACT_PATH, linked_references, load_contract
from hybridnet_dev.armsim.runner import SimulatorThread
from tests.helpers import wait_for
from tests.stack import (
    point_app_at,
    sdk_client,
    seed_spec,
    simulator_fixtures,
    use_simulator_identity,
)
from tests.test_armsim_eventgrid import Webhook

RG = "hybrid-network-rg"
CIRCUIT_RG = "hybrid-circuit-rg"
SDK_API = apiversions.SDK_VERSION


def client_for(sim: SimulatorThread, credential: Any) -> NetworkManagementClient:
    return sdk_client(sim, credential, polling_interval=0.02)


sim, ctl = simulator_fixtures(seed_spec)


@pytest.fixture(scope="module")
def app(sim: SimulatorThread) -> NetworkManagementClient:
    return client_for(sim, DefaultAzureCredential())


@pytest.fixture(scope="module")
def operator(sim: SimulatorThread, ctl: SimControl) -> NetworkManagementClient:
    return client_for(sim, ctl.operator_credential())


@pytest.fixture(autouse=True)
def full_buckets(ctl: SimControl) -> Iterator[None]:
    ctl.set_throttle(enabled=True, reads={"capacity": 250, "refillPerSecond": 25})
    yield
    ctl.set_throttle(
        enabled=True,
        reads={"capacity": 250, "refillPerSecond": 25},
        writes={"capacity": 200, "refillPerSecond": 10},
    )


def path(sim: SimulatorThread, rtype: str, name: str = "", rg: str = RG) -> str:
    base = (
        f"/subscriptions/{sim.info.subscription_id}/resourceGroups/{rg}/providers/Microsoft.Network/{rtype}"
    )
    return f"{base}/{name}" if name else base


def arm(
    sim: SimulatorThread,
    method: str,
    url_path: str,
    *,
    token: str | None,
    version: str = SDK_API,
    body: Any = None,
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.request(
        method,
        sim.info.arm_url + url_path,
        params={"api-version": version},
        headers=headers,
        json=body,
        verify=sim.info.ca_file,
        timeout=10,
    )


def app_token() -> str:
    return DefaultAzureCredential().get_token("https://management.azure.com/.default").token


# --- tokens -------------------------------------------------------------------------------------------
def test_managed_identity_tokens_are_signed_and_expire(sim: SimulatorThread) -> None:
    answer = requests.get(
        sim.info.identity_endpoint,
        params={"api-version": "2019-08-01", "resource": "https://management.azure.com"},
        headers={"X-IDENTITY-HEADER": sim.info.identity_header},
        timeout=5,
    ).json()
    header = jwt.get_unverified_header(answer["access_token"])
    claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert claims["exp"] == int(answer["expires_on"]) > time.time()
    assert claims["oid"] == sim.info.principal_id and claims["appid"] == APP_CLIENT_ID


@pytest.mark.parametrize(
    ("forge", "code"),
    [
        # signed by someone else (another simulator, or anyone): ARM's answer to a foreign token
        (
            lambda c: jwt.encode(c, b"not-this-simulators-secret-0123456789", algorithm="HS256"),
            "InvalidAuthenticationToken",
        ),
        (lambda c: jwt.encode(c, None, algorithm="none"), "InvalidAuthenticationToken"),  # unsigned
        (lambda c: "not-a-jwt", "InvalidAuthenticationToken"),  # malformed
    ],
    ids=["foreign", "unsigned", "malformed"],
)
def test_foreign_unsigned_or_malformed_tokens_get_401(sim: SimulatorThread, forge: Any, code: str) -> None:
    real = jwt.decode(app_token(), options={"verify_signature": False})
    resp = arm(sim, "GET", path(sim, "virtualNetworks", "hybrid-vnet"), token=forge(real))
    assert resp.status_code == 401
    assert resp.json() == {"error": {"code": code, "message": "The access token is invalid."}}
    assert resp.headers["WWW-Authenticate"] == (
        'Bearer authorization_uri="https://login.windows.net/", error="invalid_token", '
        'error_description="The access token is invalid."'
    )


def test_expired_and_wrong_audience_tokens_get_401(sim: SimulatorThread) -> None:
    tokens = sim.sim.tokens
    expired, _ = tokens.issue(
        object_id=sim.info.principal_id,
        app_id=APP_CLIENT_ID,
        resource="https://management.azure.com",
        lifetime=-5,
    )
    resp = arm(sim, "GET", path(sim, "virtualNetworks", "hybrid-vnet"), token=expired)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "ExpiredAuthenticationToken"
    assert "is earlier than current UTC time" in resp.json()["error"]["message"]
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    vault, _ = tokens.issue(
        object_id=sim.info.principal_id, app_id=APP_CLIENT_ID, resource="https://vault.azure.net"
    )
    resp = arm(sim, "GET", path(sim, "virtualNetworks", "hybrid-vnet"), token=vault)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"


def test_a_token_from_another_tenant_gets_invalid_authentication_token_tenant(sim: SimulatorThread) -> None:
    """Signed as Entra ID signs every tenant's tokens, for ARM, but issued in another directory."""
    other = "99999999-8888-7777-6666-555555555555"
    foreign, _ = sim.sim.tokens.issue(
        object_id=sim.info.principal_id,
        app_id=APP_CLIENT_ID,
        resource="https://management.azure.com",
        tenant=other,
    )
    resp = arm(sim, "GET", path(sim, "virtualNetworks", "hybrid-vnet"), token=foreign)
    assert resp.status_code == 401
    assert resp.json()["error"] == {
        "code": "InvalidAuthenticationTokenTenant",
        "message": (
            f"The access token is from the wrong issuer 'https://sts.windows.net/{other}/'. It must match the "
            f"tenant 'https://sts.windows.net/{TENANT_ID}/' associated with this subscription. Please use the "
            f"authority (URL) 'https://login.windows.net/{TENANT_ID}' to get the token. Note, if the "
            "subscription is transferred to another tenant there is no impact to the services, but information "
            "about new tenant could take time to propagate (up to an hour). If you just transferred your "
            "subscription and see this error message, please try back later."
        ),
    }
    assert f'authorization_uri="https://login.windows.net/{TENANT_ID}"' in resp.headers["WWW-Authenticate"]


def test_azure_identity_refreshes_tokens_before_they_expire(sim: SimulatorThread) -> None:
    sim.sim.tokens.lifetime = 2
    try:
        client = client_for(sim, DefaultAzureCredential())
        assert client.virtual_networks.get(RG, "hybrid-vnet").name == "hybrid-vnet"
        time.sleep(2.5)  # the first token has expired by now: the credential must fetch another
        assert client.virtual_networks.get(RG, "hybrid-vnet").name == "hybrid-vnet"
    finally:
        sim.sim.tokens.lifetime = 3600
    statuses = [r["status"] for r in SimControl(sim.info.control_url).requests()[-2:]]
    assert statuses == [200, 200]


# --- authorization --------------------------------------------------------------------------------------
def test_the_app_holds_exactly_the_deployed_roles(sim: SimulatorThread, ctl: SimControl) -> None:
    contract = load_contract(CONTRACT_PATH)
    roles = ctl._call("GET", "/_sim/roles")
    app_roles = {r["scope"]: set(r["actions"]) for r in roles if r["principalId"] == sim.info.principal_id}
    sub = sim.info.subscription_id
    circuit = seed_spec().sites[0].express_route.connection.circuit_id
    assert app_roles == {
        f"/subscriptions/{sub}/resourceGroups/{RG}": {a.lower() for a in contract["networkRoleActions"]},
        circuit: {a.lower() for a in contract["circuitRoleActions"]},
    }


def test_a_delete_the_role_does_not_grant_is_403_with_arms_message(
    sim: SimulatorThread, app: NetworkManagementClient
) -> None:
    with pytest.raises(HttpResponseError) as caught:
        app.local_network_gateways.begin_delete(RG, "hybrid-onprem-lng").result()
    assert caught.value.status_code == 403
    assert caught.value.error is not None and caught.value.error.code == "AuthorizationFailed"
    scope = path(sim, "localNetworkGateways", "hybrid-onprem-lng")
    assert caught.value.error.message == (
        f"The client '{APP_CLIENT_ID}' with object id '{sim.info.principal_id}' does not have authorization to "
        f"perform action 'Microsoft.Network/localNetworkGateways/delete' over scope '{scope}' or the scope is "
        "invalid. If access was recently granted, please refresh your credentials."
    )


def test_reads_outside_the_sites_resource_groups_are_403(
    sim: SimulatorThread, app: NetworkManagementClient, operator: NetworkManagementClient
) -> None:
    with pytest.raises(HttpResponseError) as caught:
        app.express_route_circuits.get(CIRCUIT_RG, "hybrid-er-circuit")
    assert caught.value.status_code == 403
    assert "Microsoft.Network/expressRouteCircuits/read" in str(caught.value.error.message)  # type: ignore[union-attr]
    assert operator.express_route_circuits.get(CIRCUIT_RG, "hybrid-er-circuit").name == "hybrid-er-circuit"


def test_operator_token_edits_out_of_band_through_arm(
    sim: SimulatorThread, ctl: SimControl, operator: NetworkManagementClient
) -> None:
    answer = requests.get(f"{sim.info.control_url}/_sim/tokens/operator", timeout=5).json()
    claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
    assert claims["oid"] == PORTAL_USER_OBJECT_ID and int(answer["expires_on"]) > time.time()
    body = {
        "location": "eastus",
        "properties": {
            "gatewayIpAddress": "1.2.3.4",
            "localNetworkAddressSpace": {"addressPrefixes": ["10.98.0.0/16"]},
        },
    }
    operator.local_network_gateways.begin_create_or_update(RG, "auth-oob-lng", body).result()
    operator.local_network_gateways.begin_delete(RG, "auth-oob-lng").result()
    assert not any(r.endswith("/auth-oob-lng") for r in ctl.state()["resources"])


@pytest.fixture(scope="module")
def narrow_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorThread]:
    """The app's role without sharedKey/write, subnets/join and the circuit's join (a modified contract)."""
    contract = load_contract(CONTRACT_PATH)
    removed = {
        "Microsoft.Network/connections/sharedKey/write",
        "Microsoft.Network/virtualNetworks/subnets/join/action",
    }
    contract["networkRoleActions"] = [a for a in contract["networkRoleActions"] if a not in removed]
    contract["circuitRoleActions"] = []
    path_ = Path(tmp_path_factory.mktemp("contract")) / "app-contract.json"
    path_.write_text(json.dumps(contract))
    with SimulatorThread(seed_spec(), contract_path=path_) as running:
        yield running


def narrow_client(narrow_sim: SimulatorThread, env: pytest.MonkeyPatch) -> NetworkManagementClient:
    """The app's credential against the narrow simulator: its identity endpoint for this test only."""
    use_simulator_identity(env, narrow_sim.info)
    return client_for(narrow_sim, DefaultAzureCredential())


def test_a_role_without_shared_key_write_cannot_set_the_key(
    sim: SimulatorThread,
    narrow_sim: SimulatorThread,
    app: NetworkManagementClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the role as deployed grants it
    app.virtual_network_gateway_connections.begin_set_shared_key(
        RG, "hybrid-vpn-connection", {"value": "AbcDef123456"}
    ).result()
    narrow = narrow_client(narrow_sim, monkeypatch)
    with pytest.raises(HttpResponseError) as caught:
        narrow.virtual_network_gateway_connections.begin_set_shared_key(
            RG, "hybrid-vpn-connection", {"value": "AbcDef123456"}
        ).result()
    assert caught.value.status_code == 403
    assert "'Microsoft.Network/connections/sharedKey/write'" in str(caught.value.error.message)  # type: ignore[union-attr]


def test_a_put_referencing_a_subnet_or_circuit_without_join_is_linked_authorization_failed(
    narrow_sim: SimulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    narrow = narrow_client(narrow_sim, monkeypatch)
    gateway = narrow.virtual_network_gateways.get(RG, "hybrid-vpn-gw")
    with pytest.raises(HttpResponseError) as caught:
        narrow.virtual_network_gateways.begin_create_or_update(RG, "hybrid-vpn-gw", gateway).result()
    error = caught.value.error
    assert caught.value.status_code == 403 and error is not None
    assert error.code == "LinkedAuthorizationFailed"
    gw_id = path(narrow_sim, "virtualNetworkGateways", "hybrid-vpn-gw")
    subnet = path(narrow_sim, "virtualNetworks", "hybrid-vnet") + "/subnets/GatewaySubnet"
    assert error.message == (
        f"The client '{APP_CLIENT_ID}' with object id '{narrow_sim.info.principal_id}' has permission to perform "
        f"action 'Microsoft.Network/virtualNetworkGateways/write' on scope '{gw_id}'; however, it does not have "
        "permission to perform action(s) 'Microsoft.Network/virtualNetworks/subnets/join/action' on the linked "
        f"scope(s) '{subnet}' (respectively) or the linked scope(s) are invalid."
    )
    er = narrow.virtual_network_gateway_connections.get(RG, "hybrid-er-connection")
    with pytest.raises(HttpResponseError) as caught:
        narrow.virtual_network_gateway_connections.begin_create_or_update(
            RG, "hybrid-er-connection", er
        ).result()
    assert caught.value.error is not None and caught.value.error.code == "LinkedAuthorizationFailed"
    assert "'Microsoft.Network/expressRouteCircuits/join/action'" in caught.value.error.message


def test_the_deployed_role_passes_the_linked_checks_of_the_apps_puts(
    sim: SimulatorThread, app: NetworkManagementClient
) -> None:
    gateway = app.virtual_network_gateways.get(RG, "hybrid-er-gw")
    app.virtual_network_gateways.begin_create_or_update(RG, "hybrid-er-gw", gateway).result()
    er = app.virtual_network_gateway_connections.get(RG, "hybrid-er-connection")
    app.virtual_network_gateway_connections.begin_create_or_update(RG, "hybrid-er-connection", er).result()


def test_linked_references_ignore_read_only_back_references_and_own_children() -> None:
    own = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v"
    body = {
        "properties": {
            "subnets": [
                {
                    "id": f"{own}/subnets/a",
                    "properties": {
                        "networkSecurityGroup": {
                            "id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkSecurityGroups/n"
                        },
                        "ipConfigurations": [
                            {
                                "id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworkGateways/gw/ipConfigurations/x"
                            }
                        ],
                    },
                }
            ]
        }
    }
    assert linked_references(body, own_id=own) == [
        (
            "Microsoft.Network/networkSecurityGroups/join/action",
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkSecurityGroups/n",
        )
    ]


# --- protocol --------------------------------------------------------------------------------------------
def test_unknown_api_versions_are_400_listing_the_supported_ones(sim: SimulatorThread) -> None:
    token = app_token()
    resp = arm(sim, "GET", path(sim, "virtualNetworks", "hybrid-vnet"), token=token, version="2099-01-01")
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "NoRegisteredProviderFound"
    assert error["message"].startswith(
        "No registered resource provider found for location 'eastus' and API version '2099-01-01' for type "
        "'virtualNetworks'. The supported api-versions are '2014-12-01-preview, 2015-05-01-preview, 2015-06-15,"
    )
    assert f"{SDK_API}'. The supported locations are '" in error["message"]
    resp = arm(sim, "GET", path(sim, "connections"), token=token, version="2024-13-01")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "InvalidResourceType"
    assert resp.json()["error"]["message"].startswith(
        "The resource type 'connections' could not be found in the namespace 'Microsoft.Network' for api "
        "version '2024-13-01'. The supported api-versions are '2014-12-01-preview,2015-05-01-preview,"
    )
    # the SDK's own version and a published one are served
    assert arm(sim, "GET", path(sim, "connections"), token=token).status_code == 200
    assert arm(sim, "GET", path(sim, "connections"), token=token, version="2024-05-01").status_code == 200


def test_missing_resource_group_and_unknown_subscription_are_404(
    sim: SimulatorThread, ctl: SimControl, app: NetworkManagementClient
) -> None:
    operator = ctl.operator_token()["access_token"]
    resp = arm(sim, "GET", path(sim, "virtualNetworks", "v", rg="no-such-rg"), token=operator)
    assert resp.status_code == 404
    assert resp.json()["error"] == {
        "code": "ResourceGroupNotFound",
        "message": "Resource group 'no-such-rg' could not be found.",
    }
    # without access to it, the app learns nothing about the group: 403, as ARM answers
    resp = arm(sim, "GET", path(sim, "virtualNetworks", "v", rg="no-such-rg"), token=app_token())
    assert resp.status_code == 403
    other = "/subscriptions/99999999-9999-9999-9999-999999999999/resourceGroups/x/providers/Microsoft.Network/virtualNetworks"
    resp = arm(sim, "GET", other, token=operator)
    assert resp.status_code == 404
    assert resp.json()["error"] == {
        "code": "SubscriptionNotFound",
        "message": "The subscription '99999999-9999-9999-9999-999999999999' could not be found.",
    }


# --- throttling ----------------------------------------------------------------------------------------
def test_reads_count_down_then_429_with_retry_after_then_recover(
    sim: SimulatorThread, ctl: SimControl
) -> None:
    ctl.set_throttle(enabled=True, reads={"capacity": 4, "refillPerSecond": 2})
    token = app_token()
    url = path(sim, "virtualNetworks", "hybrid-vnet")
    remaining = []
    for _ in range(4):
        resp = arm(sim, "GET", url, token=token)
        assert resp.status_code == 200
        remaining.append(int(resp.headers["x-ms-ratelimit-remaining-subscription-reads"]))
    assert remaining == sorted(remaining, reverse=True) and remaining[-1] <= 1
    throttled = None
    for _ in range(5):  # the bucket refills at 2/s: a burst empties it
        resp = arm(sim, "GET", url, token=token)
        if resp.status_code == 429:
            throttled = resp
            break
    assert throttled is not None
    assert throttled.json()["error"]["code"] == "SubscriptionRequestsThrottled"
    assert f"actor '{sim.info.principal_id}'" in throttled.json()["error"]["message"]
    wait = int(throttled.headers["Retry-After"])
    assert wait >= 1
    # another principal has its own bucket
    assert arm(sim, "GET", url, token=ctl.operator_token()["access_token"]).status_code == 200
    time.sleep(wait)
    assert arm(sim, "GET", url, token=token).status_code == 200


def test_writes_and_post_actions_use_the_write_bucket(sim: SimulatorThread, ctl: SimControl) -> None:
    ctl.set_throttle(enabled=True, writes={"capacity": 2, "refillPerSecond": 0.2})
    token = app_token()
    post = path(sim, "virtualNetworkGateways", "hybrid-vpn-gw") + "/getLearnedRoutes"
    first = arm(sim, "POST", post, token=token)
    assert first.status_code == 202
    assert first.headers["x-ms-ratelimit-remaining-subscription-writes"] == "1"
    assert "x-ms-ratelimit-remaining-subscription-reads" not in first.headers
    assert arm(sim, "POST", post, token=token).status_code == 202
    third = arm(sim, "POST", post, token=token)
    assert third.status_code == 429 and int(third.headers["Retry-After"]) >= 1


def test_the_sdk_retries_429_after_retry_after(sim: SimulatorThread, ctl: SimControl) -> None:
    ctl.set_throttle(enabled=True, reads={"capacity": 1, "refillPerSecond": 1})
    client = client_for(sim, DefaultAzureCredential())
    names = [client.virtual_networks.get(RG, "hybrid-vnet").name for _ in range(3)]
    assert names == ["hybrid-vnet"] * 3
    assert any(r["status"] == 429 for r in ctl.requests())


def test_the_apps_own_client_waits_out_a_429(
    sim: SimulatorThread, ctl: SimControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app's client factory (shared.azure.arm) retries a 429 after its Retry-After, as in Azure."""
    from shared.azure.arm import network_client
    from shared.settings import Settings

    point_app_at(monkeypatch, sim.info)
    client = network_client(Settings.from_env())
    ctl.set_throttle(enabled=True, reads={"capacity": 1, "refillPerSecond": 1})
    ctl.clear_requests()
    gateways = [client.virtual_network_gateways.get(RG, "hybrid-vpn-gw").name for _ in range(2)]
    assert gateways == ["hybrid-vpn-gw"] * 2
    statuses = [r["status"] for r in ctl.requests()]
    assert statuses.count(429) >= 1 and statuses[-1] == 200


def test_throttling_switches_off(sim: SimulatorThread, ctl: SimControl) -> None:
    ctl.set_throttle(enabled=False, reads={"capacity": 1, "refillPerSecond": 0.01})
    token = app_token()
    for _ in range(5):
        resp = arm(sim, "GET", path(sim, "virtualNetworks", "hybrid-vnet"), token=token)
        assert resp.status_code == 200
        assert "x-ms-ratelimit-remaining-subscription-reads" not in resp.headers


# --- Event Grid ---------------------------------------------------------------------------------------------
@pytest.fixture()
def hook(ctl: SimControl) -> Iterator[Webhook]:
    server = Webhook()
    server.thread.start()
    ctl.clear_event_subscriptions()
    yield server
    ctl.clear_event_subscriptions()
    server.server.shutdown()


def test_the_deployed_filter_drops_the_apps_own_events_locally(
    sim: SimulatorThread,
    ctl: SimControl,
    hook: Webhook,
    app: NetworkManagementClient,
    operator: NetworkManagementClient,
) -> None:
    contract = load_contract(CONTRACT_PATH)
    ctl.subscribe_events(
        hook.url,
        includedEventTypes=contract["includedEventTypes"],
        advancedFilters=deployed_filters(contract, client_id=APP_CLIENT_ID),
        retryDelays=[0.05],
    )
    lng = app.local_network_gateways.get(RG, "hybrid-onprem-lng")
    app.local_network_gateways.begin_create_or_update(RG, "hybrid-onprem-lng", lng).result()
    lng.tags = {"changedBy": "operator"}
    operator.local_network_gateways.begin_create_or_update(RG, "hybrid-onprem-lng", lng).result()
    # the positive sentinel: the operator's write (made second) arrives; the app's own never does
    events = wait_for(lambda: hook.events(), what="the operator's event")
    assert [e["data"]["claims"][OID_CLAIM] for e in events] == [PORTAL_USER_OBJECT_ID]
    assert len(ctl.deliveries()) == 1


def test_filters_follow_event_grids_rules() -> None:
    filters = deployed_filters(
        {"appEventFilter": {"operatorType": "StringNotIn", "key": "data.claims.appid"}}, client_id="APP"
    )
    assert not matches({"data": {"claims": {"appid": "app"}}}, filters)  # case-insensitive
    assert matches({"data": {"claims": {"appid": "someone"}}}, filters)
    assert matches({"data": {"claims": '{"appid": "APP"}'}}, filters)  # claims as a string: no key
    assert not matches({"data": {}}, [{"operatorType": "StringIn", "key": "data.x", "values": ["a"]}])


def test_invalid_cloud_events_are_never_delivered(
    sim: SimulatorThread, ctl: SimControl, hook: Webhook
) -> None:
    from hybridnet_dev.armsim.eventgrid import CLOUD_EVENT_SCHEMA, invalid_event

    assert invalid_event({"id": "1", "type": "t", "specversion": "1.0"}, CLOUD_EVENT_SCHEMA)
    assert invalid_event({"id": "1", "type": "t", "source": "/s", "specversion": "0.3"}, CLOUD_EVENT_SCHEMA)
    assert not invalid_event(
        {"id": "1", "type": "t", "source": "/s", "specversion": "1.0"}, CLOUD_EVENT_SCHEMA
    )
    # a topic refuses them, and keeps nothing of the batch
    resp = requests.post(
        sim.info.topic_endpoint,
        params={"api-version": "2018-01-01"},
        headers={"aeg-sas-key": sim.info.topic_key, "Content-Type": "application/cloudevents-batch+json"},
        data=json.dumps([{"id": "1", "type": "t", "specversion": "1.0", "data": {}}]),
        verify=sim.info.ca_file,
        timeout=5,
    )
    assert resp.status_code == 400 and "source" in resp.json()["error"]["message"]
    assert ctl._call("GET", "/_sim/topics/hybridnet/events") == []


def test_a_put_needs_read_for_the_pollers_final_get() -> None:
    """The LRO poller of a PUT ends with a GET of the resource: the role needs its read too (the strict
    simulator found subnets/read missing when the drift fix detached an NSG from GatewaySubnet)."""
    from shared.azure.permissions import actions_for

    assert actions_for("subnets", "begin_create_or_update") == {
        "Microsoft.Network/virtualNetworks/subnets/write",
        "Microsoft.Network/virtualNetworks/subnets/read",
        "Microsoft.Network/locations/operations/read",  # its Azure-AsyncOperation polls
    }
    assert (
        "Microsoft.Network/virtualNetworks/subnets/read" in load_contract(CONTRACT_PATH)["networkRoleActions"]
    )


def test_cli_tunes_throttling_and_takes_a_modified_contract(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    from hybridnet_dev.armsim.cli import parse_throttle

    assert parse_throttle("off") is False and parse_throttle("on") is True
    with pytest.raises(ValueError, match="READS_CAP"):
        parse_throttle("5:x,1:1")
    contract = load_contract(CONTRACT_PATH)
    contract["networkRoleActions"] = ["Microsoft.Network/virtualNetworks/read"]
    (tmp_path / "contract.json").write_text(json.dumps(contract))
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "hybridnet_dev.armsim", "--spec", "examples/seed-network.yaml"),
            *("--throttle", "5:1,3:0.5", "--contract", str(tmp_path / "contract.json")),
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        throttle = requests.get(info["controlUrl"] + "/_sim/throttle", timeout=5).json()
        assert throttle == {
            "enabled": True,
            "reads": {"capacity": 5, "refillPerSecond": 1},
            "writes": {"capacity": 3, "refillPerSecond": 0.5},
        }
        roles = requests.get(info["controlUrl"] + "/_sim/roles", timeout=5).json()
        app_roles = [
            r
            for r in roles
            if r["principalId"] == info["principalId"] and r["scope"].endswith(f"/resourceGroups/{RG}")
        ]
        assert [r["actions"] for r in app_roles] == [["microsoft.network/virtualnetworks/read"]]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_every_reference_the_role_joins_is_checked_by_the_simulator() -> None:
    """The simulator's linked-access table (JSON property names) covers every reference the contract test
    classifies (shared/azure/permissions.REFERENCES) whose target has a linked action: one table each,
    kept in step by this test."""
    from azure.mgmt.network import models

    from hybridnet_dev.armsim.rbac import LINKED_PROPERTIES
    from shared.azure import permissions

    unchecked = []
    for name, target in permissions.REFERENCES.items():
        if target in (permissions.CHILD, permissions.SELF):
            continue
        if (permissions.FIELD_ACTIONS.get(name) or permissions.linked_action(target)) is None:
            continue
        model, attr = name.split(".")
        field = next(c.__dict__[attr] for c in getattr(models, model).__mro__ if attr in c.__dict__)
        rest = field._rest_name_input or attr  # None: the REST name is the attribute's own
        if rest not in LINKED_PROPERTIES:
            unchecked.append(f"{name} ({rest})")
    assert unchecked == []


def test_event_evidence_names_the_role_assignment_that_granted_the_write(
    sim: SimulatorThread, ctl: SimControl, hook: Webhook, app: NetworkManagementClient
) -> None:
    ctl.subscribe_events(
        hook.url, includedEventTypes=["Microsoft.Resources.ResourceWriteSuccess"], retryDelays=[0.05]
    )
    lng = app.local_network_gateways.get(RG, "hybrid-onprem-lng")
    app.local_network_gateways.begin_create_or_update(RG, "hybrid-onprem-lng", lng).result()
    events = wait_for(lambda: hook.events(), what="the app's write event")
    evidence = events[0]["data"]["authorization"]["evidence"]
    assert evidence["principalId"] == sim.info.principal_id
    assert evidence["role"] == "hybridnet network operator"
    assert evidence["roleAssignmentScope"] == f"/subscriptions/{sim.info.subscription_id}/resourceGroups/{RG}"


# --- operation-status polls -------------------------------------------------------------------------------
POLL_STATUS = "Microsoft.Network/locations/operations/read"
POLL_RESULT = "Microsoft.Network/locations/operationResults/read"


def start_lng_update(sim: SimulatorThread, token: str) -> requests.Response:
    """An update of the seed's local network gateway (a minute in Azure): its 200 with the monitor URL."""
    lng = path(sim, "localNetworkGateways", "hybrid-onprem-lng")
    body = arm(sim, "GET", lng, token=token).json()
    body.pop("etag", None)
    resp = arm(sim, "PUT", lng, token=token, body=body)
    assert resp.status_code == 200, resp.text
    return resp


def poll(sim: SimulatorThread, url: str, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.get(url, headers=headers, verify=sim.info.ca_file, timeout=10)


def test_operation_polls_need_a_valid_token(sim: SimulatorThread) -> None:
    monitor = start_lng_update(sim, app_token()).headers["Azure-AsyncOperation"]
    missing = poll(sim, monitor, None)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "AuthenticationFailed"
    real = jwt.decode(app_token(), options={"verify_signature": False})
    foreign = jwt.encode(real, b"not-this-simulators-secret-0123456789", algorithm="HS256")
    forged = poll(sim, monitor, foreign)
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert poll(sim, monitor, app_token()).status_code == 200  # its own identity, with the role: answered


def test_another_identity_cannot_read_an_operation_it_did_not_start(
    sim: SimulatorThread, ctl: SimControl
) -> None:
    """The RP's operation result rules (ARM RPC async-api-reference): the identity that started the
    operation polls it; any other, even an Owner of the subscription, gets 404 and learns nothing."""
    started = start_lng_update(sim, app_token())
    operator = ctl.operator_credential().get_token("https://management.azure.com/.default").token
    for url in (started.headers["Azure-AsyncOperation"],):
        answer = poll(sim, url, operator)
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["code"] == "OperationNotFound"
        assert "status" not in answer.json()
    # its own identity, but another region's endpoint: that region knows no such operation
    region = started.headers["Azure-AsyncOperation"].split("/locations/", 1)[1].split("/", 1)[0]
    elsewhere = started.headers["Azure-AsyncOperation"].replace(
        f"/locations/{region}/", "/locations/nowhere/"
    )
    assert poll(sim, elsewhere, app_token()).status_code == 404
    # an operation the operator started is the operator's to poll
    mine = start_lng_update(sim, operator).headers["Azure-AsyncOperation"]
    assert poll(sim, mine, operator).status_code == 200
    assert poll(sim, mine, app_token()).status_code == 404


@pytest.fixture(scope="module")
def no_poll_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorThread]:
    """The app's role without the two poll actions (the contract before they were added)."""
    contract = load_contract(CONTRACT_PATH)
    contract["networkRoleActions"] = [
        a for a in contract["networkRoleActions"] if a not in (POLL_STATUS, POLL_RESULT)
    ]
    path_ = Path(tmp_path_factory.mktemp("contract")) / "app-contract.json"
    path_.write_text(json.dumps(contract))
    with SimulatorThread(seed_spec(), contract_path=path_) as running:
        yield running


def test_a_role_without_the_poll_actions_has_its_write_accepted_then_cannot_follow_it(
    no_poll_sim: SimulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_simulator_identity(monkeypatch, no_poll_sim.info)
    started = start_lng_update(no_poll_sim, app_token())  # the write itself is authorized
    monitor = started.headers["Azure-AsyncOperation"]
    answer = poll(no_poll_sim, monitor, app_token())
    assert answer.status_code == 403
    scope = monitor.split(no_poll_sim.info.arm_url, 1)[1].split("?", 1)[0]
    assert answer.json()["error"] == {
        "code": "AuthorizationFailed",
        "message": (
            f"The client '{APP_CLIENT_ID}' with object id '{no_poll_sim.info.principal_id}' does not have "
            f"authorization to perform action '{POLL_STATUS}' over scope '{scope}' or the scope is invalid. "
            "If access was recently granted, please refresh your credentials."
        ),
    }
    # a POST action's result (the Location URL) needs operationResults/read
    action = arm(
        no_poll_sim,
        "POST",
        path(no_poll_sim, "virtualNetworkGateways", "hybrid-vpn-gw") + "/getLearnedRoutes",
        token=app_token(),
    )
    assert action.status_code == 202, action.text
    result = poll(no_poll_sim, action.headers["Location"], app_token())
    assert result.status_code == 403 and f"'{POLL_RESULT}'" in result.json()["error"]["message"]
    client = client_for(no_poll_sim, DefaultAzureCredential())
    lng = client.local_network_gateways.get(RG, "hybrid-onprem-lng")
    with pytest.raises(HttpResponseError) as caught:
        client.local_network_gateways.begin_create_or_update(RG, "hybrid-onprem-lng", lng).result()
    assert caught.value.status_code == 403 and POLL_STATUS in str(caught.value.error.message)  # type: ignore[union-attr]


def test_the_deployed_role_polls_status_and_results_of_its_actions(
    sim: SimulatorThread, app: NetworkManagementClient, ctl: SimControl
) -> None:
    """getLearnedRoutes is a POST: the SDK polls Azure-AsyncOperation, then GETs the Location URL for the
    result; both are authorized for the role as deployed."""
    ctl.clear_requests()
    routes = app.virtual_network_gateways.begin_get_learned_routes(RG, "hybrid-vpn-gw").result()
    assert routes is not None
    polled = {
        r["path"].split("/")[-2].lower(): r["status"] for r in ctl.requests() if "/locations/" in r["path"]
    }
    assert polled.get("operationresults") == 200 and polled.get("operations") == 200
