"""Reconcile runs recorded in Table Storage: one row per run, partition = site, newest first."""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.azure.leases import describe, transient
from shared.azure.table_names import RUNS, table
from shared.drift.reconcile import ReconcileResult
from shared.errors import redact

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient

log = logging.getLogger(__name__)

MAX_PROPERTY_CHARS = 30_000  # Table Storage: 64 KiB per string property (UTF-16)
RECORD_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)  # seconds between attempts to write a run row (6 attempts)


def newest_first_key(moment: datetime) -> str:
    """Row keys sort ascending; inverting the timestamp puts the newest row first."""
    return f"{10**13 - int(moment.timestamp() * 1000):013d}"


def _bounded_json(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    if len(text) <= MAX_PROPERTY_CHARS:
        return text
    return json.dumps({"truncated": True, "chars": len(text)})


def record_run(
    service: TableServiceClient,
    result: ReconcileResult,
    *,
    trigger: str,
    run_id: str | None = None,
    delays: tuple[float, ...] | None = None,
) -> str:
    """Write the run's row; a transient failure (Table Storage unreachable, 5xx, 429) is retried after
    each of `delays` (default RECORD_DELAYS). The row key is fixed before the first attempt, so a retry after an attempt that
    landed but went unanswered finds its own row (409) and counts as written. Raises the last error."""
    from azure.core.exceptions import AzureError, ResourceExistsError

    delays = RECORD_DELAYS if delays is None else delays
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
        "error": redact(result.error) if result.error else "",
    }
    attempt = 0
    while True:
        attempt += 1
        try:
            # The attempts and delays are ours; an attempt that hangs gives way to the next.
            table(service, RUNS).create_entity(entity, retry_total=0, connection_timeout=5, read_timeout=15)
            return run_id
        except ResourceExistsError:
            return run_id  # an earlier, unanswered attempt of ours landed
        except AzureError as exc:
            if attempt > len(delays) or not transient(exc):
                raise
            log.warning(
                "run %s of site %s: recording failed (%s), attempt %d; retrying in %gs",
                run_id,
                result.site,
                describe(exc),
                attempt,
                delays[attempt - 1],
            )
            time.sleep(delays[attempt - 1])


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
