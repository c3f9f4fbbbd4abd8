"""Failover history in Table Storage: per site (partition = site name) one state entity and the event
rows, so a transition is ONE entity-group transaction: replace the state entity `If-Match` its ETag (or
create it when absent) + create the event row. Either both land or neither does.

- RowKey "state": the site's recorded `SiteState` (see shared.failover.classify).
- RowKey "e<inverted ms of detectedAt, 13 digits>-<event id>": one event row, newest first.

A 412 (ETag moved) or 409 (state created meanwhile) means another detector recorded something first:
`Conflict`, and the caller re-reads and re-classifies. An unanswered write (timeout, 5xx after the SDK's
retries) is `Ambiguous`: the caller re-reads the state entity, whose `lastEventId` says whether its own
transaction landed. Because the state's ETag guards every write, a write can never land twice.
"""

from __future__ import annotations

import heapq
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.azure.table_names import FAILOVER, table
from shared.failover.classify import Condition, Observation, SiteState, Transition
from shared.failover.routes import FactTransition

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableServiceClient

STATE_ROW = "state"
EVENT_PREFIX = "e"
EVENT_END = "f"  # RowKeys of events sort between "e" and "f"; "state" sorts after all of them
MAX_BATCH = 100  # entity-group transaction limit
DETECTORS = ("poll", "alert", "manual", "route-check")


class Conflict(Exception):
    """Another writer changed the site's state first (412 / 409): re-read and re-classify."""


class Ambiguous(Exception):
    """The write's outcome is unknown (timeout, 5xx after retries): re-read to learn whether it landed."""


@dataclass(frozen=True)
class StoredState:
    state: SiteState | None
    etag: str | None
    last_event_id: str | None = None


def _inverted(moment: datetime) -> int:
    return 10**13 - int(moment.timestamp() * 1000)


def event_row_key(detected_at: datetime, event_id: str) -> str:
    return f"{EVENT_PREFIX}{_inverted(detected_at):013d}-{event_id}"


def new_event_id() -> str:
    return uuid.uuid4().hex[:16]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def state_entity(site: str, state: SiteState, last_event_id: str | None) -> dict[str, Any]:
    """The state entity. The pending streak is stored only while one runs, which happens only with
    hold_count > 1: with hold_count 1 any new condition is a transition at once."""
    entity: dict[str, Any] = {
        "PartitionKey": site,
        "RowKey": STATE_ROW,
        "condition": state.condition.value,
        "path": state.path.value,
        "backupUp": state.backup_up,
        "since": _iso(state.since),
        "lastEventId": last_event_id or "",
    }
    optional = {
        "expressRouteDownSince": _iso(state.expressroute_down_since),
        "backupDownSince": _iso(state.backup_down_since),
        "outageSince": _iso(state.outage_since),
    }
    if state.routes_json:
        optional["routes"] = state.routes_json
    if state.pending is not None:
        optional |= {
            "pending": state.pending.value,
            "pendingCount": state.pending_count,
            "pendingSince": _iso(state.pending_since),
        }
    entity.update({k: v for k, v in optional.items() if v is not None})
    return entity


def state_from_entity(entity: dict[str, Any]) -> SiteState:
    pending = entity.get("pending")
    since = _dt(entity.get("since"))
    if since is None:
        raise ValueError(f"failover state of site {entity.get('PartitionKey')!r} has no 'since'")
    return SiteState(
        condition=Condition(entity["condition"]),
        since=since,
        expressroute_down_since=_dt(entity.get("expressRouteDownSince")),
        backup_down_since=_dt(entity.get("backupDownSince")),
        outage_since=_dt(entity.get("outageSince")),
        pending=Condition(pending) if pending else None,
        pending_count=int(entity.get("pendingCount") or 0),
        pending_since=_dt(entity.get("pendingSince")),
        routes_json=entity.get("routes") or None,
    )


def _check_detector(detected_by: str) -> None:
    if detected_by not in DETECTORS:
        raise ValueError(f"detected_by must be one of {DETECTORS}, got {detected_by!r}")


def _observed(observation: Observation, *, evidence: dict[str, Any], detail: str) -> dict[str, Any]:
    """The columns every event row carries: what was observed, the evidence, a short detail."""
    return {
        "expressRouteStatus": observation.expressroute_status or "",
        "vpnStatus": observation.vpn_status or "",
        "evidence": json.dumps(evidence, separators=(",", ":"), sort_keys=True),
        "detail": detail[:1000],
    }


