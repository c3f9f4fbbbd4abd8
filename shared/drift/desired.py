"""The desired resources of a site, derived from its spec: the body to create each one with, and the
field rules the diff checks an existing one against. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.drift.findings import FixClass, Severity
from shared.drift.resources import Kind, arm_id, subnet_id
from shared.spec import Site

GATEWAY_SUBNET = "GatewaySubnet"


class Compare(StrEnum):
    EQUAL = "equal"
    CASELESS = "caseless"  # ARM ids and enum-like strings
    SET = "set"  # order-insensitive lists


@dataclass(frozen=True)
class FieldRule:
    """A field of the REST body (dotted path; list indexes allowed) that must hold `expected`."""

    path: str
    expected: Any
    label: str
    fix: FixClass
    severity: Severity
    compare: Compare = Compare.EQUAL
    why: str = ""

    def holds(self, actual: Any) -> bool:
        if self.compare is Compare.CASELESS:
            return str(actual or "").lower() == str(self.expected or "").lower()
        if self.compare is Compare.SET:
            return sorted(actual or []) == sorted(self.expected or [])
        return bool(actual == self.expected)


@dataclass(frozen=True)
class DesiredResource:
    kind: Kind
    id: str
    name: str
    body: Mapping[str, Any]
    rules: tuple[FieldRule, ...] = ()
    depends_on: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class DesiredSite:
    site: Site
    subscription: str
    resources: tuple[DesiredResource, ...]

    def ids(self) -> dict[str, DesiredResource]:
        return {r.id.lower(): r for r in self.resources}

    @property
    def gateway_ids(self) -> tuple[str, str]:
        return (
            self._id(Kind.GATEWAY, self.site.express_route.gateway.name),
            self._id(Kind.GATEWAY, self.site.vpn.gateway.name),
        )

    @property
    def gateway_subnet_id(self) -> str:
        return subnet_id(self.subscription, self.site.resource_group, self.site.vnet.name, GATEWAY_SUBNET)

    def _id(self, kind: Kind, name: str) -> str:
        return arm_id(self.subscription, self.site.resource_group, kind, name)


def _ref(resource_id: str) -> dict[str, str]:
    return {"id": resource_id}


def _fixed(path: str, expected: str, label: str) -> FieldRule:
    """A connection field Azure cannot change in place: only a re-create (never automatic) fixes it."""
    return FieldRule(
        path,
        expected,
        label,
        FixClass.FORBIDDEN,
        Severity.CRITICAL,
        Compare.CASELESS,
        f"a connection's {label} cannot change; re-create it",
    )


def desired_site(site: Site, subscription: str) -> DesiredSite:
    rg = site.resource_group
    loc = site.location

    def rid(kind: Kind, name: str) -> str:
        return arm_id(subscription, rg, kind, name)

    vnet_id = rid(Kind.VNET, site.vnet.name)
    gw_subnet_id = subnet_id(subscription, rg, site.vnet.name, GATEWAY_SUBNET)
    subnets = [(GATEWAY_SUBNET, site.vnet.gateway_subnet)] + [(s.name, s.prefix) for s in site.vnet.subnets]
    er, vpn = site.express_route, site.vpn
    er_pip, vpn_pip = (
        rid(Kind.PUBLIC_IP, er.gateway.public_ip_name),
        rid(Kind.PUBLIC_IP, vpn.gateway.public_ip_name),
    )
    er_gw, vpn_gw = rid(Kind.GATEWAY, er.gateway.name), rid(Kind.GATEWAY, vpn.gateway.name)
    lb_subnet = subnet_id(subscription, rg, site.vnet.name, site.load_balancer.subnet)

    resources: list[DesiredResource] = [
        DesiredResource(
            Kind.VNET,
            vnet_id,
            site.vnet.name,
            {
                "location": loc,
                "properties": {
                    "addressSpace": {"addressPrefixes": list(site.vnet.address_space)},
                    "subnets": [{"name": n, "properties": {"addressPrefix": p}} for n, p in subnets],
                },
            },
            (
                FieldRule(
                    "properties.addressSpace.addressPrefixes",
                    list(site.vnet.address_space),
                    "VNet address space",
                    FixClass.DISRUPTIVE,
                    Severity.HIGH,
                    Compare.SET,
                    "changing a VNet's address space re-programs routing for everything in it",
                ),
            ),
        )
    ]
    for name, prefix in subnets:
        is_gateway_subnet = name == GATEWAY_SUBNET
        resources.append(
            DesiredResource(
                Kind.SUBNET,
                subnet_id(subscription, rg, site.vnet.name, name),
                name,
                {"name": name, "properties": {"addressPrefix": prefix}},
                (
                    FieldRule(
                        "properties.addressPrefix",
                        prefix,
                        f"{name} prefix",
                        FixClass.FORBIDDEN,
                        Severity.CRITICAL if is_gateway_subnet else Severity.HIGH,
                        why="a subnet in use cannot be re-addressed in place; move or re-create it by hand",
                    ),
                ),
                (vnet_id,),
            )
        )
    for pip_id, pip_name in ((er_pip, er.gateway.public_ip_name), (vpn_pip, vpn.gateway.public_ip_name)):
        resources.append(
            DesiredResource(
                Kind.PUBLIC_IP,
                pip_id,
                pip_name,
                {
                    "location": loc,
                    "sku": {"name": "Standard", "tier": "Regional"},
                    "properties": {"publicIPAllocationMethod": "Static", "publicIPAddressVersion": "IPv4"},
                },
            )
        )

    def ip_configurations(pip_id: str) -> list[dict[str, Any]]:
        return [
            {
                "name": "default",
                "properties": {
                    "privateIPAllocationMethod": "Dynamic",
                    "subnet": _ref(gw_subnet_id),
                    "publicIPAddress": _ref(pip_id),
                },
            }
        ]

    recreate = (
        "cannot be changed in place: the gateway must be re-created, which deletes it (never automatic)"
    )
    resources.append(
        DesiredResource(
            Kind.GATEWAY,
            er_gw,
            er.gateway.name,
            {
                "location": loc,
                "properties": {
                    "gatewayType": "ExpressRoute",
                    "sku": {"name": er.gateway.sku, "tier": er.gateway.sku},
                    "ipConfigurations": ip_configurations(er_pip),
                },
            },
            (
                FieldRule(
                    "properties.gatewayType",
                    "ExpressRoute",
                    "gateway type",
                    FixClass.FORBIDDEN,
                    Severity.CRITICAL,
                    Compare.CASELESS,
                    recreate,
                ),
                FieldRule(
                    "properties.sku.name",
                    er.gateway.sku,
                    "gateway SKU",
                    FixClass.DISRUPTIVE,
                    Severity.HIGH,
                    Compare.CASELESS,
                    "resizing a gateway in use interrupts its connections",
                ),
            ),
            (gw_subnet_id, er_pip),
        )
    )
    resources.append(
        DesiredResource(
            Kind.GATEWAY,
            vpn_gw,
            vpn.gateway.name,
            {
                "location": loc,
                "properties": {
                    "gatewayType": "Vpn",
                    "vpnType": vpn.gateway.vpn_type,
                    "vpnGatewayGeneration": vpn.gateway.generation,
                    "sku": {"name": vpn.gateway.sku, "tier": vpn.gateway.sku},
                    "activeActive": vpn.gateway.active_active,
                    "enableBgp": vpn.gateway.enable_bgp,
                    "ipConfigurations": ip_configurations(vpn_pip),
                },
            },
            (
                FieldRule(
                    "properties.gatewayType",
                    "Vpn",
                    "gateway type",
                    FixClass.FORBIDDEN,
                    Severity.CRITICAL,
                    Compare.CASELESS,
                    recreate,
                ),
                FieldRule(
                    "properties.vpnType",
                    vpn.gateway.vpn_type,
                    "VPN type",
                    FixClass.FORBIDDEN,
                    Severity.CRITICAL,
                    Compare.CASELESS,
                    recreate,
                ),
                FieldRule(
                    "properties.vpnGatewayGeneration",
                    vpn.gateway.generation,
                    "gateway generation",
                    FixClass.FORBIDDEN,
                    Severity.HIGH,
                    Compare.CASELESS,
                    recreate,
                ),
                FieldRule(
                    "properties.sku.name",
                    vpn.gateway.sku,
                    "gateway SKU",
                    FixClass.DISRUPTIVE,
                    Severity.HIGH,
                    Compare.CASELESS,
                    "resizing a gateway in use interrupts its tunnels",
                ),
                FieldRule(
                    "properties.activeActive",
                    vpn.gateway.active_active,
                    "active-active mode",
                    FixClass.DISRUPTIVE,
                    Severity.MEDIUM,
                    why="switching active-active re-deploys the instances",
                ),
                FieldRule(
                    "properties.enableBgp",
                    vpn.gateway.enable_bgp,
                    "gateway BGP",
                    FixClass.DISRUPTIVE,
                    Severity.MEDIUM,
                    why="toggling BGP on a gateway resets its sessions",
                ),
            ),
            (gw_subnet_id, vpn_pip),
        )
    )
    for gateway in vpn.local_network_gateways:
        resources.append(
            DesiredResource(
                Kind.LOCAL_GATEWAY,
                rid(Kind.LOCAL_GATEWAY, gateway.name),
                gateway.name,
                {
                    "location": loc,
                    "properties": {
                        "gatewayIpAddress": gateway.gateway_ip or site.on_premises.appliance_ip,
                        "localNetworkAddressSpace": {
                            "addressPrefixes": list(
                                gateway.address_prefixes or site.on_premises.address_space
                            )
                        },
                    },
                },
                (
                    FieldRule(
                        "properties.gatewayIpAddress",
                        gateway.gateway_ip or site.on_premises.appliance_ip,
                        "appliance IP",
                        FixClass.SAFE,
                        Severity.HIGH,
                    ),
                    FieldRule(
                        "properties.localNetworkAddressSpace.addressPrefixes",
                        list(gateway.address_prefixes or site.on_premises.address_space),
                        "on-premises prefixes",
                        FixClass.SAFE,
                        Severity.HIGH,
                        Compare.SET,
                    ),
                ),
            )
        )
    for er_conn in er.connections:
        resources.append(
            DesiredResource(
                Kind.CONNECTION,
                rid(Kind.CONNECTION, er_conn.name),
                er_conn.name,
                {
                    "location": loc,
                    "properties": {
                        "connectionType": "ExpressRoute",
                        "virtualNetworkGateway1": _ref(er_gw),
                        "peer": _ref(er_conn.circuit_id),
                        "routingWeight": er_conn.routing_weight,
                    },
                },
                (
                    _fixed("properties.connectionType", "ExpressRoute", "connection type"),
                    _fixed("properties.virtualNetworkGateway1.id", er_gw, "gateway"),
                    _fixed("properties.peer.id", er_conn.circuit_id, "circuit"),
                    FieldRule(
                        "properties.routingWeight",
                        er_conn.routing_weight,
                        "routing weight",
                        FixClass.SAFE,
                        Severity.MEDIUM,
                    ),
                ),
                (er_gw,),
            )
        )
    for vpn_conn in vpn.connections:
        lng_id = rid(Kind.LOCAL_GATEWAY, vpn.lng_of(vpn_conn).name)
        resources.append(
            DesiredResource(
                Kind.CONNECTION,
                rid(Kind.CONNECTION, vpn_conn.name),
                vpn_conn.name,
                {
                    "location": loc,
                    "properties": {
                        "connectionType": "IPsec",
                        "virtualNetworkGateway1": _ref(vpn_gw),
                        "localNetworkGateway2": _ref(lng_id),
                        "connectionProtocol": vpn_conn.ike_version,
                        "routingWeight": vpn_conn.routing_weight,
                        "enableBgp": vpn_conn.enable_bgp,
                    },
                },
                (
                    _fixed("properties.connectionType", "IPsec", "connection type"),
                    _fixed("properties.virtualNetworkGateway1.id", vpn_gw, "gateway"),
                    _fixed("properties.localNetworkGateway2.id", lng_id, "local network gateway"),
                    FieldRule(
                        "properties.connectionProtocol",
                        vpn_conn.ike_version,
                        "IKE version",
                        FixClass.SAFE,
                        Severity.MEDIUM,
                        Compare.CASELESS,
                    ),
                    FieldRule(
                        "properties.routingWeight",
                        vpn_conn.routing_weight,
                        "routing weight",
                        FixClass.SAFE,
                        Severity.MEDIUM,
                    ),
                    FieldRule(
                        "properties.enableBgp",
                        vpn_conn.enable_bgp,
                        "connection BGP",
                        FixClass.SAFE,
                        Severity.MEDIUM,
                    ),
                ),
                (vpn_gw, lng_id),
            )
        )
    resources.append(
        DesiredResource(
            Kind.LOAD_BALANCER,
            rid(Kind.LOAD_BALANCER, site.load_balancer.name),
            site.load_balancer.name,
            {
                "location": loc,
                "sku": {"name": "Standard", "tier": "Regional"},
                "properties": {
                    "frontendIPConfigurations": [
                        {
                            "name": "frontend",
                            "properties": {
                                "privateIPAllocationMethod": "Static",
                                "privateIPAddress": site.load_balancer.private_ip,
                                "subnet": _ref(lb_subnet),
                            },
                        }
                    ]
                },
            },
            (
                FieldRule(
                    "properties.frontendIPConfigurations.0.properties.privateIPAddress",
                    site.load_balancer.private_ip,
                    "front-end private IP",
                    FixClass.DISRUPTIVE,
                    Severity.HIGH,
                    why="moving the front-end IP breaks clients that use the old one",
                ),
                FieldRule(
                    "properties.frontendIPConfigurations.0.properties.subnet.id",
                    lb_subnet,
                    "front-end subnet",
                    FixClass.DISRUPTIVE,
                    Severity.HIGH,
                    Compare.CASELESS,
                    "moving the front end to another subnet breaks clients",
                ),
            ),
            (lb_subnet,),
        )
    )
    return DesiredSite(site=site, subscription=subscription, resources=tuple(resources))
