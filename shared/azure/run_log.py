"""Reconcile runs recorded in Table Storage: one row per run, partition = site, newest first."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.azure.table_names import RUNS, table
from shared.drift.reconcile import ReconcileResult

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient

MAX_PROPERTY_CHARS = 30_000  # Table Storage: 64 KiB per string property (UTF-16)


def newest_first_key(moment: datetime) -> str:
    """Row keys sort ascending; inverting the timestamp puts the newest row first."""
    return f"{10**13 - int(moment.timestamp() * 1000):013d}"


def _bounded_json(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    if len(text) <= MAX_PROPERTY_CHARS:
        return text
    return json.dumps({"truncated": True, "chars": len(text)})


def record_run(
    service: TableServiceClient, result: ReconcileResult, *, trigger: str, run_id: str | None = None
) -> str:
    run_id = run_id or uuid.uuid4().hex
    entity = {
        "PartitionKey": result.site,
        "RowKey": f"{newest_first_key(result.started_at)}-{run_id[:12]}",
        "runId": run_id,
        "trigger": trigger,
        "mode": result.mode.value,
        "outcome": result.outcome,
        "startedAt": result.started_at.isoformat(),
        "finishedAt": result.finished_at.isoformat(),
        "findingCount": len(result.findings),
        "openBySeverity": _bounded_json(result.open_findings_by_severity()),
        "findings": _bounded_json([f.to_json() for f in result.findings]),
        # What was still different when the run re-observed: the report tells fixed from open by it.
        "remaining": _bounded_json([f.to_json() for f in result.remaining]),
        "actions": _bounded_json([r.to_json() for r in result.results]),
        "error": result.error or "",
    }
    table(service, RUNS).create_entity(entity)
    return run_id


def latest_runs(service: TableServiceClient, site: str, limit: int = 10) -> list[dict[str, Any]]:
    rows = table(service, RUNS).query_entities(
        "PartitionKey eq @site", parameters={"site": site}, results_per_page=limit
    )
    out: list[dict[str, Any]] = []
    for row in rows:
        out.append(
            {
                "runId": row["runId"],
                "trigger": row["trigger"],
                "mode": row["mode"],
                "outcome": row["outcome"],
                "startedAt": row["startedAt"],
                "finishedAt": row["finishedAt"],
                "findings": json.loads(row["findings"]),
                "actions": json.loads(row["actions"]),
                "openBySeverity": json.loads(row["openBySeverity"]),
                "remaining": json.loads(row["remaining"]) if "remaining" in row else None,
                "error": row["error"] or None,
            }
        )
        if len(out) >= limit:
            break
    return out
