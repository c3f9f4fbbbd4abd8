"""findings -> an ordered plan of actions with dependencies. Pure.

One action per resource: create it (it is missing) or update it (PUT of the observed body with the
spec's values set, guarded by the observed ETag). Which findings an action may fix depends on the
mode: `enforce` fixes only safe findings, `enforce-disruptive` also disruptive ones; forbidden findings
are never planned (hybridnet never deletes and never re-creates a resource that exists). `report`
plans like `enforce-disruptive` so the operator sees everything that could be done; nothing runs."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.drift.desired import DesiredResource, DesiredSite
from shared.drift.diff import IN_FLIGHT
from shared.drift.findings import Finding, FindingKind, FixClass
from shared.drift.observed import ObservedSite
from shared.drift.resources import RANK, Kind, id_key

CLASS_ORDER = {FixClass.SAFE: 0, FixClass.DISRUPTIVE: 1, FixClass.FORBIDDEN: 2}


class Mode(StrEnum):
    REPORT = "report"
    ENFORCE = "enforce"
    ENFORCE_DISRUPTIVE = "enforce-disruptive"

    @property
    def writes(self) -> bool:
        return self is not Mode.REPORT

    def allows(self, fix: FixClass) -> bool:
        if fix is FixClass.FORBIDDEN:
            return False
        if self is Mode.ENFORCE:
            return fix is FixClass.SAFE
        return True


class Operation(StrEnum):
    CREATE = "create"
    UPDATE = "update"


@dataclass(frozen=True)
class Action:
    resource_id: str
    kind: Kind
    name: str
    operation: Operation
    fix: FixClass
    body: Mapping[str, Any]
    if_match: str | None
    depends_on: tuple[str, ...]
    fixes: tuple[Finding, ...]

    @property
    def needs_shared_key(self) -> bool:
        """Creating an IPsec connection needs a pre-shared key; apply supplies it, never the plan."""
        properties = self.body.get("properties") or {}
        return self.operation is Operation.CREATE and properties.get("connectionType") == "IPsec"

    def describe(self) -> str:
        return f"{self.operation.value} {self.kind.value}/{self.name} ({self.fix.value})"

    def to_json(self) -> dict[str, Any]:
        return {
            "resourceId": self.resource_id,
            "kind": self.kind.value,
            "name": self.name,
            "operation": self.operation.value,
            "fix": self.fix.value,
            "dependsOn": list(self.depends_on),
            "fixes": [f.message for f in self.fixes],
        }


@dataclass(frozen=True)
class Refusal:
    finding: Finding
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"finding": self.finding.to_json(), "reason": self.reason}


@dataclass(frozen=True)
class Plan:
    site: str
    mode: Mode
    actions: tuple[Action, ...]
    refused: tuple[Refusal, ...]

    @property
    def empty(self) -> bool:
        return not self.actions

    def to_json(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "mode": self.mode.value,
            "actions": [a.to_json() for a in self.actions],
            "refused": [r.to_json() for r in self.refused],
        }


def refusal_reason(fix: FixClass, mode: Mode) -> str:
    if fix is FixClass.FORBIDDEN:
        return "forbidden: needs a delete or re-create, which hybridnet never does; fix it by hand"
    if mode is Mode.ENFORCE and fix is FixClass.DISRUPTIVE:
        return "disruptive: applied only with HYBRIDNET_DRIFT_MODE=enforce-disruptive"
    return f"not applied in {mode.value} mode"


def set_path(body: MutableMapping[str, Any], path: str, value: Any) -> None:
    """Set a dotted path, creating mappings on the way; list indexes must exist."""
    steps = path.split(".")
    current: Any = body
    for step, following in itertools.pairwise(steps):
        if isinstance(current, list):
            current = current[int(step)]
            continue
        if current.get(step) is None:
            current[step] = [] if following.isdigit() else {}
        current = current[step]
    last = steps[-1]
    if isinstance(current, list):
        current[int(last)] = value
    else:
        current[last] = value


def _updated_body(observed: Mapping[str, Any], fixes: list[Finding]) -> dict[str, Any]:
    body = copy.deepcopy(dict(observed))
    for finding in fixes:
        if finding.kind is not FindingKind.MISMATCH or finding.field is None:
            continue  # failed provisioning: re-PUT as is
        if finding.field == "properties.networkSecurityGroup":
            body.get("properties", {}).pop("networkSecurityGroup", None)
        else:
            set_path(body, finding.field, copy.deepcopy(finding.expected))
    return body


def _busy_dependency(resource: DesiredResource | None, observed: ObservedSite) -> str | None:
    """Which resource ``resource`` depends on has an operation in flight (its provisioning state)."""
    for dependency in resource.depends_on if resource is not None else ():
        actual = observed.get(dependency)
        if actual is not None and actual.provisioning_state in IN_FLIGHT:
            return f"{actual.kind.value}/{actual.name} is {actual.provisioning_state}"
    return None


def plan(desired: DesiredSite, observed: ObservedSite, findings: list[Finding], mode: Mode) -> Plan:
    planning_mode = Mode.ENFORCE_DISRUPTIVE if mode is Mode.REPORT else mode
    by_id = desired.ids()
    by_resource: dict[str, list[Finding]] = {}
    refused: list[Refusal] = []
    for finding in findings:
        if planning_mode.allows(finding.fix):
            by_resource.setdefault(id_key(finding.resource_id), []).append(finding)
        else:
            refused.append(Refusal(finding, refusal_reason(finding.fix, mode)))

    created = {key for key, fs in by_resource.items() if any(f.kind is FindingKind.MISSING for f in fs)}
    vnet = next(r for r in desired.resources if r.kind is Kind.VNET)
    if id_key(vnet.id) in created:
        # A VNet is created with all its subnets: no separate subnet actions.
        for resource in desired.resources:
            if resource.kind is Kind.SUBNET:
                by_resource.pop(id_key(resource.id), None)
                created.discard(id_key(resource.id))

    actions: list[Action] = []
    for key, fixes in by_resource.items():
        resource: DesiredResource | None = by_id.get(key)
        fix = max((f.fix for f in fixes), key=CLASS_ORDER.__getitem__)
        busy = _busy_dependency(resource, observed)
        if busy is not None:
            # ARM refuses a write while a resource it depends on is being provisioned (409
            # AnotherOperationInProgress; a gateway takes 30-45 min): wait for it instead.
            refused += [Refusal(f, f"waiting: {busy}; the next pass goes on") for f in fixes]
            continue
        if key in created and resource is not None:
            actions.append(
                Action(
                    resource.id,
                    resource.kind,
                    resource.name,
                    Operation.CREATE,
                    fix,
                    copy.deepcopy(dict(resource.body)),
                    None,
                    tuple(d for d in resource.depends_on if id_key(d) in created),
                    tuple(fixes),
                )
            )
            continue
        actual = observed.get(fixes[0].resource_id)
        if actual is None:  # unreachable: non-missing findings come from observed resources
            continue
        actions.append(
            Action(
                actual.id,
                actual.kind,
                actual.name,
                Operation.UPDATE,
                fix,
                _updated_body(actual.body, fixes),
                actual.etag,
                (),
                tuple(fixes),
            )
        )
    actions.sort(key=lambda a: (RANK[a.kind], a.kind.value, a.name))
    return Plan(site=desired.site.name, mode=mode, actions=tuple(actions), refused=tuple(refused))
