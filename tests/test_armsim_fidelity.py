"""Fidelity: the simulator's responses have the shape of Microsoft's own REST examples.

The examples (tests/fixtures/, sources in tests/fixtures/SOURCES.md) describe *some* configuration of
each resource; the simulator's seeded resources describe *ours*. So the comparison is one-sided and
structural, see :func:`shape_problems`:

* every key the simulator returns must exist at the same place in the real example (no invented
  fields), except the documented ``EXTRA`` paths: fields real Azure returns that a given example
  happens to omit (e.g. ``etag`` is absent from some examples but always present in Azure);
* keys of the example the simulator lacks are allowed: they belong to features our configuration
  does not use (NAT rules, P2S client configuration, BGP custom addresses, DDoS plans...);
* where both have a key, the JSON value types match (object/array/string/number/bool), recursively;
  arrays compare the simulator's first element against the example's first element.

Then both bodies go through the SDK models (azure-mgmt-network 33.1 models are built from the wire
mapping, ``Model(body)``, exactly what the SDK's deserializer does) and the sets of populated
attributes (dotted paths, ``[]`` for list elements) must match, modulo the per-case ``ABSENT``
(attributes only the example populates: features we do not configure) and the ``EXTRA`` above.

The one deliberate difference: the real connection GET example contains ``sharedKey``; the simulator
never returns it from a connection GET (the key is only readable via ``.../sharedkey``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from azure.mgmt.network import models

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorThread
from shared.spec.model import NetworkSpec
from tests.stack import put_fidelity_nsg

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[1]
ENV_TO_CLEAR = (
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
)
RG = "hybrid-network-rg"
API = "2024-05-01"


def load_spec() -> NetworkSpec:
    return NetworkSpec.model_validate(yaml.safe_load((ROOT / "examples" / "seed-network.yaml").read_text()))


def example(name: str, status: str = "200") -> Any:
    return json.loads((FIXTURES / name).read_text())["responses"][status]["body"]


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def shape_problems(sim: Any, real: Any, extra: frozenset[str] = frozenset(), path: str = "") -> list[str]:
    """Where ``sim`` is not shaped like ``real`` (see the module docstring); ``[]`` when it is."""
    if json_type(sim) != json_type(real):
        return [f"{path or '<root>'}: {json_type(sim)} in the simulator, {json_type(real)} in Azure"]
    problems: list[str] = []
    if isinstance(real, dict):
        for key in sim:
            where = f"{path}.{key}" if path else key
            if key not in real:
                if where not in extra:
                    problems.append(f"{where}: not in the real example")
                continue
            problems += shape_problems(sim[key], real[key], extra, where)
    elif isinstance(real, list) and real and sim:
        problems += shape_problems(sim[0], real[0], extra, f"{path}[]")
    return problems


def populated(model: Any, prefix: str = "") -> set[str]:
    """Dotted paths of the SDK model attributes that are set (not None)."""
    out: set[str] = set()
    for attr in type(model)._attr_to_rest_field:
        value = getattr(model, attr, None)
        if value is None:
            continue
        out.add(prefix + attr)
        if isinstance(value, list):
            if value and hasattr(type(value[0]), "_attr_to_rest_field"):
                out |= populated(value[0], f"{prefix}{attr}[].")
        elif hasattr(type(value), "_attr_to_rest_field"):
            out |= populated(value, f"{prefix}{attr}.")
    return out


def _peering_attrs() -> set[str]:
    from hybridnet_dev.armsim.circuits import private_peering
    from hybridnet_dev.armsim.physics import Circuit

    return populated(models.ExpressRouteCircuitPeering(private_peering(Circuit("/x/c"), 'W/"e"')))


PEERING_ATTRS = _peering_attrs()


@dataclass
class Case:
    fixture: str
    path: str  # ARM path below the subscription's resource group (or a full path starting with /)
    model: type
    extra: frozenset[str] = frozenset()  # JSON paths Azure returns that this example omits
    absent: frozenset[str] = frozenset()  # SDK attributes only the example populates
    sim_only: frozenset[str] = field(default_factory=frozenset)  # SDK attributes only the simulator populates


GW_ABSENT = frozenset(
    {
        "properties.nat_rules[].properties.internal_mappings",
        "properties.nat_rules[].properties.external_mappings",
        "properties.nat_rules[].properties.provisioning_state",
        "properties.nat_rules[].properties.mode",
        "properties.nat_rules[].properties.type",
        "properties.nat_rules[].etag",
        "properties.nat_rules[].id",
        "properties.nat_rules[].name",
        "properties.nat_rules[].properties",
        "properties.nat_rules[].properties.internal_mappings[].address_space",
        "properties.nat_rules[].properties.external_mappings[].address_space",
        "identity",  # a user-assigned identity (certificate authentication): not configured
        "identity.type",
        "identity.user_assigned_identities",
        "properties.virtual_network_gateway_migration_status",  # Basic-IP migration only
        "properties.virtual_network_gateway_migration_status.phase",
        "properties.virtual_network_gateway_migration_status.state",
        "properties.virtual_network_gateway_migration_status.error_message",
        "properties.vpn_client_configuration",
        "properties.vpn_client_configuration.vpn_client_protocols",
        "properties.vpn_client_configuration.vpn_client_root_certificates",
        "properties.vpn_client_configuration.vpn_client_revoked_certificates",
        "properties.vpn_client_configuration.radius_servers",
        "properties.vpn_client_configuration.radius_servers[].radius_server_address",
        "properties.vpn_client_configuration.radius_servers[].radius_server_score",
        "properties.custom_routes",
        "properties.custom_routes.address_prefixes",
        "properties.bgp_settings.bgp_peering_addresses[].custom_bgp_ip_addresses",
    }
)

CASES = [
    Case(
        "2025-05-01/VirtualNetworkGatewayGet.json",
        "virtualNetworkGateways/hybrid-vpn-gw",
        models.VirtualNetworkGateway,
        absent=GW_ABSENT,
    ),
    Case(
        "2025-05-01/VirtualNetworkGatewayGet.json",
        "virtualNetworkGateways/hybrid-er-gw",
        models.VirtualNetworkGateway,
        # An ExpressRoute gateway has no VPN type, NAT rules, BGP settings of its own to show.
        absent=GW_ABSENT
        | {
            "properties.vpn_type",
            "properties.nat_rules",
            "properties.enable_bgp_route_translation_for_nat",
            "properties.bgp_settings",
            "properties.bgp_settings.asn",
            "properties.bgp_settings.bgp_peering_address",
            "properties.bgp_settings.peer_weight",
            "properties.bgp_settings.bgp_peering_addresses",
            "properties.bgp_settings.bgp_peering_addresses[].ipconfiguration_id",
            "properties.bgp_settings.bgp_peering_addresses[].default_bgp_ip_addresses",
            "properties.bgp_settings.bgp_peering_addresses[].tunnel_ip_addresses",
        },
    ),
    Case("LocalNetworkGatewayGet.json", "localNetworkGateways/hybrid-onprem-lng", models.LocalNetworkGateway),
    Case(
        "2025-05-01/VirtualNetworkGatewayConnectionGet.json",
        "connections/hybrid-vpn-connection",
        models.VirtualNetworkGatewayConnection,
        absent=frozenset(
            {
                "properties.shared_key",  # deliberately never returned by a connection GET
                "properties.ingress_nat_rules",
                "properties.ingress_nat_rules[].id",
                "properties.egress_nat_rules",
                "properties.egress_nat_rules[].id",
                "properties.gateway_custom_bgp_ip_addresses",
                "properties.gateway_custom_bgp_ip_addresses[].ip_configuration_id",
                "properties.gateway_custom_bgp_ip_addresses[].custom_bgp_ip_address",
                "properties.certificate_authentication",  # the seed authenticates with a pre-shared key
                "properties.certificate_authentication.outbound_auth_certificate",
                "properties.certificate_authentication.inbound_auth_certificate_chain",
                "properties.certificate_authentication.inbound_auth_certificate_subject_name",
                "properties.tunnel_properties",
                "properties.tunnel_properties[].bgp_peering_address",
                "properties.tunnel_properties[].tunnel_ip_address",
            }
        ),
    ),
    Case(
        "PublicIpAddressGet.json",
        "publicIPAddresses/hybrid-vpn-gw-pip",
        models.PublicIPAddress,
        # The example is an unallocated Basic (sku-less) Dynamic IP; ours is Standard/Static, so Azure
        # returns its sku and ipAddress, and every resource's etag and resourceGuid.
        extra=frozenset({"etag", "sku", "properties.ipAddress", "properties.resourceGuid"}),
        absent=frozenset(
            {
                "properties.ddos_settings",
                "properties.ddos_settings.protection_mode",
                "properties.ddos_settings.ddos_protection_plan",
                "properties.ddos_settings.ddos_protection_plan.id",
                "properties.ip_tags[].ip_tag_type",
                "properties.ip_tags[].tag",
            }
        ),
        sim_only=frozenset(
            {"etag", "sku", "sku.name", "sku.tier", "properties.ip_address", "properties.resource_guid"}
        ),
    ),
    Case(
        "VirtualNetworkGet.json",
        "virtualNetworks/hybrid-vnet",
        models.VirtualNetwork,
        extra=frozenset(
            {
                "etag",
                "properties.resourceGuid",
                "properties.enableDdosProtection",
                "properties.dhcpOptions",  # Azure-provided DNS: {"dnsServers": []}
                "properties.subnets[].etag",
                "properties.subnets[].type",
            }
        ),
        sim_only=frozenset(
            {
                "etag",
                "properties.resource_guid",
                "properties.enable_ddos_protection",
                "properties.dhcp_options",
                "properties.dhcp_options.dns_servers",
                "properties.subnets[].etag",
                "properties.subnets[].type",
            }
        ),
    ),
    Case(
        "SubnetGet.json",
        "virtualNetworks/hybrid-vnet/subnets/web-tier",
        models.Subnet,
        extra=frozenset({"etag", "type", "properties.ipConfigurations"}),
        sim_only=frozenset(
            {"etag", "type", "properties.ip_configurations", "properties.ip_configurations[].id"}
        ),
    ),
    Case(
        "ExpressRouteCircuitGet.json",
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/hybrid-circuit-rg/providers/Microsoft.Network/expressRouteCircuits/hybrid-er-circuit",
        models.ExpressRouteCircuit,
        # The example's circuit is not provisioned (no peering); the simulated one has its private
        # peering, whose own shape is checked against ExpressRouteCircuitPeeringGet.json below.
        sim_only=frozenset({"properties.peerings"} | {f"properties.peerings[].{a}" for a in PEERING_ATTRS}),
    ),
    Case(
        "ExpressRouteCircuitPeeringGet.json",
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/hybrid-circuit-rg/providers/Microsoft.Network/expressRouteCircuits/hybrid-er-circuit/peerings/AzurePrivatePeering",
        models.ExpressRouteCircuitPeering,
        # Azure lists a private peering's gateway connections (ExpressRouteCircuitPeering model).
        extra=frozenset({"properties.connections", "properties.peeredConnections"}),
        sim_only=frozenset({"properties.connections", "properties.peered_connections"}),
        # The example is a MicrosoftPeering; a private peering has none of these.
        absent=frozenset(
            a
            for a in populated(
                models.ExpressRouteCircuitPeering(example("ExpressRouteCircuitPeeringGet.json"))
            )
            if a.startswith(
                (
                    "properties.microsoft_peering_config",
                    "properties.ipv6_peering_config",
                    "properties.route_filter",
                )
            )
        ),
    ),
    Case(
        "LoadBalancerGet.json",
        "loadBalancers/hybrid-web-ilb",
        models.LoadBalancer,
        # The example is a Basic LB (sku name only); a Standard LB reports its tier ("Regional").
        extra=frozenset({"sku.tier"}),
        sim_only=frozenset({"sku.tier"}),
    ),
    Case(
        "NetworkSecurityGroupGet.json",
        "networkSecurityGroups/fidelity-nsg",
        models.NetworkSecurityGroup,
        extra=frozenset(
            {
                "etag",
                "properties.resourceGuid",
                "properties.securityRules[].etag",
                "properties.securityRules[].type",
                "properties.defaultSecurityRules[].etag",
                "properties.defaultSecurityRules[].type",
            }
        ),
        sim_only=frozenset(
            {
                "etag",
                "properties.resource_guid",
                "properties.security_rules[].etag",
                "properties.security_rules[].type",
                "properties.default_security_rules[].etag",
                "properties.default_security_rules[].type",
            }
        ),
    ),
]

LB_ABSENT_PREFIXES = (
    "properties.backend_address_pools",
    "properties.load_balancing_rules",
    "properties.probes",
    "properties.inbound_nat_rules",
    "properties.frontend_ip_configurations[].properties.load_balancing_rules",
    "properties.frontend_ip_configurations[].properties.inbound_nat_rules",
)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    with pytest.MonkeyPatch.context() as mp, SimulatorThread(load_spec()) as running:
        for name in ENV_TO_CLEAR:
            mp.delenv(name, raising=False)
        put_fidelity_nsg(SimControl(running.info.control_url), running.info.subscription_id)
        yield running


def operator_auth(control_url: str) -> dict[str, str]:
    """The operator's bearer token: the simulator checks every token (any string no longer passes)."""
    return {"Authorization": f"Bearer {SimControl(control_url).operator_token()['access_token']}"}


