"""diff(desired, observed) -> findings. Pure."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from shared.drift.desired import GATEWAY_SUBNET, DesiredResource, DesiredSite
from shared.drift.findings import Finding, FindingKind, FixClass, Severity
from shared.drift.observed import ObservedResource, ObservedSite, lookup
from shared.drift.resources import Kind, id_key

MISSING_FIX = {
    Kind.VNET: FixClass.SAFE,
    Kind.SUBNET: FixClass.SAFE,
    Kind.PUBLIC_IP: FixClass.SAFE,
    Kind.GATEWAY: FixClass.SAFE,
    Kind.LOCAL_GATEWAY: FixClass.SAFE,
    Kind.CONNECTION: FixClass.SAFE,
    Kind.LOAD_BALANCER: FixClass.SAFE,
}
MISSING_SEVERITY = {
    Kind.VNET: Severity.CRITICAL,
    Kind.SUBNET: Severity.CRITICAL,
    Kind.PUBLIC_IP: Severity.HIGH,
    Kind.GATEWAY: Severity.CRITICAL,
    Kind.LOCAL_GATEWAY: Severity.CRITICAL,
    Kind.CONNECTION: Severity.CRITICAL,
    Kind.LOAD_BALANCER: Severity.HIGH,
}
KIND_LABEL = {
    Kind.VNET: "VNet",
    Kind.SUBNET: "subnet",
    Kind.PUBLIC_IP: "public IP",
    Kind.GATEWAY: "gateway",
    Kind.LOCAL_GATEWAY: "local network gateway",
    Kind.CONNECTION: "connection",
    Kind.LOAD_BALANCER: "load balancer",
}


def _is_checked(observed: ObservedSite, kind: Kind) -> bool:
    return kind in observed.listed_kinds


def diff(desired: DesiredSite, observed: ObservedSite) -> list[Finding]:
    site = desired.site.name
    findings: list[Finding] = []
    for resource in desired.resources:
        actual = observed.get(resource.id)
        if actual is None:
            if _is_checked(observed, resource.kind):
                findings.append(
                    Finding(
                        site,
                        resource.id,
                        FindingKind.MISSING,
                        MISSING_SEVERITY[resource.kind],
                        MISSING_FIX[resource.kind],
                        f"{KIND_LABEL[resource.kind]} {resource.name} does not exist",
                    )
                )
            continue
        findings.extend(_compare(site, resource, actual, desired.site.location))
    findings.extend(_unexpected_connections(desired, observed))
    findings.extend(_gateway_subnet_nsg(desired, observed))
    findings.extend(_traffic_stealing_prefixes(desired, observed))
    return findings


IN_FLIGHT = frozenset({"Updating", "Creating", "Deleting"})


def _compare(
    site: str, resource: DesiredResource, actual: ObservedResource, location: str
) -> Iterable[Finding]:
    label = f"{KIND_LABEL[resource.kind]} {resource.name}"
    if actual.provisioning_state in IN_FLIGHT:
        return  # an operation is running on it (ours or someone's): judged by the next pass, not PUT over
    if actual.provisioning_state == "Failed":
        yield Finding(
            site,
            resource.id,
            FindingKind.FAILED_PROVISIONING,
            Severity.HIGH,
            FixClass.SAFE,
            f"{label} is in provisioning state Failed (re-applying its configuration resets it)",
        )
    actual_location = actual.body.get("location")
    if resource.kind is not Kind.SUBNET and actual_location and _norm(actual_location) != _norm(location):
        yield Finding(
            site,
            resource.id,
            FindingKind.MISPLACED,
            Severity.HIGH,
            FixClass.FORBIDDEN,
            f"{label} is in {actual_location}, the spec says {location} (resources cannot move regions)",
            "location",
            location,
            actual_location,
        )
    for rule in resource.rules:
        value = lookup(actual.body, rule.path)
        if rule.holds(value):
            continue
        reason = f" ({rule.why})" if rule.why and rule.fix is not FixClass.SAFE else ""
        yield Finding(
            site,
            resource.id,
            FindingKind.MISMATCH,
            rule.severity,
            rule.fix,
            f"{label}: {rule.label} is {_show(value)}, the spec says {_show(rule.expected)}{reason}",
            rule.path,
            rule.expected,
            value,
        )


def _unexpected_connections(desired: DesiredSite, observed: ObservedSite) -> Iterable[Finding]:
    """A connection on one of our gateways that the spec does not declare: someone added a tunnel."""
    ours = {id_key(r.id) for r in desired.resources if r.kind is Kind.CONNECTION}
    gateways = {id_key(g) for g in desired.gateway_ids}
    for connection in observed.of_kind(Kind.CONNECTION):
        if id_key(connection.id) in ours:
            continue
        ends = {
            id_key(str(lookup(connection.body, f"properties.{end}.id") or ""))
            for end in ("virtualNetworkGateway1", "virtualNetworkGateway2")
        }
        if ends & gateways:
            yield Finding(
                desired.site.name,
                connection.id,
                FindingKind.UNEXPECTED,
                Severity.CRITICAL,
                FixClass.FORBIDDEN,
                f"connection {connection.name} is attached to a managed gateway but not declared in the spec "
                "(an added tunnel is security-relevant: review it and delete it by hand, or declare it)",
            )


def _gateway_subnet_nsg(desired: DesiredSite, observed: ObservedSite) -> Iterable[Finding]:
    subnet = observed.get(desired.gateway_subnet_id)
    if subnet is None:
        return
    nsg = lookup(subnet.body, "properties.networkSecurityGroup.id")
    if nsg:
        yield Finding(
            desired.site.name,
            subnet.id,
            FindingKind.MISMATCH,
            Severity.HIGH,
            FixClass.SAFE,
            f"{GATEWAY_SUBNET} has network security group {str(nsg).rsplit('/', 1)[-1]} attached, which Azure "
            "does not support on the gateway subnet (detaching it leaves the NSG itself in place)",
            "properties.networkSecurityGroup",
            None,
            nsg,
        )


def _traffic_stealing_prefixes(desired: DesiredSite, observed: ObservedSite) -> Iterable[Finding]:
    """A local network gateway prefix more specific than an ExpressRoute prefix wins longest-prefix
    match and pulls that traffic onto the VPN while ExpressRoute is up."""
    site = desired.site
    lng_id = next(r.id for r in desired.resources if r.kind is Kind.LOCAL_GATEWAY)
    lng = observed.get(lng_id)
    if lng is None:
        return
    er_networks = [_network(p) for p in site.er_prefixes]
    for prefix in lookup(lng.body, "properties.localNetworkAddressSpace.addressPrefixes") or []:
        network = _network(prefix)
        if network is None:
            continue
        for er in er_networks:
            if er is not None and network.version == er.version and network != er and network.subnet_of(er):  # type: ignore[arg-type]
                yield Finding(
                    site.name,
                    lng.id,
                    FindingKind.MISMATCH,
                    Severity.CRITICAL,
                    FixClass.SAFE,
                    f"local network gateway {lng.name}: prefix {prefix} is more specific than ExpressRoute's {er} "
                    "and pulls that traffic onto the VPN while ExpressRoute is up (traffic-stealing)",
                    "properties.localNetworkAddressSpace.addressPrefixes",
                    site.lng_prefixes,
                    prefix,
                )


def _network(prefix: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return None


def _norm(location: str) -> str:
    return location.replace(" ", "").lower()


def _show(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return "absent" if value is None else str(value)
