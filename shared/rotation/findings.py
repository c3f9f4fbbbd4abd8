"""Key drift, reported by the reconciler from what the rotation timer last found. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.drift.findings import Finding, FindingKind, FixClass, Severity
from shared.rotation.machine import RotationState, key_since


def key_findings(
    site: str, connection_id: str, state: RotationState, *, max_age_days: int, now: datetime
) -> list[Finding]:
    found: list[Finding] = []
    if state.key_matches_vault is False and not state.phase.in_progress:
        found.append(
            Finding(
                site,
                connection_id,
                FindingKind.MISMATCH,
                Severity.HIGH,
                FixClass.FORBIDDEN,
                "the connection's shared key differs from Key Vault's active version (changed by hand?)",
                remedy="rotate the key (POST /api/rotate), which escrows the current key first",
            )
        )
    since = key_since(state)  # the last rotation, else the adoption
    if since and now - since > timedelta(days=max_age_days):
        age = (now - since).days
        found.append(
            Finding(
                site,
                connection_id,
                FindingKind.MISMATCH,
                Severity.MEDIUM,
                FixClass.FORBIDDEN,
                f"the shared key is {age} days old (maxKeyAgeDays {max_age_days})",
                remedy="the rotation timer rotates it while ExpressRoute carries traffic",
            )
        )
    return found
