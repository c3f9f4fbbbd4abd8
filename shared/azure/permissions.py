"""The Azure RBAC actions behind every Microsoft.Network SDK call the adapter layer makes, and behind every
resource its request bodies can reference.

Pure data, no SDK import. `tests/test_infra.py` derives from the code:
- the calls really made: every `client.<operation group>.<method>(...)` in `shared/azure/*.py` (and
  `ops.<method>(...)` where `ops` was picked from a dict of operation groups); a call without an entry
  here fails the test;
- the references the request bodies can carry: a write sends the spec's body when it creates a resource
  (shared/drift/desired.py) and, when it updates one, the body ARM returned with fields patched
  (shared/drift/plan.py), so it can send back any writable reference of the SDK model of that resource.
  The test walks those models (from the operation groups the code writes through, `WRITE_MODELS`) and
  fails on any reference field that `REFERENCES` does not classify.
The custom roles in `infra/app-contract.json` must then grant exactly the actions of the calls plus the
linked actions of the references: nothing more, nothing less.

Linked access: ARM checks, on each resource a PUT body references, that the caller may "join" it, and
answers 403 LinkedAuthorizationFailed otherwise (e.g. "... does not have permission to perform action
'Microsoft.Network/networkSecurityGroups/join/action' on the linked scope(s) ..."). Action names are the
ones Microsoft publishes in "Azure permissions for Networking" (Azure RBAC resource provider operations);
ARM compares them case-insensitively; they are written here in the documented casing. Resource types for
which that list publishes no join action (local network gateways, virtual network gateways and their NAT
rules, IP allocations, Virtual WAN hub route tables and route maps) need no linked action: read access
on them is what the calls already hold.

Linked checks run on the referenced resource, where the role is assigned: the network role is
assignable only at the sites' resource groups, so an NSG, route table, NAT gateway... in another resource
group needs the same role assigned there too (README "Deploying").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

NET = "Microsoft.Network"
SUBNET_JOIN = f"{NET}/virtualNetworks/subnets/join/action"
PUBLIC_IP_JOIN = f"{NET}/publicIPAddresses/join/action"
CIRCUIT_JOIN = f"{NET}/expressRouteCircuits/join/action"

# SDK operation group (attribute of NetworkManagementClient) -> ARM resource type.
RESOURCE_TYPES: dict[str, str] = {
    "virtual_networks": f"{NET}/virtualNetworks",
    "subnets": f"{NET}/virtualNetworks/subnets",
    "public_ip_addresses": f"{NET}/publicIPAddresses",
    "virtual_network_gateways": f"{NET}/virtualNetworkGateways",
    "local_network_gateways": f"{NET}/localNetworkGateways",
    "virtual_network_gateway_connections": f"{NET}/connections",
    "load_balancers": f"{NET}/loadBalancers",
}

# Operation group -> the SDK model of the body its writes send (azure.mgmt.network.models).
WRITE_MODELS: dict[str, str] = {
    "virtual_networks": "VirtualNetwork",
    "subnets": "Subnet",
    "public_ip_addresses": "PublicIPAddress",
    "virtual_network_gateways": "VirtualNetworkGateway",
    "local_network_gateways": "LocalNetworkGateway",
    "virtual_network_gateway_connections": "VirtualNetworkGatewayConnection",
    "load_balancers": "LoadBalancer",
}

# Methods whose action is not the plain read/write of the group's resource type.
SPECIAL: dict[tuple[str, str], frozenset[str]] = {
    ("virtual_network_gateways", "begin_get_learned_routes"): frozenset(
        {f"{NET}/virtualNetworkGateways/getLearnedRoutes/action"}
    ),
    ("virtual_network_gateways", "begin_get_bgp_peer_status"): frozenset(
        {f"{NET}/virtualNetworkGateways/getBgpPeerStatus/action"}
    ),
    # ExpressRoute site failover simulation (failover drills): POST .../startSiteFailoverTest,
    # .../stopSiteFailoverTest, .../getFailoverAllTestsDetails on the gateway (the REST paths of
    # VirtualNetworkGateways_StartExpressRouteSiteFailoverSimulation, _StopExpressRouteSiteFailoverSimulation,
    # _GetFailoverAllTestDetails: azure-mgmt-network's operations, the .NET SDK reference and the
    # Start-/Stop-AzVirtualNetworkGatewaySiteFailoverTest cmdlet docs). ARM authorizes a POST on a
    # resource as "<type>/<last path segment>/action", as every other gateway POST in the Microsoft.Network
    # operations list (getLearnedRoutes, getBgpPeerStatus, getAdvertisedRoutes, startPacketCapture ...);
    # these names follow that rule. UNCONFIRMED: the operations lists searched (learn.microsoft.com
    # "Azure permissions for Networking" and its copies, the REST specs, public custom-role definitions)
    # publish no action for these operations yet; verify with `az provider operation show -n
    # Microsoft.Network` against a subscription before relying on a narrower role.
    ("virtual_network_gateways", "begin_start_express_route_site_failover_simulation"): frozenset(
        {f"{NET}/virtualNetworkGateways/startSiteFailoverTest/action"}
    ),
    ("virtual_network_gateways", "begin_stop_express_route_site_failover_simulation"): frozenset(
        {f"{NET}/virtualNetworkGateways/stopSiteFailoverTest/action"}
    ),
    ("virtual_network_gateways", "begin_get_failover_all_test_details"): frozenset(
        {f"{NET}/virtualNetworkGateways/getFailoverAllTestsDetails/action"}
    ),
    ("virtual_network_gateway_connections", "get_shared_key"): frozenset(
        {f"{NET}/connections/sharedKey/read"}
    ),
    ("virtual_network_gateway_connections", "begin_set_shared_key"): frozenset(
        {f"{NET}/connections/sharedKey/write"}
    ),
    # POST .../sharedkey/reset publishes no action of its own in the operations list; ARM authorizes it
    # as a write of the shared key (an assumption: verify against a real subscription).
    ("virtual_network_gateway_connections", "begin_reset_shared_key"): frozenset(
        {f"{NET}/connections/sharedKey/write"}
    ),
}

READ_METHODS = frozenset({"get", "list", "list_all"})
WRITE_METHODS = frozenset({"begin_create_or_update", "update_tags"})

# Polling a long-running operation is a request of its own, authorized by ARM: the poller GETs the
# Azure-AsyncOperation URL (.../providers/Microsoft.Network/locations/{region}/operations/{id}) until the
# operation ends and, for a POST (final state via Location), then the Location URL (.../operationResults/
# {id}) for the result. The actions are the ones the Microsoft.Network operations list publishes for them
# ("Gets operation resource that represents status of an asynchronous operation", "Gets operation result
# of an async POST or DELETE operation"); a caller without them gets AuthorizationFailed
# (Azure/azure-xplat-cli#2051) after its write or action was accepted.
POLL_STATUS = f"{NET}/locations/operations/read"
POLL_RESULT = f"{NET}/locations/operationResults/read"
# The LRO methods that PUT (final state from the resource itself, never the Location URL); every other
# `begin_*` method POSTs.
PUT_LROS = frozenset({"begin_create_or_update", "begin_set_shared_key"})


def poll_actions(method: str) -> frozenset[str]:
    """The actions polling `method`'s operation needs (none for a call that is not long-running)."""
    if not method.startswith("begin_"):
        return frozenset()
    return frozenset({POLL_STATUS} if method in PUT_LROS else {POLL_STATUS, POLL_RESULT})


