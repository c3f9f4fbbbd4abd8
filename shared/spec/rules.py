"""Semantic rules for the desired-state spec: pure functions over already-parsed models.

Every rule returns complete one-line messages of the form ``<field path>: <what is wrong> (<how to fix>)``,
with field paths in the YAML's own camelCase form (``sites[0].vnet.gatewaySubnet``). Nothing here raises
for bad input and nothing here does I/O; :mod:`shared.spec.load` decides what to do with the messages.

Sources: the seed architecture (GatewaySubnet /27 at the upper end of the VNet, VNet and on-premises must
not overlap, route-based VPN gateway) and the Azure documentation:

* ExpressRoute/VPN coexistence needs a non-Basic gateway on both sides and a route-based VPN gateway; the
  GatewaySubnet must be /27 or larger.
* ExpressRoute gateway SKUs that support coexistence: Standard, HighPerformance, UltraPerformance,
  ErGw1AZ, ErGw2AZ, ErGw3AZ and ErGwScale. ErGwScale is accepted because the "About ExpressRoute virtual
  network gateways" SKU table lists "VPN gateway and ExpressRoute coexistence: Yes" for it (it was
  published as a preview SKU).
* VPN gateway SKUs by generation (VPN Gateway "About gateway SKUs" table): Generation1 offers VpnGw1-3 and
  VpnGw1AZ-3AZ; Generation2 offers VpnGw2-5 and VpnGw2AZ-5AZ. So VpnGw1/VpnGw1AZ are Generation1 only and
  VpnGw4/5 (and their AZ forms) are Generation2 only. Basic and the legacy Standard/HighPerformance VPN
  SKUs are rejected.
* Azure reserves five addresses in every IPv4 subnet: the network address, .1 (default gateway), .2 and
  .3 (Azure DNS) and the broadcast address. The smallest IPv4 subnet is /29.
* Connection ``routingWeight`` is 0..32000.

Overlap policy: VNet address spaces must not overlap on-premises address spaces (their own site's or any
other site's) nor other sites' VNets. Several sites MAY share the same on-premises network (one datacentre
reaching several VNets): on-premises ranges are never compared with each other across sites.

Azure resource names must be unique per type within a resource group; the spec has no subscription field,
so two sites naming the same resource group are taken to mean the same group.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from shared.spec.model import Site
from shared.spec.names import CASE_INSENSITIVE, DERIVED_NAMES

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

GATEWAY_SUBNET_NAME = "GatewaySubnet"
GATEWAY_SUBNET_MAX_PREFIXLEN = 27
SMALLEST_SUBNET_PREFIXLEN = 29

ER_GATEWAY_SKUS: tuple[str, ...] = (
    "Standard",
    "HighPerformance",
    "UltraPerformance",
    "ErGw1AZ",
    "ErGw2AZ",
    "ErGw3AZ",
    "ErGwScale",
)
VPN_GATEWAY_SKUS: tuple[str, ...] = tuple(f"VpnGw{n}" for n in range(1, 6)) + tuple(
    f"VpnGw{n}AZ" for n in range(1, 6)
)
LEGACY_VPN_SKUS: tuple[str, ...] = ("Standard", "HighPerformance")
VPN_GENERATIONS: tuple[str, ...] = ("Generation1", "Generation2")
SKUS_BY_GENERATION: dict[str, frozenset[str]] = {
    "Generation1": frozenset({"VpnGw1", "VpnGw2", "VpnGw3", "VpnGw1AZ", "VpnGw2AZ", "VpnGw3AZ"}),
    "Generation2": frozenset(
        {"VpnGw2", "VpnGw3", "VpnGw4", "VpnGw5", "VpnGw2AZ", "VpnGw3AZ", "VpnGw4AZ", "VpnGw5AZ"}
    ),
}
VPN_TYPES: tuple[str, ...] = ("RouteBased", "PolicyBased")
IKE_VERSIONS: tuple[str, ...] = ("IKEv1", "IKEv2")
ROUTING_WEIGHT_RANGE = (0, 32000)
MAX_KEY_AGE_DAYS_RANGE = (1, 3650)

_ER_SKU_TEXT = ", ".join(ER_GATEWAY_SKUS)
_VPN_SKU_TEXT = "VpnGw1..VpnGw5 or VpnGw1AZ..VpnGw5AZ"

SITE_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,63}")
RESOURCE_GROUP_RE = re.compile(r"[-\w.()]{1,90}")
RESOURCE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
ARM_ID_RE = re.compile(
    rf"/subscriptions/(?P<subscription>{_GUID})/resourceGroups/(?P<group>[-\w.()]{{1,90}})"
    r"/providers/(?P<namespace>[A-Za-z0-9.]+)/(?P<type>[A-Za-z0-9]+)/(?P<name>[^/\s]+)",
    re.IGNORECASE,
)
CIRCUIT_ID_FORM = (
    "/subscriptions/<subscription-id>/resourceGroups/<group>/providers/"
    "Microsoft.Network/expressRouteCircuits/<circuit>"
)

SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")
RFC1918 = (
    ipaddress.IPv4Network("10.0.0.0/8"),
    ipaddress.IPv4Network("172.16.0.0/12"),
    ipaddress.IPv4Network("192.168.0.0/16"),
)
UNIQUE_LOCAL_V6 = ipaddress.IPv6Network("fc00::/7")


# --------------------------------------------------------------------------------------------------
# Small helpers (public: other components may reuse them)
# --------------------------------------------------------------------------------------------------


def parse_prefix(value: str, path: str, errors: list[str]) -> IPNetwork | None:
    """Parse a CIDR prefix; on failure append a message to ``errors`` and return None."""
    text = value.strip()
    if "/" not in text:
        try:
            ipaddress.ip_address(text)
        except ValueError:
            errors.append(
                f"{path}: {value!r} is not a valid IP prefix (write it in CIDR form, e.g. 10.20.0.0/16)"
            )
        else:
            errors.append(f"{path}: {value} has no prefix length (write it in CIDR form, e.g. {text}/24)")
        return None
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        pass
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        errors.append(
            f"{path}: {value!r} is not a valid IP prefix (write it in CIDR form, e.g. 10.20.0.0/16)"
        )
        return None
    errors.append(f"{path}: {value} has host bits set (use {network})")
    return None


def parse_address(value: str, path: str, errors: list[str]) -> IPAddress | None:
    """Parse a single IP address; on failure append a message to ``errors`` and return None."""
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        errors.append(f"{path}: {value!r} is not a valid IP address (e.g. 10.20.1.4)")
        return None


def last_block(space: IPNetwork, prefixlen: int) -> IPNetwork:
    """The last block of size /``prefixlen`` inside ``space`` (the "upper end" of the space)."""
    size = 1 << (space.max_prefixlen - prefixlen)
    start = int(space.broadcast_address) - size + 1
    return type(space)((start, prefixlen))


def same_version_overlap(a: IPNetwork, b: IPNetwork) -> bool:
    return a.version == b.version and a.overlaps(b)


def is_strict_subnet(inner: IPNetwork, outer: IPNetwork) -> bool:
    """True when ``inner`` lies inside ``outer`` and is more specific (longer prefix)."""
    return inner.version == outer.version and inner != outer and inner.subnet_of(outer)  # type: ignore[arg-type]


def contained_in(inner: IPNetwork, outer: IPNetwork) -> bool:
    return inner.version == outer.version and inner.subnet_of(outer)  # type: ignore[arg-type]


def suggest(value: str, choices: Iterable[str]) -> str | None:
    """Closest match of ``value`` among ``choices`` (case-insensitive), or None."""
    by_lower = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(value.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def _did_you_mean(value: str, choices: Iterable[str]) -> str:
    guess = suggest(value, choices)
    return f" (did you mean {guess!r}?)" if guess else ""


def _join(nets: Sequence[IPNetwork]) -> str:
    return ", ".join(str(n) for n in nets)


@dataclass(frozen=True)
class _Prefix:
    network: IPNetwork
    path: str


def _parse_list(values: Sequence[str], path: str, errors: list[str]) -> list[_Prefix]:
    parsed: list[_Prefix] = []
    for i, value in enumerate(values):
        item_path = f"{path}[{i}]"
        network = parse_prefix(value, item_path, errors)
        if network is not None:
            parsed.append(_Prefix(network, item_path))
    return parsed


def _check_no_self_overlap(prefixes: Sequence[_Prefix], what: str, errors: list[str]) -> None:
    for j, later in enumerate(prefixes):
        for earlier in prefixes[:j]:
            if same_version_overlap(later.network, earlier.network):
                errors.append(
                    f"{later.path}: {later.network} overlaps {earlier.network} ({earlier.path}); "
                    f"the ranges of one {what} must not overlap (remove or merge one of them)"
                )
                break


# --------------------------------------------------------------------------------------------------
# Name rules
# --------------------------------------------------------------------------------------------------


def check_site_name(name: str, path: str) -> list[str]:
    if SITE_NAME_RE.fullmatch(name):
        return []
    return [
        f"{path}: {name!r} is not a valid site name (use 1-63 letters, digits, '-' or '_'; it is used as "
        "a Table Storage partition key and in URLs)"
    ]


def check_resource_group_name(name: str, path: str) -> list[str]:
    if RESOURCE_GROUP_RE.fullmatch(name) and not name.endswith("."):
        return []
    if not name:
        reason = "is empty"
    elif len(name) > 90:
        reason = f"is too long ({len(name)} characters)"
    elif name.endswith("."):
        reason = "ends with '.'"
    else:
        bad = next(ch for ch in name if not RESOURCE_GROUP_RE.fullmatch(ch))
        reason = f"contains {bad!r}"
    return [
        f"{path}: resource group name {name!r} {reason} (use 1-90 letters, digits, '_', '-', '.', '(' "
        "or ')', not ending with '.')"
    ]


def check_resource_name(name: str, path: str) -> list[str]:
    """Azure network resource names: 1-80 chars of letters/digits/_/./-, start alnum, no trailing . or -."""
    if RESOURCE_NAME_RE.fullmatch(name) and not name.endswith((".", "-")):
        return []
    if not name:
        reason = "is empty"
    elif len(name) > 80:
        reason = f"is too long ({len(name)} characters)"
    elif not name[0].isascii() or not name[0].isalnum():
        reason = "must start with a letter or digit"
    elif name.endswith((".", "-")):
        reason = f"must not end with {name[-1]!r}"
    else:
        bad = next(ch for ch in name if not re.fullmatch(r"[A-Za-z0-9_.-]", ch))
        reason = f"contains {bad!r}"
    return [
        f"{path}: name {name!r} {reason} (use 1-80 letters, digits, '_', '.' or '-', starting with a "
        "letter or digit and not ending with '.' or '-')"
    ]


def check_circuit_id(circuit_id: str, path: str) -> list[str]:
    match = ARM_ID_RE.fullmatch(circuit_id.strip())
    if match is None:
        return [f"{path}: {circuit_id!r} is not a well-formed resource ID (expected {CIRCUIT_ID_FORM})"]
    resource_type = f"{match['namespace']}/{match['type']}"
    if resource_type.lower() != "microsoft.network/expressroutecircuits":
        return [
            f"{path}: resource ID points to a {resource_type} resource, not an ExpressRoute circuit "
            f"(expected {CIRCUIT_ID_FORM})"
        ]
    return []


# --------------------------------------------------------------------------------------------------
# Per-site rules
# --------------------------------------------------------------------------------------------------


def _check_range(value: int, low: int, high: int, path: str, unit: str = "") -> list[str]:
    if low <= value <= high:
        return []
    return [f"{path}: {value} is out of range (use {low}..{high}{unit})"]


def _check_addresses(site: Site, path: str, errors: list[str]) -> tuple[list[_Prefix], list[_Prefix]]:
    vnet_spaces = _parse_list(site.vnet.address_space, f"{path}.vnet.addressSpace", errors)
    onprem_spaces = _parse_list(site.on_premises.address_space, f"{path}.onPremises.addressSpace", errors)
    _check_no_self_overlap(vnet_spaces, "VNet address space", errors)
    _check_no_self_overlap(onprem_spaces, "on-premises address space", errors)
    for space in vnet_spaces:
        for onprem in onprem_spaces:
            if same_version_overlap(space.network, onprem.network):
                errors.append(
                    f"{space.path}: {space.network} overlaps the on-premises address space "
                    f"{onprem.network} ({onprem.path}); choose a VNet range that does not overlap "
                    "on-premises"
                )
    return vnet_spaces, onprem_spaces


def _check_gateway_subnet(
    site: Site, path: str, spaces: list[_Prefix], errors: list[str], *, complete: bool = True
) -> IPNetwork | None:
    gw_path = f"{path}.vnet.gatewaySubnet"
    gateway = parse_prefix(site.vnet.gateway_subnet, gw_path, errors)
    if gateway is None:
        return None
    container = next((s.network for s in spaces if contained_in(gateway, s.network)), None)
    if gateway.version == 4 and gateway.prefixlen > GATEWAY_SUBNET_MAX_PREFIXLEN:
        hint = ""
        host = container or next((s.network for s in spaces if s.network.version == 4), None)
        if host is not None and host.prefixlen <= GATEWAY_SUBNET_MAX_PREFIXLEN:
            hint = f", e.g. {last_block(host, GATEWAY_SUBNET_MAX_PREFIXLEN)}"
        errors.append(
            f"{gw_path}: {gateway} is too small for ExpressRoute/VPN coexistence "
            f"(use a /{GATEWAY_SUBNET_MAX_PREFIXLEN} or larger{hint})"
        )
        return gateway
    if container is None and not complete:
        return gateway  # some address space did not parse: containment cannot be judged
    if container is None:
        candidates = [s.network for s in spaces if s.network.version == gateway.version]
        fits = [c for c in candidates if c.prefixlen <= gateway.prefixlen]
        hint = f"; use {last_block(fits[0], gateway.prefixlen)}" if fits else ""
        errors.append(
            f"{gw_path}: {gateway} is not inside the VNet address space ({_join(candidates) or 'none'}){hint}"
        )
        return gateway
    expected = last_block(container, gateway.prefixlen)
    if gateway != expected:
        errors.append(f"{gw_path}: {gateway} is not at the upper end of {container} (use {expected})")
    return gateway


def _reserved_reason(ip: ipaddress.IPv4Address, subnet: ipaddress.IPv4Network) -> str | None:
    offset = int(ip) - int(subnet.network_address)
    if offset == 0:
        return "the network address"
    if offset == 1:
        return "the default gateway"
    if offset in (2, 3):
        return "used by Azure DNS"
    if ip == subnet.broadcast_address:
        return "the broadcast address"
    return None


def _usable_range(subnet: IPNetwork) -> str:
    first = subnet.network_address + 4
    last = subnet.broadcast_address - (1 if subnet.version == 4 else 0)
    return f"{first} to {last}"


def _check_subnets(
    site: Site,
    path: str,
    spaces: list[_Prefix],
    gateway: IPNetwork | None,
    errors: list[str],
    *,
    complete: bool = True,
) -> dict[str, IPNetwork]:
    parsed: dict[str, IPNetwork] = {}
    seen_names: dict[str, str] = {}
    seen_prefixes: list[tuple[str, IPNetwork, str]] = []
    for i, subnet in enumerate(site.vnet.subnets):
        sub_path = f"{path}.vnet.subnets[{i}]"
        if subnet.name.lower() == GATEWAY_SUBNET_NAME.lower():
            errors.append(
                f"{sub_path}.name: do not list {GATEWAY_SUBNET_NAME} under subnets "
                "(set its prefix in vnet.gatewaySubnet instead)"
            )
            continue
        errors.extend(check_resource_name(subnet.name, f"{sub_path}.name"))
        key = subnet.name.casefold()
        if key in seen_names:
            errors.append(
                f"{sub_path}.name: duplicate subnet name {subnet.name!r} (also {seen_names[key]}); "
                "subnet names must be unique"
            )
        else:
            seen_names[key] = f"{sub_path}.name"
        prefix_path = f"{sub_path}.prefix"
        network = parse_prefix(subnet.prefix, prefix_path, errors)
        if network is None:
            continue
        parsed.setdefault(subnet.name, network)
        if network.version == 4 and network.prefixlen > SMALLEST_SUBNET_PREFIXLEN:
            errors.append(
                f"{prefix_path}: {network} is too small; the smallest subnet Azure allows is "
                f"/{SMALLEST_SUBNET_PREFIXLEN}"
            )
        if complete and not any(contained_in(network, s.network) for s in spaces):
            errors.append(
                f"{prefix_path}: {network} is not inside the VNet address space "
                f"({_join([s.network for s in spaces])}); pick a range inside it"
            )
        if gateway is not None and same_version_overlap(network, gateway):
            errors.append(
                f"{prefix_path}: {network} overlaps the gateway subnet {gateway} ({path}.vnet.gatewaySubnet);"
                " move this subnet out of the GatewaySubnet range"
            )
        for other_name, other, other_path in seen_prefixes:
            if same_version_overlap(network, other):
                errors.append(
                    f"{prefix_path}: {network} overlaps subnet {other_name!r} {other} ({other_path}); "
                    "subnets must not overlap"
                )
                break
        seen_prefixes.append((subnet.name, network, prefix_path))
    return parsed


def _check_load_balancer(site: Site, path: str, subnets: dict[str, IPNetwork], errors: list[str]) -> None:
    lb = site.load_balancer
    lb_path = f"{path}.loadBalancer"
    errors.extend(check_resource_name(lb.name, f"{lb_path}.name"))
    declared = [s.name for s in site.vnet.subnets]
    ip = parse_address(lb.private_ip, f"{lb_path}.privateIp", errors)
    if lb.subnet not in declared:
        known = ", ".join(repr(n) for n in declared) or "none"
        errors.append(
            f"{lb_path}.subnet: {lb.subnet!r} is not one of the VNet's subnets"
            f"{_did_you_mean(lb.subnet, declared)} (known subnets: {known})"
        )
        return
    subnet = subnets.get(lb.subnet)
    if ip is None or subnet is None:
        return
    if ip.version != subnet.version or ip not in subnet:
        errors.append(
            f"{lb_path}.privateIp: {ip} is not inside subnet {lb.subnet!r} ({subnet}); "
            f"use an address from {_usable_range(subnet)}"
        )
        return
    if isinstance(ip, ipaddress.IPv4Address) and isinstance(subnet, ipaddress.IPv4Network):
        reason = _reserved_reason(ip, subnet)
        if reason is not None:
            errors.append(
                f"{lb_path}.privateIp: {ip} is reserved by Azure in subnet {lb.subnet!r} "
                f"({subnet}; {reason}); use an address from {_usable_range(subnet)}"
            )


def _check_gateways(site: Site, path: str, errors: list[str]) -> None:
    er = site.express_route
    er_path = f"{path}.expressRoute"
    errors.extend(check_resource_name(er.gateway.name, f"{er_path}.gateway.name"))
    errors.extend(check_resource_name(er.gateway.public_ip_name, f"{er_path}.gateway.publicIpName"))
    errors.extend(check_resource_name(er.connection.name, f"{er_path}.connection.name"))
    errors.extend(check_circuit_id(er.connection.circuit_id, f"{er_path}.connection.circuitId"))
    errors.extend(
        _check_range(
            er.connection.routing_weight, *ROUTING_WEIGHT_RANGE, f"{er_path}.connection.routingWeight"
        )
    )
    sku = er.gateway.sku
    sku_path = f"{er_path}.gateway.sku"
    if sku == "Basic":
        errors.append(
            f"{sku_path}: Basic does not support ExpressRoute/VPN coexistence (use one of {_ER_SKU_TEXT})"
        )
    elif sku in VPN_GATEWAY_SKUS:
        errors.append(
            f"{sku_path}: {sku} is a VPN gateway SKU, not an ExpressRoute one (use one of {_ER_SKU_TEXT})"
        )
    elif sku not in ER_GATEWAY_SKUS:
        errors.append(
            f"{sku_path}: {sku!r} is not an ExpressRoute gateway SKU{_did_you_mean(sku, ER_GATEWAY_SKUS)} "
            f"(use one of {_ER_SKU_TEXT})"
        )

    vpn = site.vpn
    vpn_path = f"{path}.vpn"
    gw = vpn.gateway
    errors.extend(check_resource_name(gw.name, f"{vpn_path}.gateway.name"))
    errors.extend(check_resource_name(gw.public_ip_name, f"{vpn_path}.gateway.publicIpName"))
    errors.extend(check_resource_name(vpn.local_network_gateway.name, f"{vpn_path}.localNetworkGateway.name"))
    errors.extend(check_resource_name(vpn.connection.name, f"{vpn_path}.connection.name"))
    errors.extend(
        _check_range(
            vpn.connection.routing_weight, *ROUTING_WEIGHT_RANGE, f"{vpn_path}.connection.routingWeight"
        )
    )
    if gw.vpn_type == "PolicyBased":
        errors.append(
            f"{vpn_path}.gateway.vpnType: PolicyBased gateways cannot coexist with ExpressRoute "
            "(use RouteBased)"
        )
    elif gw.vpn_type not in VPN_TYPES:
        errors.append(
            f"{vpn_path}.gateway.vpnType: {gw.vpn_type!r} is not a VPN type"
            f"{_did_you_mean(gw.vpn_type, VPN_TYPES)} (use RouteBased)"
        )
    vpn_sku_path = f"{vpn_path}.gateway.sku"
    sku_ok = False
    if gw.sku == "Basic":
        errors.append(
            f"{vpn_sku_path}: Basic does not support ExpressRoute/VPN coexistence (use VpnGw1 or larger: "
            f"{_VPN_SKU_TEXT})"
        )
    elif gw.sku in LEGACY_VPN_SKUS:
        errors.append(
            f"{vpn_sku_path}: {gw.sku} is a legacy VPN gateway SKU (use VpnGw1 or larger: {_VPN_SKU_TEXT})"
        )
    elif gw.sku in ER_GATEWAY_SKUS:
        errors.append(
            f"{vpn_sku_path}: {gw.sku} is an ExpressRoute gateway SKU, not a VPN one (use {_VPN_SKU_TEXT})"
        )
    elif gw.sku not in VPN_GATEWAY_SKUS:
        errors.append(
            f"{vpn_sku_path}: {gw.sku!r} is not a VPN gateway SKU{_did_you_mean(gw.sku, VPN_GATEWAY_SKUS)} "
            f"(use {_VPN_SKU_TEXT})"
        )
    else:
        sku_ok = True
    gen_path = f"{vpn_path}.gateway.generation"
    if gw.generation not in VPN_GENERATIONS:
        errors.append(
            f"{gen_path}: {gw.generation!r} is not a VPN gateway generation"
            f"{_did_you_mean(gw.generation, VPN_GENERATIONS)} (use Generation1 or Generation2)"
        )
    elif sku_ok and gw.sku not in SKUS_BY_GENERATION[gw.generation]:
        other = "Generation2" if gw.generation == "Generation1" else "Generation1"
        errors.append(
            f"{gen_path}: {gw.sku} is not available in {gw.generation} (set generation: {other}, or pick "
            f"one of {', '.join(sorted(SKUS_BY_GENERATION[gw.generation]))})"
        )
    if vpn.connection.ike_version not in IKE_VERSIONS:
        errors.append(
            f"{vpn_path}.connection.ikeVersion: {vpn.connection.ike_version!r} is not an IKE version"
            f"{_did_you_mean(vpn.connection.ike_version, IKE_VERSIONS)} (use IKEv2 or IKEv1)"
        )


def _check_appliance(site: Site, path: str, errors: list[str]) -> None:
    ip_path = f"{path}.onPremises.applianceIp"
    ip = parse_address(site.on_premises.appliance_ip, ip_path, errors)
    if ip is None:
        return
    reason = non_public_reason(ip)
    if reason is not None:
        errors.append(
            f"{ip_path}: {ip} is {reason}; the VPN appliance needs a public (internet-routable) IP address"
        )


def non_public_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address, or None when it is one."""
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address):
        if ip in SHARED_ADDRESS_SPACE:
            return "in the shared (carrier-grade NAT) range 100.64.0.0/10"
        if any(ip in net for net in RFC1918):
            return "a private (RFC 1918) address"
    elif ip in UNIQUE_LOCAL_V6:
        return "a private (unique local) address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "a special-purpose address that is not globally routable"
    return None


