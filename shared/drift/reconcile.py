"""One reconcile pass for one site: observe -> diff -> plan -> apply -> re-observe -> diff.

Ports (observe, writer, key source) are passed in so that the pass is tested against the simulator
through the real SDK, and the decisions stay in the pure modules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from shared.drift.apply import ActionResult, Outcome, ResourceWriter, apply_plan
from shared.drift.desired import desired_site
from shared.drift.diff import diff
from shared.drift.findings import SEVERITY_ORDER, Finding
from shared.drift.observed import ObservedSite, ObserveFailed
from shared.drift.plan import Mode, Plan, plan
from shared.errors import Busy
from shared.spec import Site


@dataclass(frozen=True)
class ReconcileResult:
    site: str
    mode: Mode
    started_at: datetime
    finished_at: datetime
    findings: tuple[Finding, ...]
    plan: Plan | None
    results: tuple[ActionResult, ...] = ()
    remaining: tuple[Finding, ...] = ()
    error: str | None = None

    @property
    def outcome(self) -> str:
        if self.error:
            return "error"
        if any(r.outcome in (Outcome.FAILED, Outcome.SKIPPED) for r in self.results):
            return "partial"
        if not self.findings:
            return "in-sync"
        if not self.mode.writes:
            return "drift-reported"
        return "fixed" if not self.remaining else "drift-remains"

    def open_findings_by_severity(self) -> dict[str, int]:
        """What is still different after this run, counted by severity."""
        counts: dict[str, int] = {}
        for finding in sorted(self.remaining, key=lambda f: SEVERITY_ORDER[f.severity]):
            counts[finding.severity.value] = counts.get(finding.severity.value, 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "mode": self.mode.value,
            "outcome": self.outcome,
            "startedAt": self.started_at.isoformat(),
            "finishedAt": self.finished_at.isoformat(),
            "findings": [f.to_json() for f in self.findings],
            "plan": self.plan.to_json() if self.plan else None,
            "results": [r.to_json() for r in self.results],
            "remaining": [f.to_json() for f in self.remaining],
            "error": self.error,
        }


class SiteLock(Protocol):
    """Mutual exclusion per site across instances (a lease in Table Storage in production)."""

    def acquire(self) -> bool: ...

    def release(self) -> None: ...


class SiteBusy(Busy):
    """Another reconciler holds the site's lock."""

    code = "SiteBusy"


def reconcile_site(
    site: Site,
    subscription: str,
    mode: Mode,
    *,
    observe: Callable[[Site], ObservedSite],
    writer: ResourceWriter,
    lock: SiteLock,
    new_shared_key: Callable[[], str],
    extra_findings: tuple[Finding, ...] = (),
    apply_deadline: float | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ReconcileResult:
    """Observe and plan without the lock (reads only); when the mode would write, take the site's
    lock, observe again under it (the state may have moved), apply, and observe once more: `remaining`
    is what is still different. Raises SiteBusy when another reconciler holds the lock.

    `extra_findings` are facts found elsewhere (the key checks of the rotation timer): reported with
    the run's findings, never planned here."""
    started = now()
    desired = desired_site(site, subscription)

    def result(
        findings: tuple[Finding, ...] = (),
        the_plan: Plan | None = None,
        results: tuple[ActionResult, ...] = (),
        remaining: tuple[Finding, ...] = (),
        error: ObserveFailed | None = None,
    ) -> ReconcileResult:
        return ReconcileResult(
            site.name,
            mode,
            started,
            now(),
            findings,
            the_plan,
            results,
            remaining,
            str(error) if error else None,
        )

    def assess() -> tuple[tuple[Finding, ...], Plan]:
        observed = observe(site)
        findings = diff(desired, observed)
        return tuple(findings) + extra_findings, plan(desired, observed, findings, mode)

    try:
        findings, the_plan = assess()
    except ObserveFailed as exc:
        return result(error=exc)
    if not mode.writes or the_plan.empty:
        return result(findings, the_plan, remaining=findings)
    if not lock.acquire():
        raise SiteBusy(f"site {site.name}: another reconciler holds its lock")
    try:
        try:
            findings, the_plan = assess()  # the state may have moved before we held the lock
        except ObserveFailed as exc:
            return result(error=exc)
        if the_plan.empty:  # fixed by whoever held the lock before us
            return result(findings, the_plan, remaining=findings)
        results = tuple(apply_plan(the_plan, writer, new_shared_key=new_shared_key, deadline=apply_deadline))
        try:
            remaining, _ = assess()
        except ObserveFailed as exc:
            return result(findings, the_plan, results, error=exc)
    finally:
        lock.release()
    return result(findings, the_plan, results, remaining)