# --- references in request bodies --------------------------------------------------------------------

CHILD = "child"  # a child of the resource being written, sent inside its body: its own fields are walked
SELF = "self"  # a reference to another part of the same resource (an LB rule to its own probe): no check

# "<SDK model>.<attribute>" -> CHILD, SELF, or the ARM resource type the reference points at. Every
# writable model-typed attribute reachable from WRITE_MODELS whose model carries an `id` must be here.
REFERENCES: dict[str, str] = {
    # virtual network: subnets and peerings travel inside the VNet's body
    "VirtualNetworkPropertiesFormat.subnets": CHILD,
    "VirtualNetworkPropertiesFormat.virtual_network_peerings": CHILD,
    "VirtualNetworkPropertiesFormat.ddos_protection_plan": f"{NET}/ddosProtectionPlans",
    "VirtualNetworkPropertiesFormat.ip_allocations": f"{NET}/IpAllocations",
    "VirtualNetworkPeeringPropertiesFormat.remote_virtual_network": f"{NET}/virtualNetworks",
    # subnet
    "SubnetPropertiesFormat.network_security_group": f"{NET}/networkSecurityGroups",
    "SubnetPropertiesFormat.route_table": f"{NET}/routeTables",
    "SubnetPropertiesFormat.nat_gateway": f"{NET}/natGateways",
    "SubnetPropertiesFormat.service_endpoint_policies": f"{NET}/serviceEndpointPolicies",
    "SubnetPropertiesFormat.ip_allocations": f"{NET}/IpAllocations",
    "SubnetPropertiesFormat.service_gateway": f"{NET}/serviceGateways",
    "SubnetPropertiesFormat.delegations": CHILD,
    "SubnetPropertiesFormat.application_gateway_ip_configurations": CHILD,
    "ApplicationGatewayIPConfigurationPropertiesFormat.subnet": f"{NET}/virtualNetworks/subnets",
    "ServiceEndpointPropertiesFormat.network_identifier": f"{NET}/networkIdentifiers",
    "IpamPoolPrefixAllocation.pool": f"{NET}/networkManagers/ipamPools",
    # public IP address
    "PublicIPAddressPropertiesFormat.public_ip_prefix": f"{NET}/publicIPPrefixes",
    "PublicIPAddressPropertiesFormat.nat_gateway": f"{NET}/natGateways",
    "PublicIPAddressPropertiesFormat.linked_public_ip_address": f"{NET}/publicIPAddresses",
    "PublicIPAddressPropertiesFormat.service_public_ip_address": f"{NET}/publicIPAddresses",
    "DdosSettings.ddos_protection_plan": f"{NET}/ddosProtectionPlans",
    "DdosSettings.ddos_custom_policy": f"{NET}/ddosCustomPolicies",
    "DdosFrontendIpConfigurationSettings.ddos_custom_policy": f"{NET}/ddosCustomPolicies",
    # virtual network gateway
    "VirtualNetworkGatewayPropertiesFormat.ip_configurations": CHILD,
    "VirtualNetworkGatewayPropertiesFormat.nat_rules": CHILD,
    "VirtualNetworkGatewayPropertiesFormat.virtual_network_gateway_policy_groups": CHILD,
    "VirtualNetworkGatewayPropertiesFormat.gateway_default_site": f"{NET}/localNetworkGateways",
    "VirtualNetworkGatewayIPConfigurationPropertiesFormat.subnet": f"{NET}/virtualNetworks/subnets",
    "VirtualNetworkGatewayIPConfigurationPropertiesFormat.public_ip_address": f"{NET}/publicIPAddresses",
    "VpnClientConfiguration.vng_client_connection_configurations": CHILD,
    "VpnClientConfiguration.vpn_client_revoked_certificates": CHILD,
    "VpnClientConfiguration.vpn_client_root_certificates": CHILD,
    "VngClientConnectionConfigurationProperties.virtual_network_gateway_policy_groups": SELF,
    # connection
    "VirtualNetworkGatewayConnectionPropertiesFormat.virtual_network_gateway1": f"{NET}/virtualNetworkGateways",
    "VirtualNetworkGatewayConnectionPropertiesFormat.virtual_network_gateway2": f"{NET}/virtualNetworkGateways",
    "VirtualNetworkGatewayConnectionPropertiesFormat.local_network_gateway2": f"{NET}/localNetworkGateways",
    "VirtualNetworkGatewayConnectionPropertiesFormat.peer": f"{NET}/expressRouteCircuits",
    "VirtualNetworkGatewayConnectionPropertiesFormat.egress_nat_rules": f"{NET}/virtualNetworkGateways/natRules",
    "VirtualNetworkGatewayConnectionPropertiesFormat.ingress_nat_rules": f"{NET}/virtualNetworkGateways/natRules",
    "RoutingConfiguration.associated_route_table": f"{NET}/virtualHubs/hubRouteTables",
    "PropagatedRouteTable.ids": f"{NET}/virtualHubs/hubRouteTables",
    "RoutingConfiguration.inbound_route_map": f"{NET}/virtualHubs/routeMaps",
    "RoutingConfiguration.outbound_route_map": f"{NET}/virtualHubs/routeMaps",
    # load balancer: its parts reference each other (SELF); only the front end and backend addresses
    # reach outside it
    **{
        f"LoadBalancerPropertiesFormat.{part}": CHILD
        for part in (
            "frontend_ip_configurations",
            "backend_address_pools",
            "inbound_nat_pools",
            "inbound_nat_rules",
            "load_balancing_rules",
            "outbound_rules",
            "probes",
        )
    },
    "FrontendIPConfigurationPropertiesFormat.subnet": f"{NET}/virtualNetworks/subnets",
    "FrontendIPConfigurationPropertiesFormat.public_ip_address": f"{NET}/publicIPAddresses",
    "FrontendIPConfigurationPropertiesFormat.public_ip_prefix": f"{NET}/publicIPPrefixes",
    "FrontendIPConfigurationPropertiesFormat.gateway_load_balancer": f"{NET}/loadBalancers/frontendIPConfigurations",
    "BackendAddressPoolPropertiesFormat.virtual_network": f"{NET}/virtualNetworks",
    "LoadBalancerBackendAddressPropertiesFormat.virtual_network": f"{NET}/virtualNetworks",
    "LoadBalancerBackendAddressPropertiesFormat.subnet": f"{NET}/virtualNetworks/subnets",
    "LoadBalancerBackendAddressPropertiesFormat.load_balancer_frontend_ip_configuration": (
        f"{NET}/loadBalancers/frontendIPConfigurations"
    ),
    "InboundNatPoolPropertiesFormat.frontend_ip_configuration": SELF,
    "InboundNatRulePropertiesFormat.frontend_ip_configuration": SELF,
    "InboundNatRulePropertiesFormat.backend_address_pool": SELF,
    "LoadBalancingRulePropertiesFormat.frontend_ip_configuration": SELF,
    "LoadBalancingRulePropertiesFormat.backend_address_pool": SELF,
    "LoadBalancingRulePropertiesFormat.backend_address_pools": SELF,
    "LoadBalancingRulePropertiesFormat.probe": SELF,
    "OutboundRulePropertiesFormat.frontend_ip_configurations": SELF,
    "OutboundRulePropertiesFormat.backend_address_pool": SELF,
}