def _check_lng_prefixes(site: Site, path: str, onprem: list[_Prefix] | None, errors: list[str]) -> None:
    explicit = site.vpn.local_network_gateway.address_prefixes is not None
    lng_path = (
        f"{path}.vpn.localNetworkGateway.addressPrefixes" if explicit else f"{path}.onPremises.addressSpace"
    )
    er_explicit = site.express_route.advertised_prefixes is not None
    er_path = f"{path}.expressRoute.advertisedPrefixes" if er_explicit else f"{path}.onPremises.addressSpace"
    # Prefixes that default to the on-premises space were already validated above: don't repeat errors.
    sink: list[str] = []
    lng = _parse_list(site.lng_prefixes, lng_path, errors if explicit else sink)
    er = _parse_list(site.er_prefixes, er_path, errors if er_explicit else sink)
    if explicit:
        for prefix in lng:
            if onprem and not any(contained_in(prefix.network, o.network) for o in onprem):
                errors.append(
                    f"{prefix.path}: {prefix.network} is not inside the on-premises address space "
                    f"({_join([o.network for o in onprem])}); the local network gateway may only list "
                    "on-premises prefixes"
                )
    for prefix in lng:
        covering = next((e.network for e in er if is_strict_subnet(prefix.network, e.network)), None)
        if covering is None:
            continue
        if explicit:
            where, what = prefix.path, str(prefix.network)
        else:
            where = f"{path}.vpn.localNetworkGateway.addressPrefixes"
            what = f"{prefix.network} (the default, taken from onPremises.addressSpace)"
        errors.append(
            f"{where}: {what} is more specific than the ExpressRoute prefix {covering}; "
            "longest-prefix match would send that traffic over the VPN even while ExpressRoute is up "
            f"(use {covering})"
        )


