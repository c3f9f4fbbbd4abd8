"""Per-type knowledge: validation, server-filled fields and the response shape, as Azure does it.

``shape`` turns a client body into the stored body (read-only fields dropped, server fields filled);
``render`` adds what Azure computes on read (connection status and traffic, back-references from
subnets and public IPs). Error codes follow ARM where known; the codes marked "sim" below are the
simulator's choice where the real code is not documented.
"""

from __future__ import annotations

import copy
import ipaddress
import itertools
import uuid
from typing import Any

from hybridnet_dev.armsim.ids import ArmError, ResourceId, same_id
from hybridnet_dev.armsim.physics import Physics
from hybridnet_dev.armsim.store import Body, Record, Store

# Types the ARM API may write; expressRouteCircuits belong to the provider (control API only).
WRITABLE = {
    "virtualNetworks",
    "publicIPAddresses",
    "virtualNetworkGateways",
    "localNetworkGateways",
    "connections",
    "loadBalancers",
    "networkSecurityGroups",
}
# Types with a subscription-wide list (the SDK's ``list_all``).
LIST_ALL = {
    "virtualNetworks",
    "publicIPAddresses",
    "expressRouteCircuits",
    "loadBalancers",
    "networkSecurityGroups",
}

READ_ONLY_PROPS = (
    "provisioningState",
    "resourceGuid",
    "connectionStatus",
    "ingressBytesTransferred",
    "egressBytesTransferred",
    "tunnelConnectionStatus",
    "sharedKey",
)
GATEWAY_SUBNET = "GatewaySubnet"
_ip_pool = itertools.count(10)

# Properties that cannot change once the resource exists, per type: (JSON path below "properties", what
# it is called in the error, error code). Azure answers 400; the codes Azure does not document are the
# simulator's choice ("code: sim"). Sources: a gateway's type and VPN type cannot change ("An Azure VNet
# gateway type cannot be changed from policy-based to route-based or the other way. The gateway must be
# deleted and recreated", learn.microsoft.com/azure/vpn-gateway/vpn-gateway-vpn-faq); a connection is
# bound to its gateways/peer and type (delete and re-create it to re-point it).
IMMUTABLE: dict[str, tuple[tuple[str, str, str], ...]] = {
    "virtualNetworkGateways": (
        ("gatewayType", "gateway type", "GatewayTypeCannotBeChanged"),  # code: sim
        ("vpnType", "VPN type", "VpnTypeCannotBeChanged"),  # code: sim
    ),
    "connections": (
        ("connectionType", "connection type", "ConnectionTypeCannotBeChanged"),  # code: sim
        (
            "virtualNetworkGateway1.id",
            "virtual network gateway",
            "ConnectionGatewayCannotBeChanged",
        ),  # code: sim
        (
            "virtualNetworkGateway2.id",
            "second virtual network gateway",
            "ConnectionGatewayCannotBeChanged",
        ),  # code: sim
        ("localNetworkGateway2.id", "local network gateway", "ConnectionGatewayCannotBeChanged"),  # code: sim
        ("peer.id", "ExpressRoute circuit (peer)", "ConnectionPeerCannotBeChanged"),  # code: sim
    ),
}
# Reference fields a body may hold, whose target a write depends on (409 while that target is busy).
REFERENCE_KEYS = ("subnet", "publicIPAddress", "networkSecurityGroup", "virtualNetworkGateway1",
                  "virtualNetworkGateway2", "localNetworkGateway2", "peer")  # fmt: skip