# ARM resource type -> the action ARM checks on it when a body references it, or None where the
# operations list publishes none (see the module docstring).
LINKED_ACTIONS: dict[str, str | None] = {
    f"{NET}/virtualNetworks/subnets": SUBNET_JOIN,
    f"{NET}/publicIPAddresses": PUBLIC_IP_JOIN,
    f"{NET}/publicIPPrefixes": f"{NET}/publicIPPrefixes/join/action",
    f"{NET}/networkSecurityGroups": f"{NET}/networkSecurityGroups/join/action",
    f"{NET}/routeTables": f"{NET}/routeTables/join/action",
    f"{NET}/natGateways": f"{NET}/natGateways/join/action",
    f"{NET}/serviceEndpointPolicies": f"{NET}/serviceEndpointPolicies/join/action",
    f"{NET}/ddosProtectionPlans": f"{NET}/ddosProtectionPlans/join/action",
    f"{NET}/loadBalancers/frontendIPConfigurations": f"{NET}/loadBalancers/frontendIPConfigurations/join/action",
    # a backend pool's or address's virtual network: "Joins a virtual network"
    f"{NET}/virtualNetworks": f"{NET}/virtualNetworks/join/action",
    # IPAM pools (Azure Virtual Network Manager): the built-in roles that let a subnet write use a pool
    # grant this action for it
    f"{NET}/networkManagers/ipamPools": f"{NET}/networkManagers/ipamPools/associateResourcesToPool/action",
    f"{NET}/expressRouteCircuits": CIRCUIT_JOIN,
    f"{NET}/localNetworkGateways": None,
    f"{NET}/virtualNetworkGateways": None,
    f"{NET}/virtualNetworkGateways/natRules": None,
    f"{NET}/IpAllocations": None,
    f"{NET}/virtualHubs/hubRouteTables": None,
    f"{NET}/virtualHubs/routeMaps": None,
    f"{NET}/ddosCustomPolicies": None,  # retired DDoS custom policies: no join action published
    f"{NET}/serviceGateways": None,  # no join action published for service gateways
    f"{NET}/networkIdentifiers": None,  # a service endpoint's network identifier names a service, not a resource
}

