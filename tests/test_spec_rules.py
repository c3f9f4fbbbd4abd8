"""Semantic rules of the spec: for each rule a bad example gives the exact message, the boundary passes."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from shared.spec import SpecError, parse_spec
from shared.spec.model import Site
from shared.spec.rules import check_site, check_sites, last_block, non_public_reason
from tests.seed_data import CIRCUIT_ID, SEED_SITE

Mutator = Callable[[dict[str, Any]], None]


def site_with(mutate: Mutator | None = None) -> dict[str, Any]:
    site = copy.deepcopy(SEED_SITE)
    if mutate is not None:
        mutate(site)
    return site


def errors_for(*sites: dict[str, Any]) -> list[str]:
    """Errors for a spec made of ``sites`` ([] when it is valid)."""
    text = yaml.safe_dump({"sites": list(sites)}, sort_keys=False)
    try:
        parse_spec(text, "test.yaml")
    except SpecError as exc:
        return exc.errors
    return []


def errors_with(mutate: Mutator) -> list[str]:
    return errors_for(site_with(mutate))


def second_site(mutate: Mutator | None = None) -> dict[str, Any]:
    """A second, valid-on-its-own site in its own resource group and address range."""

    def base(s: dict[str, Any]) -> None:
        s["name"] = "second"
        s["resourceGroup"] = "second-rg"
        s["vnet"]["addressSpace"] = ["10.30.0.0/16"]
        s["vnet"]["gatewaySubnet"] = "10.30.255.224/27"
        s["vnet"]["subnets"] = [{"name": "web-tier", "prefix": "10.30.1.0/24"}]
        s["loadBalancer"]["privateIp"] = "10.30.1.254"
        if mutate is not None:
            mutate(s)

    return site_with(base)


def test_seed_is_valid() -> None:
    assert errors_with(lambda s: None) == []


def test_check_site_directly_on_the_seed() -> None:
    site = Site.model_validate(SEED_SITE)
    assert check_site(site, "sites[0]") == []
    assert check_sites([("sites[0]", site)]) == []


# ------------------------------------------------------------------------------- prefixes


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda s: s["vnet"]["subnets"][0].update(prefix="10.20.1.5/24"),
            "sites[0].vnet.subnets[0].prefix: 10.20.1.5/24 has host bits set (use 10.20.1.0/24)",
        ),
        (
            lambda s: s["onPremises"].update(addressSpace=["10.10.1.1/16"]),
            "sites[0].onPremises.addressSpace[0]: 10.10.1.1/16 has host bits set (use 10.10.0.0/16)",
        ),
        (
            lambda s: s["vnet"]["subnets"][0].update(prefix="banana"),
            "sites[0].vnet.subnets[0].prefix: 'banana' is not a valid IP prefix (write it in CIDR form, "
            "e.g. 10.20.0.0/16)",
        ),
        (
            lambda s: s["vnet"]["subnets"][0].update(prefix="10.20.1.0/33"),
            "sites[0].vnet.subnets[0].prefix: '10.20.1.0/33' is not a valid IP prefix (write it in CIDR form, "
            "e.g. 10.20.0.0/16)",
        ),
        (
            lambda s: s["vnet"].update(gatewaySubnet="10.20.255.224"),
            "sites[0].vnet.gatewaySubnet: 10.20.255.224 has no prefix length (write it in CIDR form, "
            "e.g. 10.20.255.224/24)",
        ),
    ],
)
def test_invalid_prefixes(mutate: Mutator, expected: str) -> None:
    assert errors_with(mutate) == [expected]


def test_unparseable_vnet_space_does_not_cascade() -> None:
    errors = errors_with(lambda s: s["vnet"].update(addressSpace=["10.20.1.5/16"]))
    assert errors == ["sites[0].vnet.addressSpace[0]: 10.20.1.5/16 has host bits set (use 10.20.0.0/16)"]


def test_public_vnet_address_space_is_allowed() -> None:
    def mutate(s: dict[str, Any]) -> None:
        s["vnet"]["addressSpace"] = ["10.20.0.0/16", "20.30.0.0/24"]

    assert errors_with(mutate) == []


# ------------------------------------------------------------------------------- overlaps


def test_vnet_overlapping_own_on_premises() -> None:
    errors = errors_with(lambda s: s["onPremises"].update(addressSpace=["10.0.0.0/8"]))
    assert errors == [
        "sites[0].vnet.addressSpace[0]: 10.20.0.0/16 overlaps the on-premises address space 10.0.0.0/8 "
        "(sites[0].onPremises.addressSpace[0]); choose a VNet range that does not overlap on-premises"
    ]


def test_vnet_address_spaces_overlapping_each_other() -> None:
    errors = errors_with(lambda s: s["vnet"].update(addressSpace=["10.20.0.0/16", "10.20.128.0/17"]))
    assert errors == [
        "sites[0].vnet.addressSpace[1]: 10.20.128.0/17 overlaps 10.20.0.0/16 (sites[0].vnet.addressSpace[0]); "
        "the ranges of one VNet address space must not overlap (remove or merge one of them)"
    ]


def test_two_sites_vnets_overlap() -> None:
    errors = errors_for(
        site_with(), second_site(lambda s: s["vnet"].update(addressSpace=["10.20.0.0/16", "10.30.0.0/16"]))
    )
    assert errors == [
        "sites[1].vnet.addressSpace[0]: 10.20.0.0/16 overlaps the VNet of site 'seed' 10.20.0.0/16 "
        "(sites[0].vnet.addressSpace[0]); each site's VNet needs its own range"
    ]


def test_vnet_overlapping_another_sites_on_premises() -> None:
    def mutate(s: dict[str, Any]) -> None:
        s["onPremises"]["addressSpace"] = ["10.11.0.0/16"]
        s["vnet"]["addressSpace"] = ["10.30.0.0/16", "10.10.0.0/24"]

    errors = errors_for(site_with(), second_site(mutate))
    assert errors == [
        "sites[1].vnet.addressSpace[1]: 10.10.0.0/24 overlaps the on-premises address space of site 'seed' "
        "10.10.0.0/16 (sites[0].onPremises.addressSpace[0]); choose a VNet range that does not overlap any "
        "on-premises network"
    ]


def test_sites_may_share_on_premises() -> None:
    assert errors_for(site_with(), second_site()) == []


def test_shared_on_premises_overlap_is_reported_once() -> None:
    errors = errors_for(
        site_with(), second_site(lambda s: s["vnet"].update(addressSpace=["10.30.0.0/16", "10.10.5.0/24"]))
    )
    assert errors == [
        "sites[1].vnet.addressSpace[1]: 10.10.5.0/24 overlaps the on-premises address space 10.10.0.0/16 "
        "(sites[1].onPremises.addressSpace[0]); choose a VNet range that does not overlap on-premises"
    ]


# ------------------------------------------------------------------------------ GatewaySubnet


def test_gateway_subnet_not_at_upper_end() -> None:
    errors = errors_with(lambda s: s["vnet"].update(gatewaySubnet="10.20.0.0/27"))
    assert errors == [
        "sites[0].vnet.gatewaySubnet: 10.20.0.0/27 is not at the upper end of 10.20.0.0/16 (use 10.20.255.224/27)"
    ]


def test_gateway_subnet_near_but_not_at_upper_end() -> None:
    errors = errors_with(lambda s: s["vnet"].update(gatewaySubnet="10.20.255.192/27"))
    assert errors == [
        "sites[0].vnet.gatewaySubnet: 10.20.255.192/27 is not at the upper end of 10.20.0.0/16 "
        "(use 10.20.255.224/27)"
    ]


@pytest.mark.parametrize("prefix", ["10.20.255.224/27", "10.20.255.192/26", "10.20.255.0/24"])
def test_gateway_subnet_last_block_of_its_size_passes(prefix: str) -> None:
    assert errors_with(lambda s: s["vnet"].update(gatewaySubnet=prefix)) == []


def test_gateway_subnet_upper_end_of_its_own_address_space() -> None:
    def mutate(s: dict[str, Any]) -> None:
        s["vnet"]["addressSpace"] = ["10.20.0.0/16", "10.21.0.0/24"]
        s["vnet"]["gatewaySubnet"] = "10.21.0.224/27"

    assert errors_with(mutate) == []


@pytest.mark.parametrize("prefix", ["10.20.255.240/28", "10.20.255.248/29"])
def test_gateway_subnet_too_small(prefix: str) -> None:
    errors = errors_with(lambda s: s["vnet"].update(gatewaySubnet=prefix))
    assert errors == [
        f"sites[0].vnet.gatewaySubnet: {prefix} is too small for ExpressRoute/VPN coexistence "
        "(use a /27 or larger, e.g. 10.20.255.224/27)"
    ]


def test_gateway_subnet_outside_vnet() -> None:
    errors = errors_with(lambda s: s["vnet"].update(gatewaySubnet="10.30.255.224/27"))
    assert errors == [
        "sites[0].vnet.gatewaySubnet: 10.30.255.224/27 is not inside the VNet address space (10.20.0.0/16); "
        "use 10.20.255.224/27"
    ]


def test_subnet_named_gateway_subnet_is_rejected() -> None:
    def mutate(s: dict[str, Any]) -> None:
        s["vnet"]["subnets"].append({"name": "gatewaysubnet", "prefix": "10.20.255.224/27"})

    assert errors_with(mutate) == [
        "sites[0].vnet.subnets[1].name: do not list GatewaySubnet under subnets (set its prefix in "
        "vnet.gatewaySubnet instead)"
    ]


def test_subnet_overlapping_gateway_subnet() -> None:
    def mutate(s: dict[str, Any]) -> None:
        s["vnet"]["subnets"].append({"name": "tail", "prefix": "10.20.255.0/24"})

    assert errors_with(mutate) == [
        "sites[0].vnet.subnets[1].prefix: 10.20.255.0/24 overlaps the gateway subnet 10.20.255.224/27 "
        "(sites[0].vnet.gatewaySubnet); move this subnet out of the GatewaySubnet range"
    ]


def test_last_block() -> None:
    import ipaddress

    assert str(last_block(ipaddress.ip_network("10.20.0.0/16"), 27)) == "10.20.255.224/27"
    assert str(last_block(ipaddress.ip_network("fd00::/48"), 64)) == "fd00:0:0:ffff::/64"


# ----------------------------------------------------------------------------------- subnets


def test_subnet_outside_vnet() -> None:
    def mutate(s: dict[str, Any]) -> None:
        s["vnet"]["subnets"].append({"name": "app", "prefix": "10.21.2.0/24"})

    assert errors_with(mutate) == [
        "sites[0].vnet.subnets[1].prefix: 10.21.2.0/24 is not inside the VNet address space (10.20.0.0/16); "
        "pick a range inside it"
    ]


def test_subnets_overlapping() -> None:
    def mutate(s: dict[str, Any]) -> None:
        s["vnet"]["subnets"].append({"name": "app", "prefix": "10.20.1.128/25"})

    assert errors_with(mutate) == [
        "sites[0].vnet.subnets[1].prefix: 10.20.1.128/25 overlaps subnet 'web-tier' 10.20.1.0/24 "
        "(sites[0].vnet.subnets[0].prefix); subnets must not overlap"
    ]


def test_adjacent_subnets_pass() -> None:
    def mutate(s: dict[str, Any]) -> None:
        s["vnet"]["subnets"].append({"name": "app", "prefix": "10.20.2.0/24"})

    assert errors_with(mutate) == []


def test_duplicate_subnet_names() -> None:
    def mutate(s: dict[str, Any]) -> None:
        s["vnet"]["subnets"].append({"name": "Web-Tier", "prefix": "10.20.2.0/24"})

    assert errors_with(mutate) == [
        "sites[0].vnet.subnets[1].name: duplicate subnet name 'Web-Tier' (also sites[0].vnet.subnets[0].name); "
        "subnet names must be unique"
    ]


def test_subnet_smaller_than_slash_29() -> None:
    def mutate(s: dict[str, Any]) -> None:
        s["vnet"]["subnets"].append({"name": "tiny", "prefix": "10.20.2.0/30"})

    assert errors_with(mutate) == [
        "sites[0].vnet.subnets[1].prefix: 10.20.2.0/30 is too small; the smallest subnet Azure allows is /29"
    ]
    assert (
        errors_with(lambda s: s["vnet"]["subnets"].append({"name": "tiny", "prefix": "10.20.2.0/29"})) == []
    )


# ------------------------------------------------------------------------------ load balancer


def test_load_balancer_unknown_subnet_with_suggestion() -> None:
    assert errors_with(lambda s: s["loadBalancer"].update(subnet="web-teir")) == [
        "sites[0].loadBalancer.subnet: 'web-teir' is not one of the VNet's subnets (did you mean 'web-tier'?) "
        "(known subnets: 'web-tier')"
    ]


def test_load_balancer_ip_outside_subnet() -> None:
    assert errors_with(lambda s: s["loadBalancer"].update(privateIp="10.20.2.10")) == [
        "sites[0].loadBalancer.privateIp: 10.20.2.10 is not inside subnet 'web-tier' (10.20.1.0/24); "
        "use an address from 10.20.1.4 to 10.20.1.254"
    ]


def test_load_balancer_ip_invalid() -> None:
    assert errors_with(lambda s: s["loadBalancer"].update(privateIp="10.20.1.300")) == [
        "sites[0].loadBalancer.privateIp: '10.20.1.300' is not a valid IP address (e.g. 10.20.1.4)"
    ]


@pytest.mark.parametrize(
    ("ip", "reason"),
    [
        ("10.20.1.0", "the network address"),
        ("10.20.1.1", "the default gateway"),
        ("10.20.1.2", "used by Azure DNS"),
        ("10.20.1.3", "used by Azure DNS"),
        ("10.20.1.255", "the broadcast address"),
    ],
)
def test_load_balancer_ip_reserved(ip: str, reason: str) -> None:
    assert errors_with(lambda s: s["loadBalancer"].update(privateIp=ip)) == [
        f"sites[0].loadBalancer.privateIp: {ip} is reserved by Azure in subnet 'web-tier' (10.20.1.0/24; "
        f"{reason}); use an address from 10.20.1.4 to 10.20.1.254"
    ]


@pytest.mark.parametrize("ip", ["10.20.1.4", "10.20.1.254"])
def test_load_balancer_ip_first_and_last_usable_pass(ip: str) -> None:
    assert errors_with(lambda s: s["loadBalancer"].update(privateIp=ip)) == []


# ----------------------------------------------------------------------------------- gateways

ER_SKUS = "Standard, HighPerformance, UltraPerformance, ErGw1AZ, ErGw2AZ, ErGw3AZ, ErGwScale"


@pytest.mark.parametrize(
    ("sku", "expected"),
    [
        ("Basic", f"Basic does not support ExpressRoute/VPN coexistence (use one of {ER_SKUS})"),
        ("VpnGw1", f"VpnGw1 is a VPN gateway SKU, not an ExpressRoute one (use one of {ER_SKUS})"),
        (
            "Standrd",
            f"'Standrd' is not an ExpressRoute gateway SKU (did you mean 'Standard'?) (use one of {ER_SKUS})",
        ),
    ],
)
def test_er_gateway_sku_rejected(sku: str, expected: str) -> None:
    assert errors_with(lambda s: s["expressRoute"]["gateway"].update(sku=sku)) == [
        f"sites[0].expressRoute.gateway.sku: {expected}"
    ]


@pytest.mark.parametrize("sku", ER_SKUS.split(", "))
def test_er_gateway_sku_supporting_coexistence_passes(sku: str) -> None:
    assert errors_with(lambda s: s["expressRoute"]["gateway"].update(sku=sku)) == []


VPN_SKUS = "VpnGw1..VpnGw5 or VpnGw1AZ..VpnGw5AZ"


@pytest.mark.parametrize(
    ("sku", "expected"),
    [
        ("Basic", f"Basic does not support ExpressRoute/VPN coexistence (use VpnGw1 or larger: {VPN_SKUS})"),
        ("Standard", f"Standard is a legacy VPN gateway SKU (use VpnGw1 or larger: {VPN_SKUS})"),
        (
            "HighPerformance",
            f"HighPerformance is a legacy VPN gateway SKU (use VpnGw1 or larger: {VPN_SKUS})",
        ),
        ("ErGw1AZ", f"ErGw1AZ is an ExpressRoute gateway SKU, not a VPN one (use {VPN_SKUS})"),
        ("VpnGw6", f"'VpnGw6' is not a VPN gateway SKU (did you mean 'VpnGw5'?) (use {VPN_SKUS})"),
    ],
)
def test_vpn_gateway_sku_rejected(sku: str, expected: str) -> None:
    assert errors_with(lambda s: s["vpn"]["gateway"].update(sku=sku)) == [
        f"sites[0].vpn.gateway.sku: {expected}"
    ]


def test_policy_based_vpn_rejected() -> None:
    assert errors_with(lambda s: s["vpn"]["gateway"].update(vpnType="PolicyBased")) == [
        "sites[0].vpn.gateway.vpnType: PolicyBased gateways cannot coexist with ExpressRoute (use RouteBased)"
    ]


def test_unknown_vpn_type() -> None:
    assert errors_with(lambda s: s["vpn"]["gateway"].update(vpnType="routebased")) == [
        "sites[0].vpn.gateway.vpnType: 'routebased' is not a VPN type (did you mean 'RouteBased'?) (use RouteBased)"
    ]


@pytest.mark.parametrize(
    ("sku", "generation", "expected"),
    [
        (
            "VpnGw1",
            "Generation2",
            "VpnGw1 is not available in Generation2 (set generation: Generation1, or pick one of VpnGw2, "
            "VpnGw2AZ, VpnGw3, VpnGw3AZ, VpnGw4, VpnGw4AZ, VpnGw5, VpnGw5AZ)",
        ),
        (
            "VpnGw1AZ",
            "Generation2",
            "VpnGw1AZ is not available in Generation2 (set generation: Generation1, or pick one of VpnGw2, "
            "VpnGw2AZ, VpnGw3, VpnGw3AZ, VpnGw4, VpnGw4AZ, VpnGw5, VpnGw5AZ)",
        ),
        (
            "VpnGw4",
            "Generation1",
            "VpnGw4 is not available in Generation1 (set generation: Generation2, or pick one of VpnGw1, "
            "VpnGw1AZ, VpnGw2, VpnGw2AZ, VpnGw3, VpnGw3AZ)",
        ),
        ("VpnGw2", "Gen2", "'Gen2' is not a VPN gateway generation (use Generation1 or Generation2)"),
    ],
)
def test_vpn_sku_generation_mismatch(sku: str, generation: str, expected: str) -> None:
    errors = errors_with(lambda s: s["vpn"]["gateway"].update(sku=sku, generation=generation))
    assert errors == [f"sites[0].vpn.gateway.generation: {expected}"]


@pytest.mark.parametrize(
    ("sku", "generation"),
    [
        ("VpnGw1", "Generation1"),
        ("VpnGw3AZ", "Generation1"),
        ("VpnGw2", "Generation2"),
        ("VpnGw5AZ", "Generation2"),
    ],
)
def test_vpn_sku_generation_valid(sku: str, generation: str) -> None:
    assert errors_with(lambda s: s["vpn"]["gateway"].update(sku=sku, generation=generation)) == []


def test_ike_version() -> None:
    assert errors_with(lambda s: s["vpn"]["connection"].update(ikeVersion="IKEv3")) == [
        "sites[0].vpn.connection.ikeVersion: 'IKEv3' is not an IKE version (did you mean 'IKEv2'?) "
        "(use IKEv2 or IKEv1)"
    ]
    assert errors_with(lambda s: s["vpn"]["connection"].update(ikeVersion="IKEv1")) == []


@pytest.mark.parametrize("weight", [-1, 32001])
def test_routing_weight_out_of_range(weight: int) -> None:
    assert errors_with(lambda s: s["vpn"]["connection"].update(routingWeight=weight)) == [
        f"sites[0].vpn.connection.routingWeight: {weight} is out of range (use 0..32000)"
    ]
    assert errors_with(lambda s: s["expressRoute"]["connection"].update(routingWeight=weight)) == [
        f"sites[0].expressRoute.connection.routingWeight: {weight} is out of range (use 0..32000)"
    ]


@pytest.mark.parametrize("weight", [0, 32000])
def test_routing_weight_bounds_pass(weight: int) -> None:
    assert errors_with(lambda s: s["vpn"]["connection"].update(routingWeight=weight)) == []


def test_connection_names_must_differ() -> None:
    assert errors_with(lambda s: s["vpn"]["connection"].update(name="Hybrid-ER-Connection")) == [
        "sites[0].vpn.connection.name: connection name 'Hybrid-ER-Connection' is already used by "
        "sites[0].expressRoute.connection.name in resource group 'hybrid-network-rg'; connection names must "
        "be distinct"
    ]


def test_gateway_names_must_differ() -> None:
    assert errors_with(lambda s: s["vpn"]["gateway"].update(name="hybrid-er-gw")) == [
        "sites[0].vpn.gateway.name: virtual network gateway name 'hybrid-er-gw' is already used by "
        "sites[0].expressRoute.gateway.name in resource group 'hybrid-network-rg'; virtual network gateway "
        "names must be distinct"
    ]


def test_resource_names_collide_across_sites_in_one_resource_group() -> None:
    errors = errors_for(site_with(), second_site(lambda s: s.update(resourceGroup="HYBRID-network-rg")))
    assert errors[0] == (
        "sites[1].vnet.name: virtual network name 'hybrid-vnet' is already used by sites[0].vnet.name in "
        "resource group 'HYBRID-network-rg'; virtual network names must be distinct"
    )
    assert len(errors) == 9


# ----------------------------------------------------------------------------------- appliance


@pytest.mark.parametrize(
    ("ip", "why"),
    [
        ("10.1.2.3", "a private (RFC 1918) address"),
        ("172.16.0.1", "a private (RFC 1918) address"),
        ("192.168.1.1", "a private (RFC 1918) address"),
        ("127.0.0.1", "a loopback address"),
        ("169.254.10.1", "a link-local address"),
        ("224.0.0.5", "a multicast address"),
        ("100.64.1.1", "in the shared (carrier-grade NAT) range 100.64.0.0/10"),
        ("0.0.0.0", "the unspecified address"),
        ("240.0.0.1", "a reserved address"),
        ("192.0.2.10", "a special-purpose address that is not globally routable"),
        ("fd00::1", "a private (unique local) address"),
    ],
)
def test_appliance_ip_must_be_public(ip: str, why: str) -> None:
    assert errors_with(lambda s: s["onPremises"].update(applianceIp=ip)) == [
        f"sites[0].onPremises.applianceIp: {ip} is {why}; the VPN appliance needs a public (internet-routable) "
        "IP address"
    ]


def test_appliance_ip_invalid() -> None:
    assert errors_with(lambda s: s["onPremises"].update(applianceIp="40.50.60")) == [
        "sites[0].onPremises.applianceIp: '40.50.60' is not a valid IP address (e.g. 10.20.1.4)"
    ]


def test_public_addresses_pass() -> None:
    import ipaddress

    assert non_public_reason(ipaddress.ip_address("40.50.60.70")) is None
    assert non_public_reason(ipaddress.ip_address("100.128.0.1")) is None
    assert non_public_reason(ipaddress.ip_address("2001:4860::8888")) is None


# -------------------------------------------------------------------- local network gateway


def test_lng_prefix_outside_on_premises() -> None:
    def mutate(s: dict[str, Any]) -> None:
        s["vpn"]["localNetworkGateway"]["addressPrefixes"] = ["10.10.0.0/16", "10.99.0.0/16"]

    assert errors_with(mutate) == [
        "sites[0].vpn.localNetworkGateway.addressPrefixes[1]: 10.99.0.0/16 is not inside the on-premises "
        "address space (10.10.0.0/16); the local network gateway may only list on-premises prefixes"
    ]


def test_lng_prefix_more_specific_than_expressroute() -> None:
    def mutate(s: dict[str, Any]) -> None:
        s["vpn"]["localNetworkGateway"]["addressPrefixes"] = ["10.10.1.0/24"]

    assert errors_with(mutate) == [
        "sites[0].vpn.localNetworkGateway.addressPrefixes[0]: 10.10.1.0/24 is more specific than the "
        "ExpressRoute prefix 10.10.0.0/16; longest-prefix match would send that traffic over the VPN even "
        "while ExpressRoute is up (use 10.10.0.0/16)"
    ]


def test_default_lng_more_specific_than_advertised_expressroute() -> None:
    def mutate(s: dict[str, Any]) -> None:
        s["expressRoute"]["advertisedPrefixes"] = ["10.0.0.0/8"]

    assert errors_with(mutate) == [
        "sites[0].vpn.localNetworkGateway.addressPrefixes: 10.10.0.0/16 (the default, taken from "
        "onPremises.addressSpace) is more specific than the ExpressRoute prefix 10.0.0.0/8; longest-prefix "
        "match would send that traffic over the VPN even while ExpressRoute is up (use 10.0.0.0/8)"
    ]


def test_lng_equal_or_less_specific_than_expressroute_passes() -> None:
    def mutate(s: dict[str, Any]) -> None:
        s["expressRoute"]["advertisedPrefixes"] = ["10.10.0.0/17", "10.10.128.0/17"]
        s["vpn"]["localNetworkGateway"]["addressPrefixes"] = ["10.10.0.0/16"]

    assert errors_with(mutate) == []
    assert (
        errors_with(lambda s: s["vpn"]["localNetworkGateway"].update(addressPrefixes=["10.10.0.0/16"])) == []
    )


def test_advertised_prefix_invalid() -> None:
    assert errors_with(lambda s: s["expressRoute"].update(advertisedPrefixes=["10.10.0.1/16"])) == [
        "sites[0].expressRoute.advertisedPrefixes[0]: 10.10.0.1/16 has host bits set (use 10.10.0.0/16)"
    ]


# ------------------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["my site", "a" * 64, "", "site/1"])
def test_invalid_site_name(name: str) -> None:
    assert errors_with(lambda s: s.update(name=name)) == [
        f"sites[0].name: {name!r} is not a valid site name (use 1-63 letters, digits, '-' or '_'; it is used "
        "as a Table Storage partition key and in URLs)"
    ]


@pytest.mark.parametrize("name", ["a" * 63, "east_2", "E-1"])
def test_valid_site_name(name: str) -> None:
    assert errors_with(lambda s: s.update(name=name)) == []


def test_duplicate_site_names() -> None:
    errors = errors_for(site_with(), second_site(lambda s: s.update(name="Seed")))
    assert errors == [
        "sites[1].name: duplicate site name 'Seed' (also sites[0].name); site names must be unique"
    ]


@pytest.mark.parametrize(
    ("group", "reason"),
    [
        ("rg.", "ends with '.'"),
        ("rg/x", "contains '/'"),
        ("", "is empty"),
        ("r" * 91, "is too long (91 characters)"),
    ],
)
def test_invalid_resource_group(group: str, reason: str) -> None:
    assert errors_with(lambda s: s.update(resourceGroup=group)) == [
        f"sites[0].resourceGroup: resource group name {group!r} {reason} (use 1-90 letters, digits, '_', '-', "
        "'.', '(' or ')', not ending with '.')"
    ]


@pytest.mark.parametrize("group", ["rg(1).prod_x", "r" * 90])
def test_valid_resource_group(group: str) -> None:
    assert errors_with(lambda s: s.update(resourceGroup=group)) == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("gw-", "must not end with '-'"),
        ("gw.", "must not end with '.'"),
        ("-gw", "must start with a letter or digit"),
        ("my gw", "contains ' '"),
        ("g" * 81, "is too long (81 characters)"),
    ],
)
def test_invalid_resource_name(name: str, reason: str) -> None:
    assert errors_with(lambda s: s["vpn"]["gateway"].update(name=name)) == [
        f"sites[0].vpn.gateway.name: name {name!r} {reason} (use 1-80 letters, digits, '_', '.' or '-', "
        "starting with a letter or digit and not ending with '.' or '-')"
    ]


@pytest.mark.parametrize("name", ["g" * 80, "gw_1.a-b", "9gw_"])
def test_valid_resource_name(name: str) -> None:
    assert errors_with(lambda s: s["vpn"]["gateway"].update(name=name)) == []


FORM = (
    "/subscriptions/<subscription-id>/resourceGroups/<group>/providers/Microsoft.Network/"
    "expressRouteCircuits/<circuit>"
)


@pytest.mark.parametrize(
    ("circuit_id", "expected"),
    [
        ("hybrid-er-circuit", f"'hybrid-er-circuit' is not a well-formed resource ID (expected {FORM})"),
        (
            CIRCUIT_ID.replace("00000000-0000", "not-a-guid"),
            f"{CIRCUIT_ID.replace('00000000-0000', 'not-a-guid')!r} is not a well-formed resource ID "
            f"(expected {FORM})",
        ),
        (
            CIRCUIT_ID.replace("expressRouteCircuits", "virtualNetworks"),
            f"resource ID points to a Microsoft.Network/virtualNetworks resource, not an ExpressRoute circuit "
            f"(expected {FORM})",
        ),
    ],
)
def test_invalid_circuit_id(circuit_id: str, expected: str) -> None:
    assert errors_with(lambda s: s["expressRoute"]["connection"].update(circuitId=circuit_id)) == [
        f"sites[0].expressRoute.connection.circuitId: {expected}"
    ]


def test_circuit_id_segment_case_is_ignored() -> None:
    lower = CIRCUIT_ID.replace("resourceGroups", "resourcegroups").replace(
        "Microsoft.Network", "microsoft.network"
    )
    assert errors_with(lambda s: s["expressRoute"]["connection"].update(circuitId=lower)) == []


@pytest.mark.parametrize("location", ["", "east us"])
def test_invalid_location(location: str) -> None:
    assert errors_with(lambda s: s.update(location=location)) == [
        f"sites[0].location: {location!r} is not a region name (use the programmatic name without spaces, "
        "e.g. 'eastus')"
    ]


@pytest.mark.parametrize("days", [0, 3651])
def test_max_key_age_out_of_range(days: int) -> None:
    assert errors_with(lambda s: s.update(maxKeyAgeDays=days)) == [
        f"sites[0].maxKeyAgeDays: {days} is out of range (use 1..3650 days)"
    ]


@pytest.mark.parametrize("days", [1, 3650])
def test_max_key_age_bounds_pass(days: int) -> None:
    assert errors_with(lambda s: s.update(maxKeyAgeDays=days)) == []


# ------------------------------------------------------------------------------ many at once


def test_every_error_across_sites_is_reported() -> None:
    def first(s: dict[str, Any]) -> None:
        s["vnet"]["gatewaySubnet"] = "10.20.0.0/27"
        s["expressRoute"]["gateway"]["sku"] = "Basic"
        s["maxKeyAgeDays"] = 0

    def second(s: dict[str, Any]) -> None:
        s["vpn"]["gateway"]["vpnType"] = "PolicyBased"
        s["onPremises"]["applianceIp"] = "10.0.0.1"

    errors = errors_for(site_with(first), second_site(second))
    paths = [e.split(":", 1)[0] for e in errors]
    assert paths == [
        "sites[0].maxKeyAgeDays",
        "sites[0].vnet.gatewaySubnet",
        "sites[0].expressRoute.gateway.sku",
        "sites[1].vpn.gateway.vpnType",
        "sites[1].onPremises.applianceIp",
    ]