def _path(body: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.strip("/").lower() == b.strip("/").lower()
    return bool(a == b)


def check_immutable(rid: ResourceId, existing: Body, incoming: Any) -> None:
    """400 when ``incoming`` changes a property of ``IMMUTABLE`` on an existing resource."""
    if not isinstance(incoming, dict):
        return
    old_props = existing.get("properties") or {}
    new_props = incoming.get("properties") or {}
    for path, label, code in IMMUTABLE.get(rid.type, ()):
        old, new = _path(old_props, path), _path(new_props, path)
        if new is None or old is None or _same(old, new):
            continue
        raise ArmError(
            400,
            code,
            f"The {label} of {rid.arm_type.rsplit('/', 1)[-1][:-1]} {rid} cannot be changed from '{old}' to "
            f"'{new}' after it is created. Delete the resource and create it again to change it.",
        )


def references(body: Any) -> list[ResourceId]:
    """Every Microsoft.Network resource ``body`` references (recursively), for dependency checks."""
    found: list[ResourceId] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                ref = _ref(value) if key in REFERENCE_KEYS else None
                if ref:
                    try:
                        found.append(ResourceId.parse(ref))
                    except ArmError:
                        pass
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(body)
    return found


def prefix_in_use(rid: ResourceId, name: str, prefix: str, user: str) -> ArmError:
    """ARM's answer to removing or changing a prefix that IP configurations use (hashicorp/
    terraform-provider-azurerm#11211: 400 InUsePrefixCannotBeDeleted)."""
    return ArmError(
        400,
        "InUsePrefixCannotBeDeleted",
        f"IpPrefix {prefix} on Subnet {name} has active allocations and cannot be deleted.",
    )


def subnet_in_use(rid: ResourceId, name: str, user: str) -> ArmError:
    return ArmError(
        400,
        "InUseSubnetCannotBeDeleted",
        f"Subnet {name} is in use by {user} and cannot be deleted. In order to delete the subnet, delete all "
        "the resources within the subnet. See aka.ms/deletesubnet.",
    )


def _prefixes(props: Body) -> set[str]:
    out = set(props.get("addressPrefixes") or [])
    if props.get("addressPrefix"):
        out.add(str(props["addressPrefix"]))
    return out


def missing(path: str) -> ArmError:
    return ArmError(
        400, "InvalidRequestFormat", f"Cannot parse the request. Required property '{path}' is missing."
    )


def bad_reference(ref: str, owner: ResourceId) -> ArmError:
    return ArmError(
        400,
        "InvalidResourceReference",
        f"Resource {ref} referenced by resource {owner} was not found. Please make sure that the referenced "
        "resource exists, and that both resources are in the same region.",
    )


def _ref(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


class Shaper:
    def __init__(self, store: Store, physics: Physics) -> None:
        self.store = store
        self.physics = physics

    def _exists(self, ref: str | None) -> Body | None:
        if not ref:
            return None
        try:
            return self.store.body_of(ResourceId.parse(ref))
        except ArmError:
            return None

    def _require_ref(self, value: Any, path: str, owner: ResourceId) -> tuple[str, Body]:
        ref = _ref(value)
        if ref is None:
            raise missing(path)
        body = self._exists(ref)
        if body is None:
            raise bad_reference(ref, owner)
        return ref, body

    # --- entry points -------------------------------------------------------------------------------
    def shape(self, rid: ResourceId, incoming: Body, existing: Body | None, *, validate: bool = True) -> Body:
        """The body to store for a PUT of ``incoming`` on ``rid`` (top-level resources)."""
        if not isinstance(incoming, dict):
            raise ArmError(
                400, "InvalidRequestFormat", "Cannot parse the request. The body must be a JSON object."
            )
        body: Body = {
            k: copy.deepcopy(v) for k, v in incoming.items() if k not in ("id", "name", "type", "etag")
        }
        body = {"name": rid.name, "id": str(rid), "type": rid.arm_type, **body}
        if not body.get("location"):
            if existing and existing.get("location"):
                body["location"] = existing["location"]
            else:
                raise ArmError(
                    400, "LocationRequired", "The location property is required for this definition."
                )
        props = body.get("properties")
        if props is None:
            props = {}
        if not isinstance(props, dict):
            raise ArmError(
                400, "InvalidRequestFormat", "Cannot parse the request. 'properties' must be an object."
            )
        for key in READ_ONLY_PROPS:
            props.pop(key, None)
        old = (existing or {}).get("properties", {})
        props = {
            "provisioningState": "Succeeded",
            "resourceGuid": old.get("resourceGuid") or str(uuid.uuid4()),
            **props,
        }
        body["properties"] = props
        getattr(self, f"_shape_{rid.type}")(rid, body, props, old, validate)
        return body

    def shape_subnet(self, rid: ResourceId, incoming: Body, vnet: Body, *, validate: bool = True) -> Body:
        props = dict(incoming.get("properties") or {})
        for key in READ_ONLY_PROPS:
            props.pop(key, None)
        subnet = {"name": rid.child_name, "id": str(rid), "etag": vnet.get("etag", ""), "properties": props}
        self._fill_subnet(rid, subnet, validate)
        return subnet

    def render(self, record: Record, *, listing: bool = False, put: bool = False) -> Body:
        """The body Azure answers: GET (``listing``: an item of a list; ``put``: a PUT's response)."""
        body = copy.deepcopy(record.body)
        props = body.setdefault("properties", {})
        rtype = record.rid.type
        if rtype == "connections":
            # A LIST omits connectionStatus, and a PUT's response has none either (the connection's
            # CreateOrUpdate example, Microsoft.Network 2025-05-01): only a GET reports it.
            if put:
                props["ingressBytesTransferred"] = props["egressBytesTransferred"] = 0
            else:
                status = self.physics.connection_status(record)
                if not listing:
                    props["connectionStatus"] = status
                ingress, egress = self.physics.traffic(str(record.rid))
                props["ingressBytesTransferred"] = ingress
                props["egressBytesTransferred"] = egress
            for key in ("virtualNetworkGateway1", "virtualNetworkGateway2", "localNetworkGateway2"):
                if isinstance(props.get(key), dict):
                    props[key] = {"id": props[key].get("id"), "properties": {}}
        elif rtype == "virtualNetworks":
            for subnet in props.get("subnets", []) or []:
                self._render_subnet(subnet)
        elif rtype == "publicIPAddresses":
            users = self._ip_configs_referencing("publicIPAddress", str(record.rid))
            if users:
                props["ipConfiguration"] = {"id": users[0]}
        elif rtype == "loadBalancers":
            _lb_back_references(props)
        return body

    def subnet_users(self, subnet_id: str) -> list[str]:
        return self._ip_configs_referencing("subnet", subnet_id)

    def check_subnet_prefix(self, rid: ResourceId, subnet: Body, incoming: Body) -> None:
        """A subnet in use keeps its prefixes (400 InUsePrefixCannotBeDeleted)."""
        users = self.subnet_users(str(rid))
        if not users:
            return
        old = _prefixes(subnet.get("properties") or {})
        new = _prefixes(incoming.get("properties") or {})
        for prefix in sorted(old - new):
            raise prefix_in_use(rid, str(rid.child_name), prefix, users[0])

    def check_vnet_subnets(self, rid: ResourceId, existing: Body, incoming: Any) -> None:
        """A VNet PUT keeps every subnet in use, with its prefixes."""
        if not isinstance(incoming, dict):
            return
        wanted = {
            str(s.get("name", "")).lower(): s
            for s in (incoming.get("properties") or {}).get("subnets") or []
            if isinstance(s, dict)
        }
        for subnet in (existing.get("properties") or {}).get("subnets") or []:
            name = str(subnet.get("name", ""))
            srid = ResourceId(rid.subscription, rid.resource_group, rid.type, rid.name, "subnets", name)
            users = self.subnet_users(str(srid))
            if not users:
                continue
            if name.lower() not in wanted:
                raise subnet_in_use(srid, name, users[0])
            self.check_subnet_prefix(srid, subnet, wanted[name.lower()])

    def render_subnet(self, subnet: Body) -> Body:
        out = copy.deepcopy(subnet)
        self._render_subnet(out)
        return out

    def _render_subnet(self, subnet: Body) -> None:
        users = self._ip_configs_referencing("subnet", str(subnet.get("id", "")))
        if users:
            subnet.setdefault("properties", {})["ipConfigurations"] = [{"id": u} for u in users]

    def _ip_configs_referencing(self, field: str, target: str) -> list[str]:
        found = []
        for gw in self.store.list("virtualNetworkGateways"):
            for cfg in gw.body.get("properties", {}).get("ipConfigurations", []) or []:
                if same_id(_ref(cfg.get("properties", {}).get(field)), target):
                    found.append(str(cfg.get("id")))
        for lb in self.store.list("loadBalancers"):
            for cfg in lb.body.get("properties", {}).get("frontendIPConfigurations", []) or []:
                if same_id(_ref(cfg.get("properties", {}).get(field)), target):
                    found.append(str(cfg.get("id")))
        return found

    # --- per type -----------------------------------------------------------------------------------
    def _children(self, parent: ResourceId, items: Any, child: str, typed: bool = True) -> list[Body]:
        out = []
        for item in items or []:
            if not isinstance(item, dict) or not item.get("name"):
                raise missing(f"properties.{child}[].name")
            entry = {k: v for k, v in item.items() if k not in ("id", "etag", "type")}
            entry = {"name": item["name"], "id": f"{parent}/{child}/{item['name']}", "etag": "", **entry}
            if typed:
                entry["type"] = f"{parent.arm_type}/{child}"
            cprops = dict(entry.get("properties") or {})
            cprops.pop("provisioningState", None)
            entry["properties"] = {"provisioningState": "Succeeded", **cprops}
            out.append(entry)
        return out

    def _shape_virtualNetworks(
        self, rid: ResourceId, body: Body, props: Body, old: Body, validate: bool
    ) -> None:
        prefixes = (props.get("addressSpace") or {}).get("addressPrefixes")
        if validate and not prefixes:
            raise missing("properties.addressSpace.addressPrefixes")
        subnets = []
        for item in props.get("subnets", []) or []:
            if not isinstance(item, dict) or not item.get("name"):
                raise missing("properties.subnets[].name")
            srid = ResourceId(
                rid.subscription, rid.resource_group, rid.type, rid.name, "subnets", item["name"]
            )
            subnets.append(self.shape_subnet(srid, item, body, validate=validate))
        props["subnets"] = subnets
        props.setdefault("virtualNetworkPeerings", [])
        props.setdefault("enableDdosProtection", False)
        # Azure's DHCP options: no custom DNS servers means Azure-provided DNS, shown as an empty list.
        props.setdefault("dhcpOptions", {"dnsServers": []})

    def _fill_subnet(self, rid: ResourceId, subnet: Body, validate: bool) -> None:
        props = subnet["properties"]
        props.pop("ipConfigurations", None)  # computed on read
        subnet["properties"] = {"provisioningState": "Succeeded", **props}
        subnet["type"] = rid.arm_type
        if validate and not (props.get("addressPrefix") or props.get("addressPrefixes")):
            raise missing("properties.subnets[].properties.addressPrefix")
        nsg = _ref(props.get("networkSecurityGroup"))
        if validate and nsg:
            if str(rid.child_name).lower() == GATEWAY_SUBNET.lower():
                raise ArmError(  # code: sim
                    400,
                    "NetworkSecurityGroupNotAllowedOnGatewaySubnet",
                    f"Subnet {rid} is the GatewaySubnet: a network security group on it is not supported.",
                )
            if self._exists(nsg) is None:
                raise bad_reference(nsg, rid)

    def _shape_publicIPAddresses(
        self, rid: ResourceId, body: Body, props: Body, old: Body, validate: bool
    ) -> None:
        sku = body.setdefault("sku", {"name": "Standard", "tier": "Regional"})
        default_method = "Static" if str(sku.get("name", "")).lower() == "standard" else "Dynamic"
        props.setdefault("publicIPAddressVersion", "IPv4")
        props.setdefault("publicIPAllocationMethod", default_method)
        props.setdefault("idleTimeoutInMinutes", 4)
        props.setdefault("ipTags", [])
        # Without a DDoS plan of its own, a public IP inherits its VNet's protection.
        props.setdefault("ddosSettings", {"protectionMode": "VirtualNetworkInherited"})
        props.pop("ipConfiguration", None)  # computed on read
        props["ipAddress"] = (
            old.get("ipAddress") or props.get("ipAddress") or f"20.62.{next(_ip_pool) % 250}.{7}"
        )

    def _shape_virtualNetworkGateways(
        self, rid: ResourceId, body: Body, props: Body, old: Body, validate: bool
    ) -> None:
        gtype = props.get("gatewayType")
        if validate and gtype not in ("Vpn", "ExpressRoute", "LocalGateway"):
            raise (
                missing("properties.gatewayType")
                if gtype is None
                else ArmError(
                    400, "InvalidRequestFormat", f"Cannot parse the request. Invalid gatewayType '{gtype}'."
                )
            )
        configs = props.get("ipConfigurations") or []
        if validate and not configs:
            raise missing("properties.ipConfigurations")
        for cfg in configs:
            cprops = cfg.get("properties") or {}
            if not validate:
                continue
            subnet_ref, _ = self._require_ref(
                cprops.get("subnet"), "properties.ipConfigurations[].subnet", rid
            )
            if not subnet_ref.rstrip("/").lower().endswith("/subnets/" + GATEWAY_SUBNET.lower()):
                raise ArmError(  # code: sim
                    400,
                    "InvalidGatewaySubnet",
                    f"Subnet {subnet_ref} referenced by virtual network gateway {rid} is not named "
                    f"'{GATEWAY_SUBNET}'. Gateways can only be deployed in the GatewaySubnet.",
                )
            if cprops.get("publicIPAddress") is not None:
                self._require_ref(
                    cprops.get("publicIPAddress"), "properties.ipConfigurations[].publicIPAddress", rid
                )
        props["ipConfigurations"] = self._children(rid, configs, "ipConfigurations", typed=False)
        for cfg in props["ipConfigurations"]:
            cfg["properties"].setdefault("privateIPAllocationMethod", "Dynamic")
        sku = props.setdefault("sku", {"name": "VpnGw1" if gtype == "Vpn" else "Standard"})
        sku.setdefault("tier", sku.get("name"))
        sku["capacity"] = 2  # computed: the gateway's instances (two, active-standby or active-active)
        for key in ("enableBgp", "activeActive", "enablePrivateIpAddress", "disableIPSecReplayProtection"):
            props.setdefault(key, False)
        props.setdefault("enableHighBandwidthVpnGateway", False)
        props.setdefault("allowVirtualWanTraffic", False)
        props.setdefault("allowRemoteVnetTraffic", False)
        if gtype == "Vpn":
            props.setdefault("vpnType", "RouteBased")
            props.setdefault("vpnGatewayGeneration", "Generation1")
            props.setdefault("natRules", [])
            props.setdefault("enableBgpRouteTranslationForNat", False)
        # BGP settings and each IP configuration's addresses are computed from the GatewaySubnet (the
        # gateway's instances take its last addresses) and the configurations' public IPs.
        bgp = props.get("bgpSettings") if isinstance(props.get("bgpSettings"), dict) else {}
        bgp.setdefault("asn", 65515)
        bgp.setdefault("peerWeight", 0)
        custom = {
            str(e.get("ipconfigurationId", "")).lower(): e.get("customBgpIpAddresses") or []
            for e in bgp.get("bgpPeeringAddresses") or []
            if isinstance(e, dict)
        }
        peering = []
        for index, cfg in enumerate(props["ipConfigurations"]):
            address = self.physics.gateway_address(body, index + 1)
            if props.get("enablePrivateIpAddress"):
                cfg["properties"]["privateIPAddress"] = address
            pip = self._exists(_ref(cfg["properties"].get("publicIPAddress"))) or {}
            tunnel = pip.get("properties", {}).get("ipAddress")
            peering.append(
                {
                    "ipconfigurationId": cfg["id"],
                    "defaultBgpIpAddresses": [address],
                    "customBgpIpAddresses": list(custom.get(str(cfg["id"]).lower(), [])),
                    "tunnelIpAddresses": [tunnel] if tunnel and gtype == "Vpn" else [],
                }
            )
        bgp["bgpPeeringAddress"] = ",".join(p["defaultBgpIpAddresses"][0] for p in peering) or (
            self.physics.gateway_address(body, 1)
        )
        bgp["bgpPeeringAddresses"] = peering
        props["bgpSettings"] = bgp
        if gtype != "Vpn":
            props.setdefault("vpnGatewayGeneration", "None")

    def _shape_localNetworkGateways(
        self, rid: ResourceId, body: Body, props: Body, old: Body, validate: bool
    ) -> None:
        if validate and not (props.get("gatewayIpAddress") or props.get("fqdn")):
            raise missing("properties.gatewayIpAddress")
        if validate and props.get("gatewayIpAddress"):
            try:
                ipaddress.ip_address(str(props["gatewayIpAddress"]))
            except ValueError as exc:
                raise ArmError(
                    400,
                    "InvalidRequestFormat",
                    f"Cannot parse the request. '{props['gatewayIpAddress']}' is not an IP.",
                ) from exc
        props.setdefault("localNetworkAddressSpace", {"addressPrefixes": []})

    def _shape_connections(self, rid: ResourceId, body: Body, props: Body, old: Body, validate: bool) -> None:
        ctype = props.get("connectionType")
        if validate:
            if ctype is None:
                raise missing("properties.connectionType")
            if ctype not in ("IPsec", "ExpressRoute", "Vnet2Vnet", "VPNClient"):
                raise ArmError(
                    400,
                    "InvalidRequestFormat",
                    f"Cannot parse the request. Invalid connectionType '{ctype}'.",
                )
            _, gw = self._require_ref(
                props.get("virtualNetworkGateway1"), "properties.virtualNetworkGateway1", rid
            )
            gw_type = gw.get("properties", {}).get("gatewayType")
            wanted = "ExpressRoute" if ctype == "ExpressRoute" else "Vpn"
            if gw_type != wanted:
                raise ArmError(  # code: sim
                    400,
                    "InvalidGatewayTypeForConnection",
                    f"Connection {rid} of type {ctype} needs a gateway of type {wanted}; "
                    f"{_ref(props['virtualNetworkGateway1'])} is of type {gw_type}.",
                )
            if ctype == "IPsec":
                self._require_ref(props.get("localNetworkGateway2"), "properties.localNetworkGateway2", rid)
            if ctype == "ExpressRoute":
                self._require_ref(props.get("peer"), "properties.peer", rid)
        for key in ("virtualNetworkGateway1", "virtualNetworkGateway2", "localNetworkGateway2", "peer"):
            ref = _ref(props.get(key))
            if ref:
                props[key] = {"id": ref}
        props.setdefault("routingWeight", 0)
        props.setdefault("enableBgp", False)
        props.setdefault("usePolicyBasedTrafficSelectors", False)
        props.setdefault("ipsecPolicies", [])
        props.setdefault("trafficSelectorPolicies", [])
        props.setdefault("ingressNatRules", [])
        props.setdefault("egressNatRules", [])
        if ctype == "IPsec":
            props.setdefault("authenticationType", "PSK")
            props.setdefault("gatewayCustomBgpIpAddresses", [])
            props.setdefault("connectionProtocol", "IKEv2")
            props.setdefault("dpdTimeoutSeconds", 45)
            props.setdefault("useLocalAzureIpAddress", False)
            props.setdefault("connectionMode", "Default")
        elif ctype == "ExpressRoute":
            props.setdefault("expressRouteGatewayBypass", False)
            props.setdefault("enablePrivateLinkFastPath", False)

    def _shape_expressRouteCircuits(
        self, rid: ResourceId, body: Body, props: Body, old: Body, validate: bool
    ) -> None:
        props.setdefault("peerings", [])
        props.setdefault("authorizations", [])
        props.setdefault(
            "serviceProviderProperties",
            {"serviceProviderName": "Equinix", "peeringLocation": "Silicon Valley", "bandwidthInMbps": 1000},
        )
        props.setdefault("circuitProvisioningState", "Enabled")
        props.setdefault("allowClassicOperations", False)
        props.setdefault("serviceKey", old.get("serviceKey") or str(uuid.uuid4()))
        props.setdefault("serviceProviderProvisioningState", "Provisioned")
        props.pop("resourceGuid", None)  # circuits have none
        body.setdefault("sku", {"name": "Standard_MeteredData", "tier": "Standard", "family": "MeteredData"})

    def _shape_loadBalancers(
        self, rid: ResourceId, body: Body, props: Body, old: Body, validate: bool
    ) -> None:
        body.setdefault("sku", {"name": "Standard"})
        frontends = props.get("frontendIPConfigurations") or []
        for fe in frontends:
            fprops = fe.get("properties") or {}
            if validate and fprops.get("subnet") is not None:
                self._require_ref(fprops.get("subnet"), "properties.frontendIPConfigurations[].subnet", rid)
            if validate and fprops.get("publicIPAddress") is not None:
                self._require_ref(
                    fprops.get("publicIPAddress"),
                    "properties.frontendIPConfigurations[].publicIPAddress",
                    rid,
                )
        props["frontendIPConfigurations"] = self._children(rid, frontends, "frontendIPConfigurations")
        taken = {
            str((fe.get("properties") or {}).get("privateIPAddress"))
            for fe in (old.get("frontendIPConfigurations") or []) + frontends
        }
        for fe in props["frontendIPConfigurations"]:
            fprops = fe["properties"]
            fprops.setdefault(
                "privateIPAllocationMethod", "Static" if fprops.get("privateIPAddress") else "Dynamic"
            )
            if fprops.get("subnet") is not None:
                fprops.setdefault("privateIPAddressVersion", "IPv4")
                if not fprops.get("privateIPAddress"):  # Dynamic: Azure picks a free address of the subnet
                    fprops["privateIPAddress"] = self._free_address(fprops["subnet"], taken, fe, old)
        for child in ("backendAddressPools", "loadBalancingRules", "probes", "inboundNatRules"):
            props[child] = self._children(rid, props.get(child), child)
        props.setdefault("inboundNatPools", [])

    def _free_address(self, subnet_ref: Any, taken: set[str], frontend: Body, old: Body) -> str | None:
        for previous in old.get("frontendIPConfigurations") or []:
            if same_id(previous.get("id"), frontend.get("id")):
                kept = (previous.get("properties") or {}).get("privateIPAddress")
                if kept:
                    return str(kept)
        subnet = self._exists(_ref(subnet_ref)) or {}
        sprops = subnet.get("properties") or {}
        prefix = sprops.get("addressPrefix") or (sprops.get("addressPrefixes") or [None])[0]
        for index in range(4, 4096):  # Azure reserves the first four addresses of a subnet
            address = _host(prefix, index)
            if address is None:
                return None
            if address not in taken:
                taken.add(address)
                return address
        return None

    def _shape_networkSecurityGroups(
        self, rid: ResourceId, body: Body, props: Body, old: Body, validate: bool
    ) -> None:
        props["securityRules"] = self._children(rid, props.get("securityRules"), "securityRules")
        props["defaultSecurityRules"] = self._children(rid, _default_rules(), "defaultSecurityRules")


# Load balancer children that point at others, and the back-reference Azure computes on the target:
# (child list, reference field, target list, back-reference list on the target).
LB_BACK_REFERENCES = (
    ("loadBalancingRules", "frontendIPConfiguration", "frontendIPConfigurations", "loadBalancingRules"),
    ("loadBalancingRules", "backendAddressPool", "backendAddressPools", "loadBalancingRules"),
    ("loadBalancingRules", "probe", "probes", "loadBalancingRules"),
    ("inboundNatRules", "frontendIPConfiguration", "frontendIPConfigurations", "inboundNatRules"),
)


def _lb_back_references(props: Body) -> None:
    """Frontends, pools and probes list the rules that use them, as Azure returns them."""
    for source, field, target, back in LB_BACK_REFERENCES:
        for item in props.get(target) or []:
            item.setdefault("properties", {}).pop(back, None)
        for rule in props.get(source) or []:
            ref = _ref((rule.get("properties") or {}).get(field))
            for item in props.get(target) or []:
                if ref and same_id(ref, str(item.get("id", ""))):
                    item["properties"].setdefault(back, []).append({"id": rule.get("id")})


def _host(prefix: str | None, index: int) -> str | None:
    """The ``index``-th address of a subnet prefix (Azure reserves the first four)."""
    try:
        net = ipaddress.ip_network(str(prefix), strict=False)
    except ValueError:
        return None
    return str(net.network_address + index) if net.num_addresses > index + 1 else None


def _default_rules() -> list[Body]:
    rules = [
        ("AllowVnetInBound", "Allow inbound traffic from all VMs in VNET", "VirtualNetwork", "VirtualNetwork", "Allow", 65000, "Inbound"),
        ("AllowAzureLoadBalancerInBound", "Allow inbound traffic from azure load balancer", "AzureLoadBalancer", "*", "Allow", 65001, "Inbound"),
        ("DenyAllInBound", "Deny all inbound traffic", "*", "*", "Deny", 65500, "Inbound"),
        ("AllowVnetOutBound", "Allow outbound traffic from all VMs to all VMs in VNET", "VirtualNetwork", "VirtualNetwork", "Allow", 65000, "Outbound"),
        ("AllowInternetOutBound", "Allow outbound traffic from all VMs to Internet", "*", "Internet", "Allow", 65001, "Outbound"),
        ("DenyAllOutBound", "Deny all outbound traffic", "*", "*", "Deny", 65500, "Outbound"),
    ]  # fmt: skip
    return [
        {
            "name": name,
            "properties": {
                "description": desc,
                "protocol": "*",
                "sourcePortRange": "*",
                "destinationPortRange": "*",
                "sourceAddressPrefix": src,
                "destinationAddressPrefix": dst,
                "access": access,
                "priority": prio,
                "direction": direction,
            },
        }
        for name, desc, src, dst, access, prio, direction in rules
    ]