def sim_get(sim: SimulatorThread, path: str) -> Any:
    info = sim.info
    if not path.startswith("/"):
        path = f"/subscriptions/{info.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Network/{path}"
    resp = requests.get(
        info.arm_url + path,
        params={"api-version": API},
        headers=operator_auth(info.control_url),
        verify=info.ca_file,
        timeout=5,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.path.rsplit("/", 1)[-1])
def test_shape_matches_real_example(sim: SimulatorThread, case: Case) -> None:
    real = example(case.fixture)
    body = sim_get(sim, case.path)
    assert shape_problems(body, real, case.extra) == []
    sim_attrs = populated(case.model(body))
    real_attrs = populated(case.model(real))
    absent = case.absent
    if case.model is models.LoadBalancer:
        absent = absent | {a for a in real_attrs if a.startswith(LB_ABSENT_PREFIXES)}
    assert sim_attrs - real_attrs <= case.sim_only, "attributes only the simulator populates"
    assert real_attrs - sim_attrs <= absent, "attributes the simulator leaves unset"


def test_connection_get_never_has_shared_key(sim: SimulatorThread) -> None:
    assert "sharedKey" in example("VirtualNetworkGatewayConnectionGet.json")["properties"]
    assert "sharedKey" not in sim_get(sim, "connections/hybrid-vpn-connection")["properties"]


