"""Carry out a plan through a writer port, in dependency order, never past a failed dependency."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from shared.drift.plan import Action, Mode, Plan
from shared.drift.resources import Kind, id_key
from shared.errors import safe_message


class WriteError(Exception):
    """A write did not succeed. The message is safe to record (no bodies, no keys)."""


class WritesStopped(WriteError):
    """Raised by a writer before it writes anything: no write may happen any more in this pass (the
    site's lock was lost). This action and every later one are skipped with the message."""


class ResourceWriter(Protocol):
    def put(
        self,
        kind: Kind,
        resource_id: str,
        body: Mapping[str, Any],
        *,
        if_match: str | None,
        create_only: bool,
    ) -> None:
        """PUT and wait for the long-running operation; raise WriteError on any failure."""


class Outcome(StrEnum):
    APPLIED = "applied"
    FAILED = "failed"
    SKIPPED = "skipped"
    NOT_RUN = "not-run"  # report mode


@dataclass(frozen=True)
class ActionResult:
    action: Action
    outcome: Outcome
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action.describe(), "outcome": self.outcome.value, "detail": self.detail}


def apply_plan(
    plan: Plan,
    writer: ResourceWriter,
    *,
    new_shared_key: Callable[[], str],
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[ActionResult]:
    """Run each action of the plan in order. In report mode nothing is written.

    `deadline` (a `clock` value) stops starting actions once the pass's time budget is spent, so a
    pass ends inside the function timeout; `new_shared_key` supplies the pre-shared key for a connection that must be created; the key goes
    into the request body only, never into a result, a log line or an exception.
    """
    if not plan.mode.writes:
        return [ActionResult(a, Outcome.NOT_RUN, "report mode") for a in plan.actions]
    results: list[ActionResult] = []
    failed: set[str] = set()
    stopped: str | None = None
    for action in plan.actions:
        if stopped is not None:
            results.append(ActionResult(action, Outcome.SKIPPED, stopped))
            continue
        if deadline is not None and clock() >= deadline:
            failed.add(id_key(action.resource_id))
            results.append(
                ActionResult(
                    action, Outcome.SKIPPED, "the pass's time budget is used up; the next pass goes on"
                )
            )
            continue
        blocked = [d for d in action.depends_on if id_key(d) in failed]
        if blocked:
            failed.add(id_key(action.resource_id))
            names = ", ".join(d.rsplit("/", 1)[-1] for d in blocked)
            results.append(
                ActionResult(action, Outcome.SKIPPED, f"depends on {names}, which did not succeed")
            )
            continue
        body: Mapping[str, Any] = action.body
        try:
            if action.needs_shared_key:
                try:
                    key = new_shared_key()
                except Exception as exc:  # Key Vault down, not configured...: this action fails, not the run
                    raise WriteError(
                        f"no pre-shared key for the new connection: {safe_message(exc)}"
                    ) from None
                body = {**body, "properties": {**body["properties"], "sharedKey": key}}
            writer.put(
                action.kind,
                action.resource_id,
                body,
                if_match=action.if_match,
                create_only=action.if_match is None,
            )
        except WritesStopped as exc:
            stopped = f"not written: {exc}"
            results.append(ActionResult(action, Outcome.SKIPPED, stopped))
            continue
        except WriteError as exc:
            failed.add(id_key(action.resource_id))
            results.append(ActionResult(action, Outcome.FAILED, str(exc)))
            continue
        results.append(ActionResult(action, Outcome.APPLIED))
    return results


__all__ = ["ActionResult", "Mode", "Outcome", "ResourceWriter", "WriteError", "WritesStopped", "apply_plan"]
