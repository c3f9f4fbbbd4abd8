"""What the health report shows about a site's key: rotation state, key age, next due date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.rotation.machine import RotationState
from shared.spec import Site


def rotation_status(service: Any, site: Site, *, now: datetime | None = None) -> dict[str, Any]:
    """One Table read (`service` is a TableServiceClient). Key age is counted from the last completed
    rotation; before the first one it is unknown here (Key Vault is not read on a health request)."""
    from shared.azure.rotation_store import load_state

    state, _ = load_state(service, site.name)
    return describe_rotation(state, site, now or datetime.now(UTC))


def describe_rotation(state: RotationState, site: Site, moment: datetime) -> dict[str, Any]:
    """Pure: the report's view of a rotation state."""
    if state.rotation_id is None and state.last_rotated_at is None:
        return {
            "state": "never-rotated",
            "keyAgeDays": None,
            "lastRotatedAt": None,
            "nextDueAt": None,
            "keyMatchesVault": state.key_matches_vault,
            "detail": "no rotation recorded yet; the rotation timer starts one when the key's age is unknown",
        }
    last = state.last_rotated_at
    return {
        "state": state.phase.value,
        "keyAgeDays": round((moment - last).total_seconds() / 86400, 2) if last else None,
        "lastRotatedAt": last.isoformat() if last else None,
        "nextDueAt": (last + timedelta(days=site.max_key_age_days)).isoformat() if last else None,
        "keyMatchesVault": state.key_matches_vault,
        "detail": state.detail,
    }