def check_site(site: Site, path: str) -> list[str]:
    """All single-site rules for ``site``, whose YAML path is ``path`` (e.g. ``sites[0]``)."""
    errors: list[str] = []
    errors.extend(check_site_name(site.name, f"{path}.name"))
    errors.extend(check_resource_group_name(site.resource_group, f"{path}.resourceGroup"))
    if not site.location or any(ch.isspace() for ch in site.location):
        errors.append(
            f"{path}.location: {site.location!r} is not a region name (use the programmatic name without "
            "spaces, e.g. 'eastus')"
        )
    errors.extend(
        _check_range(site.max_key_age_days, *MAX_KEY_AGE_DAYS_RANGE, f"{path}.maxKeyAgeDays", " days")
    )
    errors.extend(check_resource_name(site.vnet.name, f"{path}.vnet.name"))
    vnet_spaces, onprem_spaces = _check_addresses(site, path, errors)
    vnet_complete = len(vnet_spaces) == len(site.vnet.address_space)
    onprem_complete = len(onprem_spaces) == len(site.on_premises.address_space)
    gateway = _check_gateway_subnet(site, path, vnet_spaces, errors, complete=vnet_complete)
    subnets = _check_subnets(site, path, vnet_spaces, gateway, errors, complete=vnet_complete)
    _check_load_balancer(site, path, subnets, errors)
    _check_gateways(site, path, errors)
    _check_appliance(site, path, errors)
    _check_lng_prefixes(site, path, onprem_spaces if onprem_complete else None, errors)
    _check_unique_resource_names([(path, site)], errors, within_site_only=True)
    return errors


