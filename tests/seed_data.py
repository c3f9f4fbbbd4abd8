"""The seed architecture's exact values (examples/seed-network.yaml) as YAML data, for spec tests.
Kept literal on purpose: tests/test_spec_load.py checks that the example file still says this."""

from __future__ import annotations

from typing import Any

CIRCUIT_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/hybrid-circuit-rg"
    "/providers/Microsoft.Network/expressRouteCircuits/hybrid-er-circuit"
)

SEED_SITE: dict[str, Any] = {
    "name": "seed",
    "resourceGroup": "hybrid-network-rg",
    "location": "eastus",
    "maxKeyAgeDays": 90,
    "vnet": {
        "name": "hybrid-vnet",
        "addressSpace": ["10.20.0.0/16"],
        "gatewaySubnet": "10.20.255.224/27",
        "subnets": [{"name": "web-tier", "prefix": "10.20.1.0/24"}],
    },
    "onPremises": {"addressSpace": ["10.10.0.0/16"], "applianceIp": "40.50.60.70"},
    "expressRoute": {
        "gateway": {"name": "hybrid-er-gw", "sku": "Standard", "publicIpName": "hybrid-er-gw-pip"},
        "connection": {"name": "hybrid-er-connection", "circuitId": CIRCUIT_ID, "routingWeight": 10},
    },
    "vpn": {
        "gateway": {
            "name": "hybrid-vpn-gw",
            "sku": "VpnGw1",
            "generation": "Generation1",
            "publicIpName": "hybrid-vpn-gw-pip",
        },
        "localNetworkGateway": {"name": "hybrid-onprem-lng"},
        "connection": {"name": "hybrid-vpn-connection", "ikeVersion": "IKEv2", "routingWeight": 0},
    },
    "loadBalancer": {"name": "hybrid-web-ilb", "subnet": "web-tier", "privateIp": "10.20.1.254"},
}
