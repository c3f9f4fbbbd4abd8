"""Pydantic model of the spec file. YAML keys are camelCase; Python attributes are snake_case."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict
from pydantic.alias_generators import to_camel

from shared.errors import NotFound

# Integers in the spec are strict: YAML `yes`/`true` or "10" must not silently become 1 or 10.
StrictInt = Annotated[int, Strict()]
StrictBool = Annotated[bool, Strict()]


class SpecModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class Subnet(SpecModel):
    name: str
    prefix: str


class VirtualNetwork(SpecModel):
    name: str
    address_space: list[str] = Field(min_length=1)
    gateway_subnet: str
    subnets: list[Subnet] = Field(default_factory=list)


class OnPremises(SpecModel):
    address_space: list[str] = Field(min_length=1)
    appliance_ip: str


class ErGateway(SpecModel):
    name: str
    sku: str = "Standard"
    public_ip_name: str


class ErConnection(SpecModel):
    name: str
    circuit_id: str
    routing_weight: StrictInt = 10


class ExpressRoute(SpecModel):
    gateway: ErGateway
    connection: ErConnection
    # Prefixes ExpressRoute is expected to carry; defaults to the on-premises address space.
    advertised_prefixes: list[str] | None = None


class VpnGateway(SpecModel):
    name: str
    sku: str = "VpnGw1"
    generation: str = "Generation1"
    vpn_type: str = "RouteBased"
    public_ip_name: str
    active_active: StrictBool = False
    enable_bgp: StrictBool = False


class LocalNetworkGateway(SpecModel):
    name: str
    # Defaults to the on-premises address space.
    address_prefixes: list[str] | None = None


class VpnConnection(SpecModel):
    name: str
    ike_version: str = "IKEv2"
    routing_weight: StrictInt = 0
    enable_bgp: StrictBool = False


class Vpn(SpecModel):
    gateway: VpnGateway
    local_network_gateway: LocalNetworkGateway
    connection: VpnConnection


class LoadBalancer(SpecModel):
    name: str
    subnet: str
    private_ip: str


class Rotation(SpecModel):
    """Key rotation for a site. Off until the on-premises appliance takes its key from Key Vault (the
    version tagged state=pending, then active, of the site's secret): rotating a key the appliance
    cannot fetch takes the VPN backup down. Turn it on per site once the appliance follows Key Vault."""

    enabled: StrictBool = False


class Site(SpecModel):
    name: str
    resource_group: str
    location: str
    vnet: VirtualNetwork
    on_premises: OnPremises
    express_route: ExpressRoute
    vpn: Vpn
    load_balancer: LoadBalancer
    max_key_age_days: StrictInt = 90
    rotation: Rotation = Field(default_factory=Rotation)

    @property
    def lng_prefixes(self) -> list[str]:
        return list(self.vpn.local_network_gateway.address_prefixes or self.on_premises.address_space)

    @property
    def er_prefixes(self) -> list[str]:
        return list(self.express_route.advertised_prefixes or self.on_premises.address_space)


class UnknownSite(NotFound, KeyError):
    """No site of that name in the spec; `known` lists the sites there are."""

    code = "UnknownSite"

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name, known=known)
        self.name = name
        self.known = known

    def __str__(self) -> str:
        return f"unknown site {self.name!r} (known sites: {', '.join(self.known)})"


class NetworkSpec(SpecModel):
    sites: list[Site] = Field(min_length=1)

    def site(self, name: str) -> Site:
        for site in self.sites:
            if site.name == name:
                return site
        raise UnknownSite(name, [s.name for s in self.sites])