# --------------------------------------------------------------------------------------------------
# Cross-site rules
# --------------------------------------------------------------------------------------------------

# (resource type description, attribute getter, YAML sub-path)
_RESOURCES: tuple[tuple[str, Callable[[Site], str], str], ...] = (
    ("virtual network", lambda s: s.vnet.name, "vnet.name"),
    ("virtual network gateway", lambda s: s.express_route.gateway.name, "expressRoute.gateway.name"),
    ("virtual network gateway", lambda s: s.vpn.gateway.name, "vpn.gateway.name"),
    (
        "public IP address",
        lambda s: s.express_route.gateway.public_ip_name,
        "expressRoute.gateway.publicIpName",
    ),
    ("public IP address", lambda s: s.vpn.gateway.public_ip_name, "vpn.gateway.publicIpName"),
    ("connection", lambda s: s.express_route.connection.name, "expressRoute.connection.name"),
    ("connection", lambda s: s.vpn.connection.name, "vpn.connection.name"),
    ("local network gateway", lambda s: s.vpn.local_network_gateway.name, "vpn.localNetworkGateway.name"),
    ("load balancer", lambda s: s.load_balancer.name, "loadBalancer.name"),
)


def _check_unique_resource_names(
    sites: Sequence[tuple[str, Site]], errors: list[str], *, within_site_only: bool
) -> None:
    """Resources of one type in one resource group need distinct names (Azure ignores case)."""
    seen: dict[tuple[str, str, str], tuple[str, str]] = {}
    for path, site in sites:
        for kind, getter, sub_path in _RESOURCES:
            name = getter(site)
            key = (site.resource_group.casefold(), kind, name.casefold())
            here = f"{path}.{sub_path}"
            if key not in seen:
                seen[key] = (here, path)
                continue
            first, first_site = seen[key]
            if within_site_only == (first_site == path):
                errors.append(
                    f"{here}: {kind} name {name!r} is already used by {first} in resource group "
                    f"{site.resource_group!r}; {kind} names must be distinct"
                )


