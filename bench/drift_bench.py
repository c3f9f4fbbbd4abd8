"""Drift reconciliation benchmark: ARM calls per steady-state pass, and one pass over many sites with
injected ARM latency, concurrent vs sequential. Real parts: the simulator (a separate process, HTTPS),
the azure-mgmt-network SDK, Azurite for leases and run records.

    .venv/bin/python -m bench.drift_bench [--sites 100] [--latency-ms 40] [--workers 24]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.many_sites import write_many_sites
from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.azurite import Azurite
from hybridnet_dev.local_stack import app_settings
from shared.drift.plan import Mode
from shared.services.reconciler import MAX_CONCURRENT_SITES, reconcile, reconcile_many
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _start_simulator(spec: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "hybridnet_dev.armsim", "--spec", str(spec), "--log-level", "WARNING"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())


def _arm_counts(control: SimControl) -> tuple[int, int]:
    log = control.requests()
    reads = sum(1 for r in log if r["method"] == "GET")
    writes = sum(1 for r in log if r["method"] in ("PUT", "PATCH", "DELETE", "POST"))
    return reads, writes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--latency-ms", type=int, default=40)
    parser.add_argument("--workers", type=int, default=MAX_CONCURRENT_SITES)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp, Azurite() as azurite:
        spec = write_many_sites(Path(tmp) / "sites.yaml", args.sites)
        sim, info = _start_simulator(spec)
        try:
            os.environ.update(app_settings(info, storage=azurite.connection_string, spec_path=spec))
            settings = Settings.from_env()
            control = SimControl(info["controlUrl"])
            names = [f"site-{i:03d}" for i in range(args.sites)]

            reconcile(settings, names[0], trigger="bench", mode=Mode.ENFORCE)  # warm-up: token, tables
            control.clear_requests()
            result = reconcile(settings, names[0], trigger="bench", mode=Mode.ENFORCE)
            reads, writes = _arm_counts(control)
            print(
                f"steady-state pass, one site: {reads} ARM reads, {writes} writes (outcome {result.outcome})"
            )

            control.add_fault("latency", path=".*", latency_ms=args.latency_ms)
            control.clear_requests()
            started = time.perf_counter()
            results = reconcile_many(
                settings, names, trigger="bench", mode=Mode.ENFORCE, max_workers=args.workers
            )
            concurrent = time.perf_counter() - started
            outcomes = {getattr(r, "outcome", r) for r in results.values()}
            reads, writes = _arm_counts(control)
            print(
                f"{args.sites} sites, {args.latency_ms} ms per ARM call, {args.workers} workers: "
                f"{concurrent:.2f} s wall, {reads} reads, {writes} writes, outcomes {sorted(outcomes)}"
            )

            started = time.perf_counter()
            reconcile_many(settings, names, trigger="bench", mode=Mode.ENFORCE, max_workers=1)
            sequential = time.perf_counter() - started
            print(f"{args.sites} sites sequentially: {sequential:.2f} s wall")
            print(
                f"concurrent / sequential: {concurrent / sequential:.3f} (speed-up x{sequential / concurrent:.1f})"
            )
        finally:
            sim.terminate()
            sim.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
