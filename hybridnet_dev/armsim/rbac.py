"""Role assignments and ARM's authorization checks, including linked access.

The app identity holds exactly what the deployment grants (``infra/app-contract.json``, the file the
Bicep templates load): ``networkRoleActions`` at each site's resource group, ``circuitRoleActions`` on each
ExpressRoute circuit. The operator (a person with Owner, the portal user) holds ``*`` on every subscription.

Every ARM request needs the action of its method and resource type at its scope, else 403
``AuthorizationFailed``. A PUT whose body references another resource needs that resource type's linked
action (``join/action``; ``peer/action`` for a peering's remote network) on the referenced resource, else
403 ``LinkedAuthorizationFailed``. Linked actions come from ``shared/azure/permissions.py`` (the same
table the contract test derives the role from); the JSON properties that carry a reference ARM checks
are :data:`LINKED_PROPERTIES` (writable references only: read-only back-references such as a subnet's
``ipConfigurations`` are never checked).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridnet_dev.armsim.armevents import PORTAL_USER, Caller
from hybridnet_dev.armsim.ids import PROVIDER, TYPES, ArmError
from shared.azure import permissions

CONTRACT_PATH = Path(__file__).resolve().parents[2] / "infra" / "app-contract.json"

# Writable reference properties (REST JSON names) whose target ARM checks with a linked action; the
# action comes from the target's type (permissions.LINKED_ACTIONS) unless given here.
LINKED_PROPERTIES: dict[str, str | None] = {
    "subnet": None,
    "publicIPAddress": None,
    "publicIPPrefix": None,
    "linkedPublicIPAddress": None,
    "servicePublicIPAddress": None,
    "networkSecurityGroup": None,
    "routeTable": None,
    "natGateway": None,
    "serviceEndpointPolicies": None,
    "ddosProtectionPlan": None,
    "gatewayLoadBalancer": None,
    "loadBalancerFrontendIPConfiguration": None,
    "virtualNetwork": None,
    "remoteVirtualNetwork": f"{PROVIDER}/virtualNetworks/peer/action",
    "pool": None,  # an IPAM pool allocation
    "localNetworkGateway2": None,
    "virtualNetworkGateway1": None,
    "virtualNetworkGateway2": None,
    "gatewayDefaultSite": None,
    "peer": None,  # a connection's ExpressRoute circuit
    "expressRouteCircuitPeering": None,
}
# Operation-status polls: the URL segment under .../providers/Microsoft.Network/locations/{region}/ ->
# the action ARM authorizes. Both are published in the Microsoft.Network resource provider operations
# list ("Gets operation resource that represents status of an asynchronous operation", "Gets operation
# result of an async POST or DELETE operation"; learn.microsoft.com/azure/role-based-access-control/
# permissions/networking), custom roles that create network resources grant them (e.g. GitHub's Azure
# private networking role), and ARM answers AuthorizationFailed naming
# 'Microsoft.Network/locations/operations/read' to a caller without it (Azure/azure-xplat-cli#2051).
# See access.check_poll for the scope and the resource provider's own checks.
POLL_ACTIONS: dict[str, str] = {
    "operations": f"{PROVIDER}/locations/operations/read",
    "operationresults": f"{PROVIDER}/locations/operationResults/read",
}
# POST actions and sub-paths whose RBAC action is not "<type>/<segment>/action" (permissions.SPECIAL).
# Every other POST is "<type>/<segment>/action", the rule of the published gateway actions; the failover
# simulation actions (startSiteFailoverTest, stopSiteFailoverTest, getFailoverAllTestsDetails,
# getFailoverSingleTestDetails, getResiliencyInformation, getRoutesInformation) are derived by it too: no
# published operations list names them (see permissions.SPECIAL), so they are unconfirmed.
SPECIAL_ACTIONS: dict[tuple[str, str, str], str] = {
    ("GET", "connections", "sharedkey"): f"{PROVIDER}/connections/sharedKey/read",
    ("PUT", "connections", "sharedkey"): f"{PROVIDER}/connections/sharedKey/write",
    ("POST", "connections", "sharedkey/reset"): f"{PROVIDER}/connections/sharedKey/write",
}
VERBS = {"GET": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}


def load_contract(path: Path | None = None) -> dict[str, Any]:
    data = json.loads((path or CONTRACT_PATH).read_text())
    if not isinstance(data, dict) or not isinstance(data.get("networkRoleActions"), list):
        raise ValueError(f"{path or CONTRACT_PATH}: not an app contract (no networkRoleActions list)")
    return data


def _norm(scope: str) -> str:
    return "/" + "/".join(p for p in scope.lower().split("/") if p)


@dataclass(frozen=True)
class Assignment:
    principal_id: str
    scope: str
    actions: frozenset[str]  # lower case; "*" grants everything
    role: str

    def grants(self, action: str, scope: str) -> bool:
        own, wanted = _norm(self.scope), _norm(scope)
        if wanted != own and not wanted.startswith(own + "/"):
            return False
        return "*" in self.actions or action.lower() in self.actions


@dataclass(frozen=True)
class RequestAction:
    action: str
    scope: str  # what ARM names in its message (the request's resource or collection)
    resource_id: str | None  # the resource a body's references are relative to (PUT only)
    grant_scope: str | None = None  # where an assignment must reach to grant it, when not ``scope``


class Rbac:
    def __init__(self) -> None:
        self.assignments: list[Assignment] = []

    def assign(self, *, principal_id: str, scope: str, actions: list[str], role: str) -> None:
        self.assignments.append(Assignment(principal_id, scope, frozenset(a.lower() for a in actions), role))

    def granting(self, principal_id: str, action: str, scope: str) -> Assignment | None:
        return next(
            (a for a in self.assignments if a.principal_id == principal_id and a.grants(action, scope)), None
        )

    def allowed(self, principal_id: str, action: str, scope: str) -> bool:
        return self.granting(principal_id, action, scope) is not None

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"principalId": a.principal_id, "scope": a.scope, "role": a.role, "actions": sorted(a.actions)}
            for a in self.assignments
        ]

    def check(self, caller: Caller, needed: RequestAction, body: Any = None) -> Assignment:
        """The assignment that grants the request; ARM's 403 when the caller lacks the action, or a linked
        action for ``body``."""
        granted = self.granting(caller.object_id, needed.action, needed.grant_scope or needed.scope)
        if granted is None:
            raise ArmError(
                403,
                "AuthorizationFailed",
                f"The client '{caller.app_id}' with object id '{caller.object_id}' does not have authorization "
                f"to perform action '{needed.action}' over scope '{needed.scope}' or the scope is invalid. If "
                "access was recently granted, please refresh your credentials.",
            )
        if needed.resource_id is None or not isinstance(body, dict):
            return granted
        missing = [
            (action, ref)
            for action, ref in linked_references(body, own_id=needed.resource_id)
            if not self.allowed(caller.object_id, action, ref)
        ]
        if missing:
            actions = ",".join(a for a, _ in missing)
            scopes = ",".join(r for _, r in missing)
            raise ArmError(
                403,
                "LinkedAuthorizationFailed",
                f"The client '{caller.app_id}' with object id '{caller.object_id}' has permission to perform "
                f"action '{needed.action}' on scope '{needed.scope}'; however, it does not have permission to "
                f"perform action(s) '{actions}' on the linked scope(s) '{scopes}' (respectively) or the linked "
                "scope(s) are invalid.",
            )
        return granted


def linked_references(body: dict[str, Any], *, own_id: str) -> list[tuple[str, str]]:
    """(linked action, referenced id) for every writable reference in a PUT body outside the resource."""
    own = own_id.rstrip("/").lower()
    found: dict[tuple[str, str], None] = {}

    def target(prop: str, value: Any) -> None:
        ref = value.get("id") if isinstance(value, dict) else None
        if not isinstance(ref, str) or not ref or ref.lower() == own or ref.lower().startswith(own + "/"):
            return
        try:
            rtype = permissions.resource_type_of(ref)
        except ValueError:
            return  # ARM answers a malformed id with LinkedInvalidPropertyId; the handler validates ids
        try:
            action = LINKED_PROPERTIES[prop] or permissions.linked_action(rtype)
        except permissions.UnmappedReference:
            action = None
        if action is not None:
            found[(action, ref)] = None

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in LINKED_PROPERTIES:
                    for one in item if isinstance(item, list) else [item]:
                        target(key, one)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk({k: v for k, v in body.items() if k != "id"})
    return list(found)


def request_action(method: str, path: str) -> RequestAction | None:
    """The action and scope ARM authorizes for a request, or None for operation-status polls (their
    scope is the operation's resource: access.check_poll)."""
    segs = [s for s in path.split("/") if s]
    low = [s.lower() for s in segs]
    if len(segs) >= 5 and low[2] == "providers" and low[3] == PROVIDER.lower():
        if low[4] == "locations":
            return None
        rtype = TYPES.get(low[4], segs[4])
        return RequestAction(f"{PROVIDER}/{rtype}/read", f"/subscriptions/{segs[1]}", None)
    if len(segs) < 7:
        return None
    rtype = TYPES.get(low[6], segs[6])
    base = f"{PROVIDER}/{rtype}"
    if len(segs) == 7:
        return RequestAction(f"{base}/read", path.rstrip("/"), None)
    resource = "/".join(["", *segs[:8]])
    rest = low[8:]
    if not rest:
        verb = VERBS.get(method, "read")
        return RequestAction(f"{base}/{verb}", resource, resource if method == "PUT" else None)
    special = SPECIAL_ACTIONS.get((method, rtype, "/".join(rest)))
    if special is not None:
        return RequestAction(special, path.rstrip("/"), None)
    if method == "POST":
        return RequestAction(f"{base}/{'/'.join(segs[8:])}/action", resource, None)
    child = f"{base}/{segs[8]}"
    if len(rest) == 1:
        return RequestAction(f"{child}/read", path.rstrip("/"), None)
    child_id = "/".join(["", *segs[:10]])
    verb = VERBS.get(method, "read")
    return RequestAction(f"{child}/{verb}", child_id, child_id if method == "PUT" else None)


def grant_deployment(
    rbac: Rbac,
    *,
    contract: dict[str, Any],
    app_principal: str,
    subscription_id: str,
    resource_groups: list[str],
    circuit_ids: list[str],
    subscriptions: list[str],
) -> None:
    """The role assignments ``infra/main.bicep`` creates, plus the operator's Owner."""
    for rg in dict.fromkeys(resource_groups):
        rbac.assign(
            principal_id=app_principal,
            scope=f"/subscriptions/{subscription_id}/resourceGroups/{rg}",
            actions=list(contract["networkRoleActions"]),
            role="hybridnet network operator",
        )
    for circuit in dict.fromkeys(circuit_ids):
        rbac.assign(
            principal_id=app_principal,
            scope=circuit,
            actions=list(contract.get("circuitRoleActions", [])),
            role="hybridnet circuit join",
        )
    for sub in dict.fromkeys(subscriptions):
        rbac.assign(
            principal_id=PORTAL_USER.object_id, scope=f"/subscriptions/{sub}", actions=["*"], role="Owner"
        )