def check_sites(sites: Sequence[tuple[str, Site]]) -> list[str]:
    """Rules across sites; ``sites`` pairs each site's YAML path (``sites[i]``) with the site.

    Checked: site names unique (case-insensitive), no VNet overlaps another site's VNet, no VNet overlaps
    another site's on-premises address space, and resource names unique per type within a shared
    resource group. Sites may share the same on-premises network: on-premises ranges of different sites
    are never compared with each other.
    """
    errors: list[str] = []
    names: dict[str, str] = {}
    for path, site in sites:
        key = site.name.casefold()
        if key in names:
            errors.append(
                f"{path}.name: duplicate site name {site.name!r} (also {names[key]}); "
                "site names must be unique"
            )
        else:
            names[key] = f"{path}.name"

    sink: list[str] = []  # per-prefix syntax errors are reported by check_site
    parsed = [
        (
            path,
            site,
            _parse_list(site.vnet.address_space, f"{path}.vnet.addressSpace", sink),
            _parse_list(site.on_premises.address_space, f"{path}.onPremises.addressSpace", sink),
        )
        for path, site in sites
    ]
    for j, (_path, _site, vnets, onprems) in enumerate(parsed):
        own_onprem = {o.network for o in onprems}
        for k, (_other_path, other, other_vnets, other_onprems) in enumerate(parsed):
            if k == j:
                continue
            for space in vnets:
                if k < j:
                    for theirs in other_vnets:
                        if same_version_overlap(space.network, theirs.network):
                            errors.append(
                                f"{space.path}: {space.network} overlaps the VNet of site {other.name!r} "
                                f"{theirs.network} ({theirs.path}); each site's VNet needs its own range"
                            )
                for theirs in other_onprems:
                    if theirs.network in own_onprem:
                        continue  # same network as this site's own on-premises: reported by check_site
                    if same_version_overlap(space.network, theirs.network):
                        errors.append(
                            f"{space.path}: {space.network} overlaps the on-premises address space of site "
                            f"{other.name!r} {theirs.network} ({theirs.path}); choose a VNet range that "
                            "does not overlap any on-premises network"
                        )
    _check_unique_resource_names(sites, errors, within_site_only=False)
    errors.extend(check_derived_names(sites))
    return errors


