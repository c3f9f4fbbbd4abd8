"""What the diff reports: one Finding per difference between the spec and the observed state."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FindingKind(StrEnum):
    MISSING = "missing"
    MISMATCH = "mismatch"
    UNEXPECTED = "unexpected"
    FAILED_PROVISIONING = "failed-provisioning"
    MISPLACED = "misplaced"
    LIVE_ROUTE = "live-route"  # observed in the gateways' learned routes, not in a resource's body


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.MEDIUM: 2, Severity.LOW: 3}


class FixClass(StrEnum):
    """How a fix is allowed to run: `safe` under enforce, `disruptive` only under enforce-disruptive,
    `forbidden` never (deletes, changes Azure cannot make in place): those are reported for a person."""

    SAFE = "safe"
    DISRUPTIVE = "disruptive"
    FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class Finding:
    site: str
    resource_id: str
    kind: FindingKind
    severity: Severity
    fix: FixClass
    message: str
    field: str | None = None
    expected: Any = None
    actual: Any = None
    remedy: str | None = None  # for findings drift does not fix itself: who or what does

    @property
    def safe_to_fix(self) -> bool:
        return self.fix is FixClass.SAFE

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "site": self.site,
            "resourceId": self.resource_id,
            "kind": self.kind.value,
            "severity": self.severity.value,
            "fix": self.fix.value,
            "safeToFix": self.safe_to_fix,
            "message": self.message,
        }
        if self.field is not None:
            body.update(field=self.field, expected=self.expected, actual=self.actual)
        if self.remedy:
            body["remedy"] = self.remedy
        return body
