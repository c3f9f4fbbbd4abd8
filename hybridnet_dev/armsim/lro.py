"""Long-running operations: the status monitor behind ``Azure-AsyncOperation`` and ``Location``.

An operation is InProgress when created. The first poll of its status monitor (or its Location) still
answers InProgress, the next poll finishes it; a timer finishes it anyway after ``max_seconds`` so a
client that never polls also sees the resource settle. Finishing runs the operation's ``complete``
callback, which applies the side effect (provisioningState Succeeded/Failed, deletion, action result).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from hybridnet_dev.armsim.ids import PROVIDER, ResourceId

Kind = Literal["put", "delete", "action"]
# complete(failed) -> result body of an action (None for put/delete)
Completion = Callable[[bool], dict[str, Any] | None]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Operation:
    id: str
    kind: Kind
    resource: ResourceId
    region: str
    fail: bool
    complete: Completion
    status: str = "InProgress"
    polls: int = 0
    start_time: str = field(default_factory=_now)
    end_time: str | None = None
    result: dict[str, Any] | None = None

    def status_path(self) -> str:
        return f"/subscriptions/{self.resource.subscription}/providers/{PROVIDER}/locations/{self.region}/operations/{self.id}"

    def result_path(self) -> str:
        return (
            f"/subscriptions/{self.resource.subscription}/providers/{PROVIDER}"
            f"/locations/{self.region}/operationResults/{self.id}"
        )

    def status_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.status_path(), "name": self.id, "status": self.status}
        body["startTime"] = self.start_time
        if self.end_time:
            body["endTime"] = self.end_time
        if self.status == "Failed":
            body["error"] = {
                "code": "InternalServerError",
                "message": f"An error occurred while processing the operation on '{self.resource}'.",
            }
        return body


class Operations:
    def __init__(self, *, polls_in_progress: int = 1, max_seconds: float = 0.5) -> None:
        self._ops: dict[str, Operation] = {}
        self.polls_in_progress = polls_in_progress
        self.max_seconds = max_seconds

    def start(
        self, kind: Kind, resource: ResourceId, region: str, fail: bool, complete: Completion
    ) -> Operation:
        op = Operation(
            str(uuid.uuid4()), kind, resource, region.replace(" ", "").lower() or "eastus", fail, complete
        )
        self._ops[op.id] = op
        try:
            asyncio.get_running_loop().call_later(self.max_seconds, self.finish, op)
        except RuntimeError:  # no loop (direct use in a unit test): poll-driven only
            pass
        return op

    def poll(self, op_id: str) -> Operation | None:
        op = self._ops.get(op_id)
        if op is None:
            return None
        op.polls += 1
        if op.status == "InProgress" and op.polls > self.polls_in_progress:
            self.finish(op)
        return op

    def finish(self, op: Operation) -> None:
        if op.status != "InProgress":
            return
        op.status = "Failed" if op.fail else "Succeeded"
        op.end_time = _now()
        op.result = op.complete(op.fail)

    def busy(self, resource: ResourceId) -> Operation | None:
        for op in self._ops.values():
            if op.status == "InProgress" and op.kind != "action" and op.resource.key == resource.key:
                return op
        return None

    def in_progress(self) -> int:
        return sum(1 for op in self._ops.values() if op.status == "InProgress")
