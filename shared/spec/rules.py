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

import bisect
import difflib
import ipaddress
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

from shared.spec.model import Site
from shared.spec.names import CASE_INSENSITIVE, DERIVED_NAMES

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

GATEWAY_SUBNET_NAME = "GatewaySubnet"
GATEWAY_SUBNET_MAX_PREFIXLEN = 27
SMALLEST_SUBNET_PREFIXLEN = 29
MAX_SUBNETS_PER_VNET = 3000  # Azure networking limits: "Subnets per virtual network: 3,000"

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


_V6_OFFSET = 1 << 32  # IPv6 starts after every IPv4 address: one sorted line holds both, never mixed


def _span(network: IPNetwork) -> tuple[int, int]:
    """First and last address of ``network`` on the combined IPv4-then-IPv6 line."""
    first = int(network.network_address)
    last = first | ((1 << (network.max_prefixlen - network.prefixlen)) - 1)
    offset = 0 if network.version == 4 else _V6_OFFSET
    return first + offset, last + offset


def _spans_overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def _block_start(first: int, network: IPNetwork, prefixlen: int) -> int:
    """First address (on the combined line) of the /``prefixlen`` supernet of ``network``."""
    offset = 0 if network.version == 4 else _V6_OFFSET
    host_bits = network.max_prefixlen - prefixlen
    return (((first - offset) >> host_bits) << host_bits) + offset


class PrefixIndex:
    """Prefixes, each with a rank (its position in the caller's order), sorted by first address.

    Answers "which is the lowest-ranked prefix overlapping N" in O(log n) plus one dictionary lookup per
    shorter prefix length present, instead of comparing N with every prefix: the overlap checks are a
    sorted sweep, not all pairs, so 8,000 subnets or 3,000 sites take milliseconds. CIDR blocks are
    either nested or disjoint, so the prefixes overlapping N are exactly those that start inside N plus
    N's supernets (at most one network per shorter prefix length, found by exact lookup).
    """

    def __init__(self, prefixes: Iterable[tuple[IPNetwork, int]]) -> None:
        rows = sorted((*_span(net), net.version, net.prefixlen, rank) for net, rank in prefixes)
        self._firsts = [row[0] for row in rows]
        ranks = [row[4] for row in rows]
        # Identical networks sort next to each other: one block of positions per distinct network.
        self._blocks: dict[tuple[int, int, int], tuple[int, int]] = {}
        self._lengths: dict[int, set[int]] = {4: set(), 6: set()}
        for position, (first, _last, version, prefixlen, _rank) in enumerate(rows):
            key = (version, first, prefixlen)
            start = self._blocks.get(key, (position, position))[0]
            self._blocks[key] = (start, position + 1)
            self._lengths[version].add(prefixlen)
        # Sparse table: _mins[k][i] is the lowest rank among positions i .. i + 2**k - 1.
        self._mins = [ranks]
        width = 1
        while 2 * width <= len(ranks):
            below = self._mins[-1]
            self._mins.append([min(below[i], below[i + width]) for i in range(len(ranks) - 2 * width + 1)])
            width *= 2

    def _lowest(self, lo: int, hi: int) -> int | None:
        if lo >= hi:
            return None
        k = (hi - lo).bit_length() - 1
        return min(self._mins[k][lo], self._mins[k][hi - (1 << k)])

    def _supernet_blocks(self, network: IPNetwork, *, strict: bool) -> Iterable[tuple[int, int, int]]:
        """Keys of the indexed networks that contain ``network`` (itself too unless ``strict``)."""
        first = int(network.network_address) + (0 if network.version == 4 else _V6_OFFSET)
        for prefixlen in self._lengths[network.version]:
            if prefixlen < network.prefixlen or (prefixlen == network.prefixlen and not strict):
                key = (network.version, _block_start(first, network, prefixlen), prefixlen)
                if key in self._blocks:
                    yield key

    def first_overlapping(self, network: IPNetwork, *, skip: Collection[IPNetwork] = ()) -> int | None:
        """The lowest rank of an indexed prefix overlapping ``network``, ignoring prefixes equal to one of
        ``skip``; None when there is none."""
        first, last = _span(network)
        lo = bisect.bisect_left(self._firsts, first)
        hi = bisect.bisect_right(self._firsts, last)
        skip_keys = {(net.version, _span(net)[0], net.prefixlen) for net in skip}
        skipped = sorted(
            block for key in skip_keys if (block := self._blocks.get(key)) is not None and lo <= block[0] < hi
        )
        candidates: list[int | None] = []
        for block_lo, block_hi in skipped:  # the positions that start inside network, minus skipped ones
            candidates.append(self._lowest(lo, block_lo))
            lo = max(lo, block_hi)
        candidates.append(self._lowest(lo, hi))
        for key in self._supernet_blocks(network, strict=True):  # supernets starting before network
            if key[1] < first and key not in skip_keys:
                candidates.append(self._lowest(*self._blocks[key]))
        found = [rank for rank in candidates if rank is not None]
        return min(found) if found else None

    def first_strict_supernet(self, network: IPNetwork) -> int | None:
        """The lowest rank of an indexed prefix that contains ``network`` and is less specific."""
        found = [self._lowest(*self._blocks[key]) for key in self._supernet_blocks(network, strict=True)]
        ranks = [rank for rank in found if rank is not None]
        return min(ranks) if ranks else None

    def contains(self, network: IPNetwork) -> bool:
        """True when an indexed prefix equals or contains ``network``."""
        return next(iter(self._supernet_blocks(network, strict=False)), None) is not None


