"""What ARM checks before a request reaches the resource provider, in ARM's order: the subscription
exists (404 ``SubscriptionNotFound``), the api-version serves the resource type (400), the caller holds the
action and the linked actions (403), the resource group exists (404 ``ResourceGroupNotFound``; checked
after authorization so that a caller without access learns nothing about it).

The subscriptions and resource groups that exist are the spec's (each site's resource group in the
simulator's subscription; each circuit's subscription and resource group) plus any group holding a
resource (the control API creates groups as the portal does).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from hybridnet_dev.armsim import apiversions
from hybridnet_dev.armsim.armevents import Caller
from hybridnet_dev.armsim.auth import APP_CLIENT_ID
from hybridnet_dev.armsim.ids import PROVIDER, TYPES, ArmError, ResourceId
from hybridnet_dev.armsim.rbac import (
    POLL_ACTIONS,
    RequestAction,
    grant_deployment,
    load_contract,
    request_action,
)
from shared.spec.model import NetworkSpec

__all__ = ["APP_CLIENT_ID", "check_request", "configure"]


def configure(sim: Any, spec: NetworkSpec | None, *, contract_path: Path | None = None) -> None:
    """Resource groups, subscriptions and role assignments as the deployment of ``spec`` leaves them."""
    contract = load_contract(contract_path)
    sim.contract = contract
    groups: list[str] = []
    circuits: list[str] = []
    subs = [sim.subscription_id]
    for site in spec.sites if spec is not None else []:
        groups.append(site.resource_group)
        sim.resource_groups.add((sim.subscription_id.lower(), site.resource_group.lower()))
        circuit = ResourceId.parse(site.express_route.connection.circuit_id)
        circuits.append(str(circuit))
        subs.append(circuit.subscription)
        sim.resource_groups.add((circuit.subscription.lower(), circuit.resource_group.lower()))
    sim.subscriptions.update(s.lower() for s in subs)
    grant_deployment(
        sim.rbac,
        contract=contract,
        app_principal=sim.principal_id,
        subscription_id=sim.subscription_id,
        resource_groups=groups,
        circuit_ids=circuits,
        subscriptions=subs,
    )


def _rtype(low: list[str]) -> str | None:
    """The versioned resource type of an ARM path (``virtualNetworks/subnets``), None when unknown."""
    if len(low) >= 5 and low[2] == "providers" and low[3] == PROVIDER.lower():
        if low[4] == "locations" and len(low) >= 7:
            return "locations/operationResults" if low[6] == "operationresults" else "locations/operations"
        return TYPES.get(low[4])
    if len(low) >= 7 and low[2] == "resourcegroups" and low[4] == "providers" and low[5] == PROVIDER.lower():
        base = TYPES.get(low[6])
        if base is not None and len(low) >= 9 and low[8] == "subnets":
            return f"{base}/subnets"
        return base
    return None


def _group_exists(sim: Any, sub: str, rg: str) -> bool:
    if (sub.lower(), rg.lower()) in sim.resource_groups:
        return True
    return any(
        r.rid.subscription.lower() == sub.lower() and r.rid.resource_group.lower() == rg.lower()
        for r in sim.store.all()
    )


def operation_not_found(op_id: str) -> ArmError:
    return ArmError(404, "OperationNotFound", f"Operation '{op_id}' was not found.")  # code: sim


def check_poll(sim: Any, *, path: str, caller: Caller) -> Caller:
    """An operation-status poll (``Azure-AsyncOperation``: .../locations/{region}/operations/{id}) or
    result poll (``Location``: .../operationResults/{id}): never answered to anyone.

    - Authentication: as every ARM request (the middleware's TokenIssuer.verify, 401 before this).
    - ARM's RBAC: the caller needs ``POLL_ACTIONS[segment]`` (rbac.py, with sources), else 403
      ``AuthorizationFailed`` naming the poll URL as the scope. The scope an assignment must reach is the
      operation's resource: a role assigned at the resource group (the app's, as any custom role that
      creates resources there) grants the polls of that group's operations, and nothing else does. (ARM
      names the subscription-level URL; whether it also accepts a resource-group assignment for it is not
      documented: an RG-scoped role that lacks the actions is refused here either way.)
    - The resource provider's rules for operation results (Azure/azure-resource-manager-rpc
      v1.0/async-api-reference.md, "Operation result rules"): the poll must come from the tenant and
      subscription (and, in the URL, region) the operation started in, else 404; and from the identity
      that started it (compared on x-ms-client-object-id), answered 404 as well, so that another
      identity learns nothing of it.
    """
    segs = [s for s in path.split("/") if s]
    op_id = segs[7]
    op = sim.operations.get(op_id)
    if (
        op is None
        or op.resource.subscription.lower() != segs[1].lower()
        or op.region != segs[5].lower()  # the operation lives in its region's store
    ):
        raise operation_not_found(op_id)
    needed = RequestAction(POLL_ACTIONS[segs[6].lower()], path.rstrip("/"), None, str(op.resource))
    granted = sim.rbac.check(caller, needed)
    if op.started_by and op.started_by != caller.object_id:
        raise operation_not_found(op_id)
    return replace(caller, role=granted.role, role_scope=granted.scope)


def check_request(sim: Any, *, method: str, path: str, version: str, caller: Caller, body: Any) -> Caller:
    """The caller with the role that grants the request (what the event's evidence names), or ARM's error."""
    segs = [s for s in path.split("/") if s]
    low = [s.lower() for s in segs]
    if len(segs) < 2 or low[0] != "subscriptions":
        return caller  # the router answers InvalidRequestUri
    sub = segs[1]
    if sub.lower() not in sim.subscriptions:
        raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
    rtype = _rtype(low)
    if rtype is not None:
        location = None
        if len(segs) >= 8 and low[2] == "resourcegroups":
            if isinstance(body, dict) and isinstance(body.get("location"), str):
                location = body["location"]
            else:
                record = sim.store.get(ResourceId(sub, segs[3], TYPES[low[6]], segs[7]))
                location = str(record.body.get("location") or "") or None if record is not None else None
        apiversions.check(rtype, version, location=location)
    if len(segs) == 8 and low[2] == "providers" and low[4] == "locations" and low[6] in POLL_ACTIONS:
        return check_poll(sim, path=path, caller=caller)
    needed = request_action(method, path)
    if needed is not None:
        granted = sim.rbac.check(caller, needed, body if method == "PUT" else None)
        caller = replace(caller, role=granted.role, role_scope=granted.scope)
    if len(segs) >= 4 and low[2] == "resourcegroups" and not _group_exists(sim, sub, segs[3]):
        raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{segs[3]}' could not be found.")
    return caller
