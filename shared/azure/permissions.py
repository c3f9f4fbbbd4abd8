"""The Azure RBAC actions behind every Microsoft.Network SDK call the adapter layer makes.

Pure data, no SDK import. `tests/test_infra.py` scans `shared/azure/*.py` for the calls that are really
made (`client.<operation group>.<method>(...)`, and `ops.<method>(...)` where `ops` was picked from a
dict of operation groups) and fails when a call has no entry here; the custom role in
`infra/app-contract.json` must then grant exactly `required_actions(calls)`: nothing more, nothing less.

Action names are the ones Microsoft publishes in "Azure resource provider operations" (Networking).
ARM compares them case-insensitively; they are written here in the documented casing.

A PUT that references another resource also needs that resource's `join/action` (ARM checks it on the
referenced resource, which for the ExpressRoute circuit may live in another resource group):
- a gateway's ipConfigurations reference the GatewaySubnet and a public IP;
- a load balancer's internal front end references a subnet;
- an ExpressRoute connection's `peer` references the circuit.
Local network gateways and virtual network gateways publish no join action: read access is enough to
reference them from a connection.
"""

from __future__ import annotations

from collections.abc import Iterable

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

# PUT of this group's resource also joins these referenced resources.
JOINS_ON_WRITE: dict[str, frozenset[str]] = {
    "virtual_network_gateways": frozenset({SUBNET_JOIN, PUBLIC_IP_JOIN}),
    "load_balancers": frozenset({SUBNET_JOIN}),
    "virtual_network_gateway_connections": frozenset({CIRCUIT_JOIN}),
}

# Methods whose action is not the plain read/write of the group's resource type.
SPECIAL: dict[tuple[str, str], frozenset[str]] = {
    ("virtual_network_gateways", "begin_get_learned_routes"): frozenset(
        {f"{NET}/virtualNetworkGateways/getLearnedRoutes/action"}
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

# Actions ARM checks on a resource outside the site's resource group (the circuit): granted by a second,
# separate role assigned on the circuit itself.
CIRCUIT_ACTIONS = frozenset({CIRCUIT_JOIN})


class UnmappedOperation(KeyError):
    """An SDK call has no RBAC action here: add it (with its source) before the app can use it."""


def actions_for(group: str, method: str) -> frozenset[str]:
    """The RBAC actions one `client.<group>.<method>()` call needs."""
    if (group, method) in SPECIAL:
        return SPECIAL[(group, method)]
    resource_type = RESOURCE_TYPES.get(group)
    if resource_type is None:
        raise UnmappedOperation(f"{group}.{method}: operation group has no resource type mapping")
    if method in READ_METHODS:
        return frozenset({f"{resource_type}/read"})
    if method in WRITE_METHODS:
        return frozenset({f"{resource_type}/write"}) | JOINS_ON_WRITE.get(group, frozenset())
    raise UnmappedOperation(f"{group}.{method}: no RBAC action mapped for this method")


def required_actions(calls: Iterable[tuple[str, str]]) -> frozenset[str]:
    """Union of the actions of every (operation group, method) call."""
    out: set[str] = set()
    for group, method in calls:
        out |= actions_for(group, method)
    return frozenset(out)