def _check_no_self_overlap(prefixes: Sequence[_Prefix], what: str, errors: list[str]) -> None:
    """Each prefix that overlaps an earlier one of the list is reported once, naming the first of them."""
    index = PrefixIndex((p.network, i) for i, p in enumerate(prefixes))
    for j, later in enumerate(prefixes):
        first = index.first_overlapping(later.network)
        if first is not None and first < j:
            earlier = prefixes[first]
            errors.append(
                f"{later.path}: {later.network} overlaps {earlier.network} ({earlier.path}); "
                f"the ranges of one {what} must not overlap (remove or merge one of them)"
            )


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
    onprem_index = PrefixIndex((o.network, i) for i, o in enumerate(onprem_spaces))
    for space in vnet_spaces:
        first = onprem_index.first_overlapping(space.network)
        if first is not None:
            onprem = onprem_spaces[first]
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
    space_index = PrefixIndex((s.network, i) for i, s in enumerate(spaces))
    gateway_span = _span(gateway) if gateway is not None else None
    count = len(site.vnet.subnets)
    if count > MAX_SUBNETS_PER_VNET:
        errors.append(
            f"{path}.vnet.subnets: {count:,} subnets; Azure allows at most {MAX_SUBNETS_PER_VNET:,} per "
            "virtual network (split them over several VNets)"
        )
    # First pass: every subnet's own errors (kept per subnet, so the output stays in subnet order).
    own: list[list[str]] = []
    networks: list[tuple[int, str, IPNetwork, str]] = []  # (subnet index, name, prefix, prefix path)
    for i, subnet in enumerate(site.vnet.subnets):
        found: list[str] = []
        own.append(found)
        sub_path = f"{path}.vnet.subnets[{i}]"
        if subnet.name.lower() == GATEWAY_SUBNET_NAME.lower():
            found.append(
                f"{sub_path}.name: do not list {GATEWAY_SUBNET_NAME} under subnets "
                "(set its prefix in vnet.gatewaySubnet instead)"
            )
            continue
        found.extend(check_resource_name(subnet.name, f"{sub_path}.name"))
        key = subnet.name.casefold()
        if key in seen_names:
            found.append(
                f"{sub_path}.name: duplicate subnet name {subnet.name!r} (also {seen_names[key]}); "
                "subnet names must be unique"
            )
        else:
            seen_names[key] = f"{sub_path}.name"
        prefix_path = f"{sub_path}.prefix"
        network = parse_prefix(subnet.prefix, prefix_path, found)
        if network is None:
            continue
        parsed.setdefault(subnet.name, network)
        networks.append((i, subnet.name, network, prefix_path))
        if network.version == 4 and network.prefixlen > SMALLEST_SUBNET_PREFIXLEN:
            found.append(
                f"{prefix_path}: {network} is too small; the smallest subnet Azure allows is "
                f"/{SMALLEST_SUBNET_PREFIXLEN}"
            )
        if complete and not space_index.contains(network):
            found.append(
                f"{prefix_path}: {network} is not inside the VNet address space "
                f"({_join([s.network for s in spaces])}); pick a range inside it"
            )
        if gateway_span is not None and _spans_overlap(_span(network), gateway_span):
            found.append(
                f"{prefix_path}: {network} overlaps the gateway subnet {gateway} ({path}.vnet.gatewaySubnet);"
                " move this subnet out of the GatewaySubnet range"
            )
    # Second pass: each subnet overlapping an earlier one, named by the first such (sorted, not pairs).
    index = PrefixIndex((network, rank) for rank, (_i, _name, network, _path) in enumerate(networks))
    for rank, (i, _name, network, prefix_path) in enumerate(networks):
        first = index.first_overlapping(network)
        if first is not None and first < rank:
            _j, other_name, other, other_path = networks[first]
            own[i].append(
                f"{prefix_path}: {network} overlaps subnet {other_name!r} {other} ({other_path}); "
                "subnets must not overlap"
            )
    for found in own:
        errors.extend(found)
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
    for i, conn in enumerate(er.connections):
        c_path = _connection_path(er_path, i, len(er.connections))
        errors.extend(check_resource_name(conn.name, f"{c_path}.name"))
        errors.extend(check_circuit_id(conn.circuit_id, f"{c_path}.circuitId"))
        errors.extend(_check_range(conn.routing_weight, *ROUTING_WEIGHT_RANGE, f"{c_path}.routingWeight"))
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
    for i, conn in enumerate(vpn.connections):
        c_path = _connection_path(vpn_path, i, len(vpn.connections))
        errors.extend(check_resource_name(conn.name, f"{c_path}.name"))
        errors.extend(_check_range(conn.routing_weight, *ROUTING_WEIGHT_RANGE, f"{c_path}.routingWeight"))
        if conn.local_network_gateway is not None:
            lng_path = f"{c_path}.localNetworkGateway.name"
            errors.extend(check_resource_name(conn.local_network_gateway.name, lng_path))
        if conn.ike_version not in IKE_VERSIONS:
            errors.append(
                f"{c_path}.ikeVersion: {conn.ike_version!r} is not an IKE version"
                f"{_did_you_mean(conn.ike_version, IKE_VERSIONS)} (use IKEv2 or IKEv1)"
            )
    if site.rotation.enabled and len(vpn.connections) > 1:
        errors.append(
            f"{path}.rotation.enabled: key rotation handles one VPN connection; this site has "
            f"{len(vpn.connections)} (turn rotation off for it, or keep one connection)"
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
        onprem_index = PrefixIndex((o.network, i) for i, o in enumerate(onprem or []))
        for prefix in lng:
            if onprem and not onprem_index.contains(prefix.network):
                errors.append(
                    f"{prefix.path}: {prefix.network} is not inside the on-premises address space "
                    f"({_join([o.network for o in onprem])}); the local network gateway may only list "
                    "on-premises prefixes"
                )
    er_index = PrefixIndex((e.network, i) for i, e in enumerate(er))
    for prefix in lng:
        first = er_index.first_strict_supernet(prefix.network)
        if first is None:
            continue
        covering = er[first].network
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
    ("load balancer", lambda s: s.load_balancer.name, "loadBalancer.name"),
)


