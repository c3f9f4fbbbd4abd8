"""Pydantic model of the spec file. YAML keys are camelCase; Python attributes are snake_case."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    Strict,
    model_serializer,
    model_validator,
)
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


class _Connections(SpecModel):
    """A path's connections: `connection: {...}` (one, the seed's form) or `connections: [...]`. Both
    attributes are always set (`connection` is the first); the file's form is kept for dump_spec."""

    _single_form: bool = PrivateAttr(default=True)

    @model_validator(mode="after")
    def _one_form(self) -> Any:
        single, many = self.__dict__.get("connection"), self.__dict__.get("connections")
        if (single is None) == (many is None):
            raise ValueError("give either 'connection' (one) or 'connections' (a list of at least one)")
        if many is not None and not many:
            raise ValueError("'connections' must contain at least 1 item")
        object.__setattr__(self, "_single_form", single is not None)
        if single is None:
            object.__setattr__(self, "connection", many[0])
        else:
            object.__setattr__(self, "connections", [single])
        return self

    @model_serializer(mode="wrap")
    def _as_written(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            data.pop("connections" if self._single_form else "connection", None)
        return data


class ExpressRoute(_Connections):
    """One ExpressRoute gateway with one or more circuit connections (e.g. two circuits in two peering
    locations for maximum resiliency). `connection:` (one) and `connections:` (a list) are both accepted."""

    gateway: ErGateway
    connection: ErConnection = None  # type: ignore[assignment]  # set by _one_form
    connections: list[ErConnection] = None  # type: ignore[assignment]
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
    # The on-premises device's public IP; defaults to onPremises.applianceIp.
    gateway_ip: str | None = None


class VpnConnection(SpecModel):
    name: str
    ike_version: str = "IKEv2"
    routing_weight: StrictInt = 0
    enable_bgp: StrictBool = False
    # The on-premises device this connection reaches; defaults to the VPN's localNetworkGateway.
    local_network_gateway: LocalNetworkGateway | None = None


class Vpn(_Connections):
    """One VPN gateway with one or more site-to-site connections (e.g. to active-active appliances,
    each connection with its own local network gateway). `connection:` or `connections:`."""

    gateway: VpnGateway
    local_network_gateway: LocalNetworkGateway
    connection: VpnConnection = None  # type: ignore[assignment]  # set by _one_form
    connections: list[VpnConnection] = None  # type: ignore[assignment]

    def lng_of(self, connection: VpnConnection) -> LocalNetworkGateway:
        return connection.local_network_gateway or self.local_network_gateway

    @property
    def local_network_gateways(self) -> list[LocalNetworkGateway]:
        """Every local network gateway the connections use, once each (by name), the default first."""
        out: list[LocalNetworkGateway] = []
        for lng in [self.local_network_gateway, *(self.lng_of(c) for c in self.connections)]:
            if all(o.name.lower() != lng.name.lower() for o in out):
                out.append(lng)
        return out


class LoadBalancer(SpecModel):
    name: str
    subnet: str
    private_ip: str


class Rotation(SpecModel):
    """Key rotation for a site. Off until the on-premises appliance takes its key from Key Vault (the
    version tagged state=pending, then active, of the site's secret): rotating a key the appliance
    cannot fetch takes the VPN backup down. Turn it on per site once the appliance follows Key Vault."""

    enabled: StrictBool = False


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _minutes(text: str, what: str) -> int:
    try:
        hours, minutes = (int(p) for p in text.split(":"))
    except (ValueError, AttributeError):
        raise ValueError(f"{what}: {text!r} is not HH:MM") from None
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise ValueError(f"{what}: {text!r} is not a time of day (00:00-23:59)")
    return hours * 60 + minutes


class MaintenanceWindow(SpecModel):
    """When scheduled failover drills may start (UTC): on `days` (mon..sun, default every day) from
    `start` to `end` (HH:MM; an end before the start runs past midnight into the next day)."""

    days: list[str] = Field(default_factory=lambda: list(DAYS))
    start: str
    end: str

    @model_validator(mode="after")
    def _check(self) -> MaintenanceWindow:
        bad = [d for d in self.days if d not in DAYS]
        if bad or not self.days:
            raise ValueError(f"maintenanceWindow.days: {bad or 'empty'}: use {', '.join(DAYS)}")
        if _minutes(self.start, "maintenanceWindow.start") == _minutes(self.end, "maintenanceWindow.end"):
            raise ValueError("maintenanceWindow: start and end are the same time")
        return self

    def contains(self, when: Any) -> bool:
        """Whether the UTC datetime `when` is inside the window."""
        start, end = _minutes(self.start, "start"), _minutes(self.end, "end")
        minute = when.hour * 60 + when.minute
        day = DAYS[when.weekday()]
        previous = DAYS[(when.weekday() - 1) % 7]
        if start < end:
            return day in self.days and start <= minute < end
        return (day in self.days and minute >= start) or (previous in self.days and minute < end)


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
    maintenance_window: MaintenanceWindow | None = None  # scheduled failover drills start only inside it

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