# A reference whose linked action is not the type's join: a peering's remote network is "peered", not
# joined ("Peers a virtual network with another virtual network").
FIELD_ACTIONS: dict[str, str] = {
    "VirtualNetworkPeeringPropertiesFormat.remote_virtual_network": f"{NET}/virtualNetworks/peer/action",
}

# Actions ARM checks on a resource outside the site's resource group (the circuit): granted by a second,
# separate role assigned on the circuit itself.
CIRCUIT_ACTIONS = frozenset({CIRCUIT_JOIN})


class UnmappedOperation(KeyError):
    """An SDK call has no RBAC action here: add it (with its source) before the app can use it."""


class UnmappedReference(KeyError):
    """A request body can reference a resource type with no linked action decided here."""


def actions_for(group: str, method: str) -> frozenset[str]:
    """The RBAC actions one `client.<group>.<method>()` call needs: its own, and its polls'."""
    return _own_actions(group, method) | poll_actions(method)


def _own_actions(group: str, method: str) -> frozenset[str]:
    if (group, method) in SPECIAL:
        return SPECIAL[(group, method)]
    resource_type = RESOURCE_TYPES.get(group)
    if resource_type is None:
        raise UnmappedOperation(f"{group}.{method}: operation group has no resource type mapping")
    if method in READ_METHODS:
        return frozenset({f"{resource_type}/read"})
    if method == "begin_create_or_update":
        # A PUT is a long-running operation whose poller ends with a GET of the resource itself (final-state
        # "azure-async-operation": Azure-AsyncOperation, then GET of the PUT's URL): ARM authorizes that GET
        # as a read, so a write-only role fails after the write succeeded (found by the simulator's RBAC:
        # subnet updates answered 403 on virtualNetworks/subnets/read).
        return frozenset({f"{resource_type}/write", f"{resource_type}/read"})
    if method in WRITE_METHODS:
        return frozenset({f"{resource_type}/write"})
    raise UnmappedOperation(f"{group}.{method}: no RBAC action mapped for this method")