def _connection_path(parent: str, index: int, count: int) -> str:
    """`expressRoute.connection` for the seed's single form, `expressRoute.connections[i]` for lists."""
    return f"{parent}.connection" if count == 1 else f"{parent}.connections[{index}]"


def _named(site: Site) -> list[tuple[str, str, str]]:
    """(kind, name, path within the site) of every named resource, lists of connections included."""
    out = [(kind, getter(site), sub_path) for kind, getter, sub_path in _RESOURCES]
    ers, vpns = site.express_route.connections, site.vpn.connections
    for i, er in enumerate(ers):
        out.append(("connection", er.name, f"{_connection_path('expressRoute', i, len(ers))}.name"))
    for i, vpn in enumerate(vpns):
        out.append(("connection", vpn.name, f"{_connection_path('vpn', i, len(vpns))}.name"))
    out.append(("local network gateway", site.vpn.local_network_gateway.name, "vpn.localNetworkGateway.name"))
    for i, vpn in enumerate(vpns):
        if vpn.local_network_gateway is not None and vpn.local_network_gateway.name.casefold() != (
            site.vpn.local_network_gateway.name.casefold()
        ):
            lng_path = f"{_connection_path('vpn', i, len(vpns))}.localNetworkGateway.name"
            out.append(("local network gateway", vpn.local_network_gateway.name, lng_path))
    return out


