"""Drift reconciliation benchmark, on the path production runs: the `reconcile_timer` function queues
one work item per site on `hybridnet-reconcile`, and the `reconcile_worker` queue trigger reconciles
each site, in the local Functions host (its queue batches and worker threads) against Azurite and the
simulator (a separate process, HTTPS, the real azure-mgmt-network SDK). The timer is fired through the
host's admin API, as `func` does; each pass ends when every site's run row is in Azurite.

1. ARM calls per site of a steady-state pass (target: <= 5 reads, 0 writes);
2. a pass over many sites with injected ARM latency: wall time from firing the timer to the last run
   recorded, the queue pickup, per-site run times.

    .venv/bin/python -m bench.drift_bench [--sites 100] [--latency-ms 40]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient

from bench.admin import fire_function
from bench.many_sites import write_many_sites
from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.lro import LOCAL_TIME_SCALE
from hybridnet_dev.azurite import Azurite
from hybridnet_dev.funchost.server import LocalHost
from hybridnet_dev.local_stack import FOREIGN_CREDENTIALS, QUIET, app_settings
from shared.azure.table_names import RUNS

ROOT = Path(__file__).resolve().parent.parent


def _start_simulator(spec: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hybridnet_dev.armsim",
            "--spec",
            str(spec),
            "--log-level",
            "WARNING",
            "--time-scale",
            str(LOCAL_TIME_SCALE),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())


def _arm_counts(control: SimControl) -> tuple[int, int]:
    log = [r for r in control.requests() if r["path"].startswith("/subscriptions/")]
    reads = sum(1 for r in log if r["method"] == "GET")
    writes = sum(1 for r in log if r["method"] in ("PUT", "PATCH", "DELETE", "POST"))
    return reads, writes


def _timer_runs(service: TableServiceClient, since: str) -> list[dict[str, Any]]:
    rows = service.get_table_client(RUNS).query_entities(
        "trigger eq 'timer' and startedAt gt @since", parameters={"since": since}
    )
    try:
        return [dict(row) for row in rows]
    except ResourceNotFoundError:  # no run recorded yet: the first run creates the table
        return []


def timer_pass(
    host: LocalHost, service: TableServiceClient, sites: int
) -> tuple[float, list[dict[str, Any]]]:
    """Fire reconcile_timer; (seconds until every site's run is recorded, the runs)."""
    since = datetime.now(UTC).isoformat()
    started = time.perf_counter()
    fire_function(host, "reconcile_timer")
    deadline = time.monotonic() + 600
    while True:
        runs = _timer_runs(service, since)
        if len({r["PartitionKey"] for r in runs}) >= sites:
            return time.perf_counter() - started, runs
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(runs)} of {sites} sites reconciled within 600 s")
        time.sleep(0.05)


def _seconds(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--latency-ms", type=int, default=40)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp, Azurite() as azurite:
        spec = write_many_sites(Path(tmp) / "sites.yaml", args.sites)
        sim, info = _start_simulator(spec)
        try:
            for name in FOREIGN_CREDENTIALS:
                os.environ.pop(name, None)
            os.environ.update(
                {
                    **app_settings(info, storage=azurite.connection_string, spec_path=spec),
                    "HYBRIDNET_DRIFT_MODE": "enforce",
                    "HYBRIDNET_RECONCILE_SCHEDULE": QUIET,  # fired by hand below, nothing else fires
                    "HYBRIDNET_FAILOVER_SCHEDULE": QUIET,
                    "HYBRIDNET_ROTATION_SCHEDULE": QUIET,
                }
            )
            control = SimControl(info["controlUrl"])
            service = TableServiceClient.from_connection_string(azurite.connection_string)
            with LocalHost("function_app", app_dir=str(ROOT), port=0, enable_timers=False) as host:
                timer_pass(host, service, args.sites)  # warm-up: tokens, tables, queue
                control.clear_requests()
                _, runs = timer_pass(host, service, args.sites)
                reads, writes = _arm_counts(control)
                outcomes = sorted({r["outcome"] for r in runs})
                print(
                    f"steady-state timer pass, {args.sites} sites: {reads / args.sites:.2f} ARM reads and "
                    f"{writes / args.sites:.2f} writes per site (outcomes {outcomes}; target <= 5 reads, 0 writes)"
                )

                control.add_fault("latency", path=".*", latency_ms=args.latency_ms)
                control.clear_requests()
                fired = time.time()
                wall, runs = timer_pass(host, service, args.sites)
                reads, writes = _arm_counts(control)
                first_start = min(_seconds(r["startedAt"]) for r in runs) - fired
                durations = [_seconds(r["finishedAt"]) - _seconds(r["startedAt"]) for r in runs]
                sequential = sum(durations)
                print(
                    f"timer -> queue -> worker, {args.sites} sites, {args.latency_ms} ms per ARM call: "
                    f"{wall:.2f} s from firing the timer to the last run recorded "
                    f"({args.sites / wall:.1f} sites/s); first site picked up after {first_start:.2f} s; "
                    f"per-site run median {statistics.median(durations):.2f} s, max {max(durations):.2f} s; "
                    f"{reads} reads, {writes} writes, outcomes {sorted({r['outcome'] for r in runs})}"
                )
                print(
                    f"sum of the per-site run times {sequential:.2f} s: the host ran "
                    f"x{sequential / wall:.1f} sites at once on average"
                )
        finally:
            sim.terminate()
            sim.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