def check_derived_names(
    sites: Sequence[tuple[str, Site]],
    derivations: Sequence[tuple[str, str, Callable[[str], str], Callable[[str], str | None]]] = DERIVED_NAMES,
) -> list[str]:
    """Names derived from site names (Key Vault secrets, Table Storage keys: `shared.spec.names`) must
    be valid where they are used and distinct within one namespace, or two sites would share a secret
    or a table partition."""
    errors: list[str] = []
    seen: dict[tuple[str, str], tuple[str, str, str]] = {}
    for path, site in sites:
        if not SITE_NAME_RE.fullmatch(site.name):
            continue  # reported as an invalid site name
        refused: set[str] = set()
        for namespace, what, derive, problem in derivations:
            if namespace in refused:
                continue  # one message per site and namespace
            name = derive(site.name)
            why = problem(name)
            if why:
                refused.add(namespace)
                errors.append(
                    f"{path}.name: site name {site.name!r} gives {namespace} {what} name {name!r}, which has "
                    f"{why} (choose a shorter site name, or one with fewer '-' and '_')"
                )
                continue
            key = (namespace, name.casefold() if namespace in CASE_INSENSITIVE else name)
            if key in seen:
                other_path, other_site, other_what = seen[key]
                if other_path == path or other_site.casefold() == site.name.casefold():
                    continue  # a duplicate site name is reported as such
                errors.append(
                    f"{path}.name: site {site.name!r} and site {other_site!r} ({other_path}) would share "
                    f"{namespace} name {name!r} ({what} / {other_what}); rename one of them"
                )
            else:
                seen[key] = (path, site.name, what)
    return errors


def check_spec_sites(sites: Sequence[Site]) -> list[str]:
    """Every rule for a list of sites (indices give the paths): per-site rules, then cross-site rules."""
    pairs = [(f"sites[{i}]", site) for i, site in enumerate(sites)]
    errors: list[str] = []
    for path, site in pairs:
        errors.extend(check_site(site, path))
    errors.extend(check_sites(pairs))
    return errors