def required_actions(calls: Iterable[tuple[str, str]]) -> frozenset[str]:
    """Union of the actions of every (operation group, method) call."""
    out: set[str] = set()
    for group, method in calls:
        out |= actions_for(group, method)
    return frozenset(out)


def written_groups(calls: Iterable[tuple[str, str]]) -> frozenset[str]:
    """The operation groups whose resources the code PUTs (their bodies can reference other resources)."""
    return frozenset(group for group, method in calls if method == "begin_create_or_update")


def linked_action(resource_type: str) -> str | None:
    for known, action in LINKED_ACTIONS.items():
        if known.lower() == resource_type.lower():
            return action
    raise UnmappedReference(f"{resource_type}: decide its linked action in shared/azure/permissions.py")


def linked_actions(resource_types: Iterable[str]) -> frozenset[str]:
    """The linked actions ARM checks for bodies that reference resources of these types."""
    actions = {linked_action(t) for t in resource_types}
    return frozenset(a for a in actions if a is not None)


def reference_actions(fields: Iterable[str]) -> frozenset[str]:
    """The linked actions for body reference fields ("<SDK model>.<attribute>", keys of REFERENCES)."""
    out: set[str] = set()
    for name in fields:
        target = REFERENCES.get(name)
        if target is None:
            raise UnmappedReference(f"{name}: classify this body reference in shared/azure/permissions.py")
        if target in (CHILD, SELF):
            continue
        action = FIELD_ACTIONS.get(name) or linked_action(target)
        if action is not None:
            out.add(action)
    return frozenset(out)


def resource_type_of(resource_id: str) -> str:
    """`/subscriptions/S/resourceGroups/G/providers/Microsoft.Network/virtualNetworks/V/subnets/N` ->
    `Microsoft.Network/virtualNetworks/subnets`."""
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    if "providers" not in lowered:
        raise ValueError(f"{resource_id!r} is not a resource id")
    rest = parts[lowered.index("providers") + 1 :]
    if len(rest) < 3 or len(rest) % 2 == 0:
        raise ValueError(f"{resource_id!r} is not a resource id")
    namespace, pairs = rest[0], rest[1:]
    return "/".join([namespace, *pairs[0::2]])


def body_references(body: Mapping[str, Any], *, own_id: str) -> frozenset[str]:
    """Resource types a REST body references (`{"id": ...}` anywhere inside it), leaving out the resource
    itself and its own children (ids under `own_id`)."""
    found: set[str] = set()
    own = own_id.rstrip("/").lower()

    def walk(value: object) -> None:
        if isinstance(value, Mapping):
            ref = value.get("id")
            if isinstance(ref, str) and ref and not (ref.lower() == own or ref.lower().startswith(own + "/")):
                found.add(resource_type_of(ref))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for key, value in body.items():
        if key != "id":
            walk(value)
    return frozenset(found)