def _check_unique_resource_names(
    sites: Sequence[tuple[str, Site]], errors: list[str], *, within_site_only: bool
) -> None:
    """Resources of one type in one resource group need distinct names (Azure ignores case)."""
    seen: dict[tuple[str, str, str], tuple[str, str]] = {}
    for path, site in sites:
        for kind, name, sub_path in _named(site):
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
    vnets: list[tuple[int, _Prefix]] = []  # (site number, prefix), in site order: the rank is the position
    onprems: list[tuple[int, _Prefix]] = []
    for number, (path, site) in enumerate(sites):
        vnets.extend(
            (number, p) for p in _parse_list(site.vnet.address_space, f"{path}.vnet.addressSpace", sink)
        )
        onprems.extend(
            (number, p)
            for p in _parse_list(site.on_premises.address_space, f"{path}.onPremises.addressSpace", sink)
        )
    vnet_index = PrefixIndex((p.network, rank) for rank, (_n, p) in enumerate(vnets))
    onprem_index = PrefixIndex((p.network, rank) for rank, (_n, p) in enumerate(onprems))
    own_onprem: dict[int, set[IPNetwork]] = {}
    for number, prefix in onprems:
        own_onprem.setdefault(number, set()).add(prefix.network)
    first_rank_of_site: dict[int, int] = {}
    for rank, (number, _p) in enumerate(vnets):
        first_rank_of_site.setdefault(number, rank)
    # One line per VNet range at most, naming the first range it overlaps: thousands of sites on one
    # range give thousands of lines (listed up to the spec's cap), not millions of pairs.
    for number, space in vnets:
        first = vnet_index.first_overlapping(space.network)
        if first is not None and first < first_rank_of_site[number]:  # a VNet of an earlier site
            other_number, theirs = vnets[first]
            errors.append(
                f"{space.path}: {space.network} overlaps the VNet of site {sites[other_number][1].name!r} "
                f"{theirs.network} ({theirs.path}); each site's VNet needs its own range"
            )
        # Another site's on-premises range equal to one of this site's own is reported by check_site.
        first = onprem_index.first_overlapping(space.network, skip=own_onprem.get(number, ()))
        if first is not None:
            other_number, theirs = onprems[first]
            errors.append(
                f"{space.path}: {space.network} overlaps the on-premises address space of site "
                f"{sites[other_number][1].name!r} {theirs.network} ({theirs.path}); choose a VNet range "
                "that does not overlap any on-premises network"
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