def test_shared_key_shape(sim: SimulatorThread) -> None:
    info = sim.info
    url = f"{info.arm_url}/subscriptions/{info.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Network/connections/hybrid-vpn-connection/sharedkey"
    body = requests.get(
        url,
        params={"api-version": API},
        headers=operator_auth(info.control_url),
        verify=info.ca_file,
        timeout=5,
    ).json()
    for status in ("200", "201"):
        real = example("VirtualNetworkGatewayConnectionSetSharedKey.json", status)
        assert shape_problems(body, real) == []
        assert populated(models.ConnectionSharedKey(body)) == populated(models.ConnectionSharedKey(real))


def test_learned_routes_and_bgp_peers_match_sdk_models(sim: SimulatorThread) -> None:
    """No populated real example exists for these two; every key must be a known model field."""
    from hybridnet_dev.armsim.ids import ResourceId

    physics = sim.sim.physics
    gw = sim.sim.store.get(ResourceId(sim.info.subscription_id, RG, "virtualNetworkGateways", "hybrid-er-gw"))
    assert gw is not None
    for rows, model in (
        (physics.learned_routes(gw), models.GatewayRoute),
        (physics.bgp_peers(gw), models.BgpPeerStatus),
    ):
        assert rows
        for row in rows:
            instance = model(row)
            rest_names = {f._rest_name for f in type(instance)._attr_to_rest_field.values()}
            assert set(row) <= rest_names
            assert populated(instance) == set(type(instance)._attr_to_rest_field)