def event_entity(
    site: str,
    event_id: str,
    transition: Transition,
    observation: Observation,
    *,
    detected_by: str,
    evidence: dict[str, Any],
    detail: str = "",
) -> dict[str, Any]:
    _check_detector(detected_by)
    entity: dict[str, Any] = {
        "PartitionKey": site,
        "RowKey": event_row_key(transition.detected_at, event_id),
        "eventId": event_id,
        "kind": transition.kind.value,
        "fromPath": transition.from_path.value,
        "toPath": transition.to_path.value,
        "fromCondition": transition.from_condition.value,
        "toCondition": transition.to_condition.value,
        "backupUp": transition.to_condition.backup_up,
        "startedAt": _iso(transition.started_at),
        "detectedAt": _iso(transition.detected_at),
        "detectedBy": detected_by,
        **_observed(observation, evidence=evidence, detail=detail),
    }
    if transition.duration_seconds is not None:
        entity["durationSeconds"] = float(transition.duration_seconds)
    return entity


def fact_event_entity(
    site: str,
    event_id: str,
    fact: FactTransition,
    condition: Condition,
    observation: Observation,
    *,
    detected_by: str,
    evidence: dict[str, Any],
    detail: str = "",
) -> dict[str, Any]:
    """An event row for a route fact (backup-preferred, redundancy-lost, prefix-unreachable and their
    reversals): the site's path does not change (fromPath == toPath); `subject` names the prefix or
    gateway, `evidence` holds the per-prefix rows."""
    _check_detector(detected_by)
    detected = observation.at
    entity: dict[str, Any] = {
        "PartitionKey": site,
        "RowKey": event_row_key(detected, event_id),
        "eventId": event_id,
        "kind": fact.kind,
        "subject": fact.subject,
        "fromPath": condition.path.value,
        "toPath": condition.path.value,
        "fromCondition": condition.value,
        "toCondition": condition.value,
        "backupUp": condition.backup_up,
        "startedAt": fact.started_at,
        "detectedAt": _iso(detected),
        "detectedBy": detected_by,
        **_observed(observation, evidence=evidence, detail=detail),
    }
    if fact.duration_seconds is not None:
        entity["durationSeconds"] = float(fact.duration_seconds)
    return entity


def event_json(entity: dict[str, Any]) -> dict[str, Any]:
    """An event row as the JSON the CLI, the CloudEvent and the health report use."""
    try:
        evidence = json.loads(entity.get("evidence") or "{}")
    except ValueError:
        evidence = {}
    duration = entity.get("durationSeconds")
    return {
        "site": entity["PartitionKey"],
        "eventId": entity.get("eventId", ""),
        "kind": entity["kind"],
        "fromPath": entity["fromPath"],
        "toPath": entity["toPath"],
        "backupUp": bool(entity.get("backupUp")),
        "startedAt": entity.get("startedAt"),
        "detectedAt": entity["detectedAt"],
        "detectedBy": entity["detectedBy"],
        "expressRouteStatus": entity.get("expressRouteStatus") or None,
        "vpnStatus": entity.get("vpnStatus") or None,
        "durationSeconds": None if duration is None else float(duration),
        "evidence": evidence,
        "detail": entity.get("detail") or "",
        "subject": entity.get("subject") or None,
    }


def failover_table(service: TableServiceClient) -> TableClient:
    return table(service, FAILOVER)


