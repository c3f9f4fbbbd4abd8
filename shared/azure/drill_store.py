"""Drill results, in their own table: one row per drill (partition: the site), the drill's JSON in
``drill`` plus its phase and result as columns."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from shared.azure.table_names import table
from shared.failover.drill import ACTIVE, Drill

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient

DRILLS = "hybridnetDrills"


def save(service: TableServiceClient, drill: Drill) -> None:
    from azure.data.tables import UpdateMode

    entity: dict[str, Any] = {
        "PartitionKey": drill.site,
        "RowKey": drill.id,
        "phase": drill.phase,
        "result": drill.result or "",
        "createdAt": drill.created_at,
        "drill": json.dumps(drill.to_json(), sort_keys=True),
    }
    table(service, DRILLS).upsert_entity(entity, mode=UpdateMode.REPLACE)


def drills(service: TableServiceClient, site: str | None = None) -> list[Drill]:
    """The drills (of one site, or all), newest first."""
    t = table(service, DRILLS)
    if site is None:
        rows = t.list_entities()
    else:
        rows = t.query_entities("PartitionKey eq @s", parameters={"s": site})
    found = [Drill.from_json(json.loads(r["drill"])) for r in rows]
    return sorted(found, key=lambda d: (d.created_at, d.id), reverse=True)


def active(service: TableServiceClient, site: str | None = None) -> list[Drill]:
    return [d for d in drills(service, site) if d.phase in ACTIVE]
