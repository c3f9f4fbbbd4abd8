"""Azure Resource Manager events -> at most one queued reconcile per site.

Event Grid delivers at least once, unordered, in batches: an event is acted on at its first delivery
only (its id remembered in Table Storage), and a burst of events for one site becomes one work item
(a pending marker per site, cleared when the reconcile starts). When queuing fails, both are undone so
that Event Grid's retry of the event is handled rather than taken for a duplicate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.azure.event_inbox import clear_pending, first_delivery, forget_delivery, mark_pending, prune_seen
from shared.azure.tables import table_service
from shared.drift.events import decide
from shared.errors import safe_message
from shared.settings import Settings
from shared.spec_source import current_spec

log = logging.getLogger(__name__)

Enqueue = Callable[[str, str], None]  # (site, cause): queue a reconcile work item


@dataclass(frozen=True)
class EventOutcome:
    event_id: str
    site: str | None  # the site the event concerns (None: ignored before that was known)
    queued: bool
    detail: str


def handle_arm_event(
    settings: Settings,
    *,
    event_id: object,
    event_type: str,
    subject: str,
    data: Mapping[str, Any],
    enqueue: Enqueue,
) -> EventOutcome:
    """Queue a reconcile of the site the event concerns, unless the event is ignored (type, scope, the
    app's own write), a redelivery, or a reconcile of the site is already pending. Raises InvalidEvent
    for an event without a usable id (nothing recorded) and the storage errors it meets (after undoing
    what it recorded, so that the redelivery is handled)."""
    decision = decide(
        event_id=event_id,
        event_type=event_type,
        subject=subject,
        data=data,
        sites=current_spec(settings).sites,
        own_principal_ids=settings.own_principal_ids,
    )
    event_id = decision.event_id
    if decision.site is None:
        return EventOutcome(event_id, None, False, f"ignored: {decision.ignored}")
    site = decision.site
    tables = table_service(settings)
    if not first_delivery(tables, event_id):
        return EventOutcome(event_id, site, False, "ignored: already handled (redelivery)")
    marked = False
    try:
        marked = mark_pending(tables, site)
        if not marked:
            return EventOutcome(event_id, site, False, f"a reconcile of site {site} is already queued")
        enqueue(site, f"{event_type} {subject}")
    except Exception:
        _undo(tables, event_id, site, marked=marked)
        raise
    return EventOutcome(event_id, site, True, f"queued a reconcile of site {site}")


def _undo(tables: Any, event_id: str, site: str, *, marked: bool) -> None:
    """Best effort: a failed undo is logged, and the original error is what the caller sees."""
    steps: list[tuple[str, Callable[[], None]]] = []
    if marked:
        steps.append(("clearing the pending marker", lambda: clear_pending(tables, site)))
    steps.append(("forgetting the event id", lambda: forget_delivery(tables, event_id)))
    for what, step in steps:
        try:
            step()
        except Exception as exc:
            log.error("arm_event %s: %s failed: %s", event_id, what, safe_message(exc))


def prune_seen_events(settings: Settings) -> int:
    """Forget event ids older than Event Grid's retry window (housekeeping of the reconcile timer)."""
    return prune_seen(table_service(settings))
