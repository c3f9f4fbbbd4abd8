"""Injected faults per route: latency, throttling (429), errors, connection resets, failed LROs."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from hybridnet_dev.armsim.ids import ArmError

KINDS = ("latency", "throttle", "error", "reset", "failLro")


@dataclass
class Fault:
    id: str
    method: str
    path: re.Pattern[str]
    kind: str
    latency_ms: int = 0
    retry_after: int = 1
    status: int = 500
    remaining: int | None = None  # None: unlimited

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path.pattern,
            "kind": self.kind,
            "latencyMs": self.latency_ms,
            "retryAfter": self.retry_after,
            "status": self.status,
            "count": self.remaining,
        }


class Faults:
    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, spec: dict[str, Any]) -> Fault:
        kind = spec.get("kind")
        if kind not in KINDS:
            raise ArmError(400, "InvalidFault", f"kind must be one of {', '.join(KINDS)}")
        try:
            pattern = re.compile(str(spec.get("path", ".*")))
        except re.error as exc:
            raise ArmError(400, "InvalidFault", f"path is not a valid regular expression: {exc}") from exc
        count = spec.get("count")
        fault = Fault(
            id=str(uuid.uuid4()),
            method=str(spec.get("method", "*")).upper(),
            path=pattern,
            kind=str(kind),
            latency_ms=int(spec.get("latencyMs", 0) or 0),
            retry_after=int(spec.get("retryAfter", 1) if spec.get("retryAfter") is not None else 1),
            status=int(spec.get("status", 500) or 500),
            remaining=None if count is None else int(count),
        )
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        return [f.describe() for f in self._faults]

    def take(self, method: str, path: str) -> list[Fault]:
        """The faults that apply to this request, consuming one use of each."""
        hits = []
        for fault in self._faults:
            if fault.method not in ("*", method.upper()) or not fault.path.search(path):
                continue
            if fault.remaining is not None:
                if fault.remaining <= 0:
                    continue
                fault.remaining -= 1
            hits.append(fault)
        self._faults = [f for f in self._faults if f.remaining is None or f.remaining > 0]
        return hits