def read_state(service: TableServiceClient, site: str) -> StoredState:
    """One point read (the only Table operation of a poll that finds no change)."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        entity = failover_table(service).get_entity(site, STATE_ROW)
    except ResourceNotFoundError:
        return StoredState(state=None, etag=None)
    return StoredState(
        state=state_from_entity(entity),
        etag=entity.metadata["etag"],
        last_event_id=entity.get("lastEventId") or None,
    )


def commit(
    service: TableServiceClient,
    site: str,
    stored: StoredState,
    new_state: SiteState,
    event: dict[str, Any] | list[dict[str, Any]] | None = None,
) -> None:
    """Write `new_state` (and the event row(s), in the same transaction) only if the state is still
    `stored`. With several rows (a route check can confirm several facts at once) the state's
    `lastEventId` is the first row's id.

    Raises Conflict when someone else wrote first, Ambiguous when the outcome is unknown."""
    from azure.core import MatchConditions
    from azure.core.exceptions import (
        HttpResponseError,
        ResourceExistsError,
        ResourceModifiedError,
        ServiceRequestError,
        ServiceResponseError,
    )
    from azure.data.tables import TableTransactionError, UpdateMode

    events = [event] if isinstance(event, dict) else list(event or [])
    if len(events) >= MAX_BATCH:
        raise ValueError(f"site {site}: {len(events)} event rows exceed one transaction")
    last_event_id = events[0]["eventId"] if events else stored.last_event_id
    entity = state_entity(site, new_state, last_event_id)
    operations: list[Any] = []
    if stored.etag is None:
        operations.append(("create", entity))
    else:
        operations.append(
            (
                "update",
                entity,
                {
                    "mode": UpdateMode.REPLACE,
                    "etag": stored.etag,
                    "match_condition": MatchConditions.IfNotModified,
                },
            )
        )
    operations.extend(("create", e) for e in events)
    try:
        failover_table(service).submit_transaction(operations)
    except (ResourceModifiedError, ResourceExistsError) as exc:
        raise Conflict(f"site {site}: failover state changed by another writer") from exc
    except TableTransactionError as exc:
        if exc.status_code in (409, 412):
            raise Conflict(f"site {site}: failover state changed by another writer") from exc
        if exc.status_code is not None and exc.status_code >= 500:
            raise Ambiguous(f"site {site}: Table Storage answered {exc.status_code}") from exc
        raise
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise Ambiguous(f"site {site}: Table Storage did not answer ({type(exc).__name__})") from exc
    except HttpResponseError as exc:
        if exc.status_code in (409, 412):
            raise Conflict(f"site {site}: failover state changed by another writer") from exc
        if exc.status_code is None or exc.status_code >= 500 or exc.status_code == 408:
            raise Ambiguous(f"site {site}: Table Storage answered {exc.status_code}") from exc
        raise


def _since_filter(since: datetime | None) -> tuple[str, dict[str, Any]]:
    upper = EVENT_END if since is None else f"{EVENT_PREFIX}{_inverted(since) + 1:013d}"
    return "RowKey ge @lower and RowKey lt @upper", {"lower": EVENT_PREFIX, "upper": upper}


def failover_events(
    service: TableServiceClient,
    *,
    site: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Failover events newest first (by detectedAt), optionally of one site and at or after `since`."""
    if limit < 1:
        return []
    query, parameters = _since_filter(since)
    client = failover_table(service)
    if site is not None:
        rows = client.query_entities(
            f"PartitionKey eq @site and {query}",
            parameters={**parameters, "site": site},
            results_per_page=min(limit, 1000),
        )
        out: list[dict[str, Any]] = []
        for row in rows:  # one partition comes back in RowKey order: newest first
            out.append(event_json(row))
            if len(out) >= limit:
                break
        return out
    rows = client.query_entities(query, parameters=parameters, results_per_page=1000)
    newest = heapq.nlargest(
        limit, (event_json(r) for r in rows), key=lambda e: (e["detectedAt"], e["eventId"])
    )
    return newest


def delete_events_before(service: TableServiceClient, cutoff: datetime) -> int:
    """Retention: delete event rows detected before `cutoff`, in transactions of at most 100 rows of one
    partition. Returns how many were deleted. The state entities are never touched."""
    from azure.core.exceptions import HttpResponseError

    lower = f"{EVENT_PREFIX}{_inverted(cutoff) + 1:013d}"
    client = failover_table(service)
    rows = client.query_entities(
        "RowKey ge @lower and RowKey lt @upper",
        parameters={"lower": lower, "upper": EVENT_END},
        select=["PartitionKey", "RowKey"],
        results_per_page=1000,
    )
    by_site: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_site[row["PartitionKey"]].append(row["RowKey"])
    deleted = 0
    for site, keys in by_site.items():
        for start in range(0, len(keys), MAX_BATCH):
            chunk = keys[start : start + MAX_BATCH]
            try:
                client.submit_transaction([("delete", {"PartitionKey": site, "RowKey": k}) for k in chunk])
            except HttpResponseError:
                # e.g. a row already deleted by an earlier, unanswered attempt fails the whole batch:
                # delete one by one (delete_entity ignores a missing row).
                for key in chunk:
                    client.delete_entity(site, key)
            deleted += len(chunk)
    return deleted
