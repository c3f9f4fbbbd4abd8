"""Seeding the simulator from a spec: every site provisioned and Connected (or, with ``empty``, nothing).

Either way the provider's side exists: each site's ExpressRoute circuit (a read-only resource at the
spec's circuit id, in its own subscription and resource group, Provisioned and up) and the on-prem VPN
appliance (up). Seeded, the appliance holds the same random pre-shared key as the IPsec connection.
Empty, the appliance has NO key: a VPN connection stays NotConnected until a key is configured on the
appliance through the control API (``PUT /_sim/appliances/{ip}`` with ``sharedKey``), as an on-prem
engineer would have to.
"""

from __future__ import annotations

from hybridnet_dev.armsim.ids import ResourceId
from hybridnet_dev.armsim.physics import Circuit
from hybridnet_dev.armsim.sim import Simulator, generate_key
from hybridnet_dev.armsim.store import Body
from shared.spec.model import NetworkSpec, Site


def seed(sim: Simulator, spec: NetworkSpec | None, *, empty: bool = False) -> None:
    if spec is None:
        return
    for site in spec.sites:
        _provider_side(sim, site)
        if not empty:
            _site(sim, site)


def _put(sim: Simulator, rid: ResourceId, body: Body) -> None:
    shaped = sim.shaper.shape(rid, body, None)
    sim.store.put(rid, shaped, notify=False)


def _provider_side(sim: Simulator, site: Site) -> None:
    circuit_id = ResourceId.parse(site.express_route.connection.circuit_id)
    if sim.physics.circuit(str(circuit_id)) is None:
        shaped = sim.shaper.shape(
            circuit_id, {"location": site.location, "properties": {}}, None, validate=False
        )
        sim.store.put(circuit_id, shaped, notify=False)
        sim.physics.add_circuit(Circuit(str(circuit_id), up=True, prefixes=site.er_prefixes))
    appliance = sim.physics.appliance(site.on_premises.appliance_ip)
    appliance.advertise = list(site.on_premises.address_space)  # what it announces once BGP runs


def _site(sim: Simulator, site: Site) -> None:
    sub, rg, loc = sim.subscription_id, site.resource_group, site.location

    def rid(rtype: str, name: str) -> ResourceId:
        return ResourceId(sub, rg, rtype, name)

    def ref(r: ResourceId) -> Body:
        return {"id": str(r)}

    vnet = rid("virtualNetworks", site.vnet.name)
    subnets = [{"name": "GatewaySubnet", "properties": {"addressPrefix": site.vnet.gateway_subnet}}]
    subnets += [{"name": s.name, "properties": {"addressPrefix": s.prefix}} for s in site.vnet.subnets]
    _put(
        sim,
        vnet,
        {
            "location": loc,
            "properties": {
                "addressSpace": {"addressPrefixes": list(site.vnet.address_space)},
                "subnets": subnets,
            },
        },
    )
    gateway_subnet = {"id": f"{vnet}/subnets/GatewaySubnet"}

    er, vpn = site.express_route, site.vpn
    er_pip, vpn_pip = (
        rid("publicIPAddresses", er.gateway.public_ip_name),
        rid("publicIPAddresses", vpn.gateway.public_ip_name),
    )
    for pip in (er_pip, vpn_pip):
        _put(
            sim,
            pip,
            {
                "location": loc,
                "sku": {"name": "Standard", "tier": "Regional"},
                "properties": {"publicIPAllocationMethod": "Static"},
            },
        )

    def ip_config(pip: ResourceId) -> list[Body]:
        props = {
            "privateIPAllocationMethod": "Dynamic",
            "subnet": gateway_subnet,
            "publicIPAddress": ref(pip),
        }
        return [{"name": "default", "properties": props}]

    er_gw = rid("virtualNetworkGateways", er.gateway.name)
    _put(
        sim,
        er_gw,
        {
            "location": loc,
            "properties": {
                "gatewayType": "ExpressRoute",
                "sku": {"name": er.gateway.sku, "tier": er.gateway.sku},
                "ipConfigurations": ip_config(er_pip),
            },
        },
    )
    vpn_gw = rid("virtualNetworkGateways", vpn.gateway.name)
    vpn_props = {
        "gatewayType": "Vpn",
        "vpnType": vpn.gateway.vpn_type,
        "vpnGatewayGeneration": vpn.gateway.generation,
        "sku": {"name": vpn.gateway.sku, "tier": vpn.gateway.sku},
        "ipConfigurations": ip_config(vpn_pip),
    }
    _put(sim, vpn_gw, {"location": loc, "properties": vpn_props})

    lng = rid("localNetworkGateways", vpn.local_network_gateway.name)
    lng_props = {
        "gatewayIpAddress": site.on_premises.appliance_ip,
        "localNetworkAddressSpace": {"addressPrefixes": site.lng_prefixes},
    }
    _put(sim, lng, {"location": loc, "properties": lng_props})

    er_conn = rid("connections", er.connection.name)
    er_conn_props = {
        "connectionType": "ExpressRoute",
        "virtualNetworkGateway1": ref(er_gw),
        "peer": {"id": str(ResourceId.parse(er.connection.circuit_id))},
        "routingWeight": er.connection.routing_weight,
    }
    _put(sim, er_conn, {"location": loc, "properties": er_conn_props})

    vpn_conn = rid("connections", vpn.connection.name)
    vpn_conn_props = {
        "connectionType": "IPsec",
        "connectionProtocol": vpn.connection.ike_version,
        "virtualNetworkGateway1": ref(vpn_gw),
        "localNetworkGateway2": ref(lng),
        "routingWeight": vpn.connection.routing_weight,
    }
    _put(sim, vpn_conn, {"location": loc, "properties": vpn_conn_props})
    key = generate_key()
    sim.physics.set_key(str(vpn_conn), key)
    sim.physics.appliance(site.on_premises.appliance_ip).shared_key = key

    lb = site.load_balancer
    frontend = {
        "name": "frontend",
        "properties": {
            "privateIPAddress": lb.private_ip,
            "privateIPAllocationMethod": "Static",
            "subnet": {"id": f"{vnet}/subnets/{lb.subnet}"},
        },
    }
    _put(
        sim,
        rid("loadBalancers", lb.name),
        {
            "location": loc,
            "sku": {"name": "Standard", "tier": "Regional"},
            "properties": {"frontendIPConfigurations": [frontend]},
        },
    )
