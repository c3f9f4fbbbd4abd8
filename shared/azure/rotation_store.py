"""Rotation state and history in Table Storage: partition = site; the state entity (RowKey "state")
changes only with its ETag, together with a history row, in one entity-group transaction."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.azure.run_log import newest_first_key
from shared.azure.table_names import ROTATION, table
from shared.rotation.machine import Phase, RotationState

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient

STATE_ROW = "state"
_TIMES = ("started_at", "awaiting_since", "last_rotated_at", "adopted_at")


class StateConflict(Exception):
    """Someone else changed the rotation state since it was read."""


def _to_entity(site: str, state: RotationState) -> dict[str, Any]:
    entity: dict[str, Any] = {"PartitionKey": site, "RowKey": STATE_ROW}
    for key, value in asdict(state).items():
        if value is None:
            continue
        if key in _TIMES:
            value = value.isoformat()
        elif key == "phase":
            value = value.value
        entity[key] = value
    return entity


def _from_entity(entity: dict[str, Any]) -> RotationState:
    fields: dict[str, Any] = {}
    for key in RotationState.__dataclass_fields__:
        if key not in entity:
            continue
        value = entity[key]
        if key in _TIMES:
            value = datetime.fromisoformat(value)
        elif key == "phase":
            value = Phase(value)
        fields[key] = value
    return RotationState(**fields)


def load_state(service: TableServiceClient, site: str) -> tuple[RotationState, str | None]:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        entity = table(service, ROTATION).get_entity(site, STATE_ROW)
    except ResourceNotFoundError:
        return RotationState(), None
    return _from_entity(dict(entity)), entity.metadata["etag"]


def load_all_states(service: TableServiceClient) -> dict[str, RotationState]:
    """Every site's rotation state in one query (for passes over many sites)."""
    rows = table(service, ROTATION).query_entities("RowKey eq @state", parameters={"state": STATE_ROW})
    return {row["PartitionKey"]: _from_entity(dict(row)) for row in rows}


# Table Storage allows at most 15 discrete comparisons in one $filter ("Querying tables and entities",
# Microsoft Learn): 14 sites (PartitionKey eq ...) plus RowKey eq 'state'.
SITES_PER_QUERY = 14


def load_states(
    service: TableServiceClient, sites: list[str], *, span: tuple[str, str] | None = None
) -> dict[str, RotationState]:
    """The rotation states of `sites` (a page of the health report): one query per 14 sites instead of
    one read per site, or one query for all of them when the caller knows few other sites lie in `span`
    (their lowest and highest name). A site without a state row gets the initial state, as load_state
    gives it."""
    from shared.azure.table_changes import partition_filters

    states: dict[str, RotationState] = {}
    client = table(service, ROTATION)
    for clause, parameters in partition_filters(sites, span):
        rows = client.query_entities(
            f"{clause} and RowKey eq @state", parameters={**parameters, "state": STATE_ROW}
        )
        states.update({row["PartitionKey"]: _from_entity(dict(row)) for row in rows})
    return {name: states.get(name, RotationState()) for name in sites}


def save_state(
    service: TableServiceClient,
    site: str,
    state: RotationState,
    etag: str | None,
    *,
    step: str,
    detail: str = "",
    now: datetime | None = None,
) -> str:
    """Write the new state (If-Match etag, or create when there was none) and a history row, atomically.
    Returns the new ETag; StateConflict when someone else wrote first."""
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
    from azure.data.tables import TableTransactionError, TransactionOperation, UpdateMode

    moment = now or datetime.now(UTC)
    history = {
        "PartitionKey": site,
        "RowKey": f"{newest_first_key(moment)}-{uuid.uuid4().hex[:8]}",
        "at": moment.isoformat(),
        "step": step,
        "phase": state.phase.value,
        "rotationId": state.rotation_id or "",
        "detail": detail[:2000],
    }
    entity = _to_entity(site, state)
    if etag is None:
        operation: tuple[Any, ...] = (TransactionOperation.CREATE, entity)
    else:
        operation = (
            TransactionOperation.UPDATE,
            entity,
            {"mode": UpdateMode.REPLACE, "etag": etag, "match_condition": MatchConditions.IfNotModified},
        )
    try:
        results = table(service, ROTATION).submit_transaction(
            [operation, (TransactionOperation.CREATE, history)]
        )
    except (ResourceModifiedError, ResourceExistsError):
        raise StateConflict(f"site {site}: the rotation state changed meanwhile") from None
    except TableTransactionError as exc:
        if exc.status_code in (409, 412):
            raise StateConflict(f"site {site}: the rotation state changed meanwhile") from None
        raise
    return str(results[0]["etag"])


def history(service: TableServiceClient, site: str, limit: int = 20) -> list[dict[str, Any]]:
    rows = table(service, ROTATION).query_entities(
        "PartitionKey eq @site and RowKey ne @state", parameters={"site": site, "state": STATE_ROW}
    )
    out: list[dict[str, Any]] = []
    for row in rows:
        out.append({k: row[k] for k in ("at", "step", "phase", "rotationId", "detail")})
        if len(out) >= limit:
            break
    return out
