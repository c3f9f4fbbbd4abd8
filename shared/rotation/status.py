"""What the health report shows about a site's key: rotation state, key age, next due date. Pure: the
state is read by `shared.services.rotation.rotation_status`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.rotation.machine import RotationState, key_since
from shared.spec import Site


def describe_rotation(state: RotationState, site: Site, moment: datetime) -> dict[str, Any]:
    """Pure: the report's view of a rotation state. The key's age counts from its last completed
    rotation, else from its adoption (first sight); unknown before either."""
    since = key_since(state)
    if state.rotation_id is None:
        status = "adopted" if state.adopted_at else "never-rotated"
    else:
        status = state.phase.value
    detail = state.detail
    if since is None and not detail:
        detail = "no key escrowed yet: the rotation timer adopts the key it finds (Azure is not changed)"
    return {
        "state": status,
        "keyAgeDays": round((moment - since).total_seconds() / 86400, 2) if since else None,
        "lastRotatedAt": state.last_rotated_at.isoformat() if state.last_rotated_at else None,
        "adoptedAt": state.adopted_at.isoformat() if state.adopted_at else None,
        "nextDueAt": (since + timedelta(days=site.max_key_age_days)).isoformat() if since else None,
        "keyMatchesVault": state.key_matches_vault,
        "enabled": site.rotation.enabled,
        "detail": detail,
    }
