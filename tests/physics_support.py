"""Fixtures for the physical-network tests: a seeded simulator of their own, the real SDK against it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from azure.core.credentials import AccessToken
from azure.identity import DefaultAzureCredential
from azure.mgmt.network import NetworkManagementClient, models

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorThread
from shared.spec.model import NetworkSpec
from tests.stack import sdk_client, simulator_fixtures

ROOT = Path(__file__).resolve().parents[1]
RG = "hybrid-network-rg"
CIRCUIT_RG = "hybrid-circuit-rg"
CIRCUIT = "hybrid-er-circuit"
PEERING = "AzurePrivatePeering"
ER_GW = "hybrid-er-gw"
VPN_GW = "hybrid-vpn-gw"
ER_CONN = "hybrid-er-connection"
VPN_CONN = "hybrid-vpn-connection"
LNG = "hybrid-onprem-lng"
APPLIANCE = "40.50.60.70"
ONPREM = "10.10.0.0/16"


def load_spec() -> NetworkSpec:
    return NetworkSpec.model_validate(yaml.safe_load((ROOT / "examples" / "seed-network.yaml").read_text()))


class SimCredential:
    """The operator's token (Owner, as a person in the portal) where the simulator serves one
    (``GET /_sim/tokens/operator``), else the app's managed identity: these tests drive the provider's
    and the operator's side too, not only what the app's role allows."""

    def __init__(self, control_url: str) -> None:
        self.control_url = control_url
        self.fallback = DefaultAzureCredential()

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        try:
            resp = requests.get(f"{self.control_url}/_sim/tokens/operator", timeout=5)
        except requests.RequestException:
            resp = None
        if resp is not None and resp.status_code == 200:
            body = resp.json()
            token = body.get("access_token") or body.get("accessToken") or body.get("token")
            if isinstance(token, str):
                expires = int(body.get("expires_on") or body.get("expiresOn") or time.time() + 3600)
                return AccessToken(token, expires)
        return self.fallback.get_token(*scopes, **kwargs)


sim, ctl = simulator_fixtures(load_spec)


@pytest.fixture(scope="module")
def client(sim: SimulatorThread) -> NetworkManagementClient:
    return sdk_client(sim, SimCredential(sim.info.control_url))


def learned(client: NetworkManagementClient, gateway: str) -> list[Any]:
    return list(client.virtual_network_gateways.begin_get_learned_routes(RG, gateway).result().value or [])


def onprem_routes(client: NetworkManagementClient, gateway: str, prefix: str = ONPREM) -> list[Any]:
    return [r for r in learned(client, gateway) if r.network == prefix]


def peers(client: NetworkManagementClient, gateway: str) -> list[Any]:
    return list(client.virtual_network_gateways.begin_get_bgp_peer_status(RG, gateway).result().value or [])


def status(client: NetworkManagementClient, connection: str) -> str:
    value = client.virtual_network_gateway_connections.get(RG, connection).properties.connection_status
    return str(getattr(value, "value", value))


def traffic(client: NetworkManagementClient, connection: str) -> tuple[int, int]:
    props = client.virtual_network_gateway_connections.get(RG, connection).properties
    return int(props.ingress_bytes_transferred), int(props.egress_bytes_transferred)


def enable_vpn_bgp(sim: SimulatorThread, ctl: SimControl, *, peer: str = "10.10.255.254") -> None:
    """BGP on the VPN path, as an operator configures it: the gateway, the connection and the LNG."""

    def rid(rtype: str, name: str) -> str:
        return f"/subscriptions/{sim.info.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Network/{rtype}/{name}"

    ctl.patch_resource(rid("virtualNetworkGateways", VPN_GW), {"enableBgp": True})
    ctl.patch_resource(rid("connections", VPN_CONN), {"enableBgp": True})
    ctl.patch_resource(
        rid("localNetworkGateways", LNG), {"bgpSettings": {"asn": 65010, "bgpPeeringAddress": peer}}
    )


def disable_vpn_bgp(sim: SimulatorThread, ctl: SimControl) -> None:
    def rid(rtype: str, name: str) -> str:
        return f"/subscriptions/{sim.info.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Network/{rtype}/{name}"

    ctl.patch_resource(rid("virtualNetworkGateways", VPN_GW), {"enableBgp": False})
    ctl.patch_resource(rid("connections", VPN_CONN), {"enableBgp": False})
    ctl.patch_resource(rid("localNetworkGateways", LNG), {"bgpSettings": None})


# --- site failover tests (ExpressRoute resiliency APIs) ---------------------------------------------
LOCATION = "Silicon Valley"  # the seeded circuit's serviceProviderProperties.peeringLocation


def start(client: NetworkManagementClient, location: str = LOCATION, gateway: str = ER_GW) -> str:
    gws = client.virtual_network_gateways
    return gws.begin_start_express_route_site_failover_simulation(
        RG, gateway, peering_location=location
    ).result()


def stop(client: NetworkManagementClient, *, successful: bool = True) -> str:
    params = models.ExpressRouteFailoverStopApiParameters(
        peering_location=LOCATION,
        was_simulation_successful=successful,
        details=[
            models.FailoverConnectionDetails(
                failover_connection_name=VPN_CONN, failover_location="eastus", is_verified=True
            )
        ],
    )
    gws = client.virtual_network_gateways
    return gws.begin_stop_express_route_site_failover_simulation(RG, ER_GW, params).result()


def all_tests(client: NetworkManagementClient) -> list[models.ExpressRouteFailoverTestDetails]:
    gws = client.virtual_network_gateways
    return gws.begin_get_failover_all_test_details(
        RG, ER_GW, type="SingleSiteFailover", fetch_latest=True
    ).result()


def single(client: NetworkManagementClient, guid: str) -> models.ExpressRouteFailoverSingleTestDetails:
    gws = client.virtual_network_gateways
    (details,) = gws.begin_get_failover_single_test_details(
        RG, ER_GW, peering_location=LOCATION, failover_test_id=guid
    ).result()
    return details
