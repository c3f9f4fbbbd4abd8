"""Health report benchmark. Real parts: Azurite, the simulator (HTTPS, real azure-mgmt-network SDK), the
local Functions host running function_app.

With 3 sites and a snapshot written by one live check, cached `GET /api/health` under a bounded
concurrent load (aiohttp client): p50/p99 latency, requests/s, and ARM calls per request from the
simulator's request log. Targets: p99 < 50 ms, >= 300 requests/s, 0 ARM calls. Measured twice: with the
default per-instance reuse of the Table reads (HYBRIDNET_HEALTH_CACHE_SECONDS=2) and with every request
reading Table Storage (0). Also prints the ARM and Table cost of one poll and the snapshot's size.

    .venv/bin/python -m bench.health_bench [--requests 3000] [--concurrency 8] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableServiceClient

from bench.admin import http_load
from bench.many_sites import write_many_sites
from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorInfo, SimulatorThread
from hybridnet_dev.azurite import Azurite
from hybridnet_dev.funchost.server import LocalHost
from hybridnet_dev.local_stack import FOREIGN_CREDENTIALS, QUIET, app_settings
from shared.azure.health_snapshot import SITES_PARTITION, health_table
from shared.settings import Settings
from shared.spec.load import load_spec_file

ROOT = Path(__file__).resolve().parent.parent
SITES = 3


class CountingTransport(RequestsTransport):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.counts: Counter[str] = Counter()

    def send(self, request: Any, **kwargs: Any) -> Any:
        batch = request.method == "POST" and request.url.split("?")[0].endswith("$batch")
        self.counts["write (batch)" if batch else request.method] += 1
        return super().send(request, **kwargs)


def _env(sim: SimulatorInfo, storage: str, spec: Path) -> None:
    for name in FOREIGN_CREDENTIALS:
        os.environ.pop(name, None)
    os.environ.update(
        {
            **app_settings(sim.to_json(), storage=storage, spec_path=spec),
            "HYBRIDNET_ARM_POLLING_INTERVAL": "0.05",
            "HYBRIDNET_RECONCILE_SCHEDULE": QUIET,  # no timer fires during the measurement
            "HYBRIDNET_FAILOVER_SCHEDULE": QUIET,
            "HYBRIDNET_ROTATION_SCHEDULE": QUIET,
            "HYBRIDNET_HEALTH_STALE_SECONDS": "3600",
        }
    )


def _measure(label: str, url: str, control: SimControl, args: argparse.Namespace) -> None:
    asyncio.run(http_load(url, concurrency=args.concurrency, seconds=10, total=100))  # warm up
    control.clear_requests()
    latencies, elapsed, statuses = asyncio.run(
        http_load(url, concurrency=args.concurrency, seconds=args.seconds, total=args.requests)
    )
    arm = [r for r in control.requests() if r["path"].startswith("/subscriptions/")]
    ms = sorted(v * 1000 for v in latencies)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(
        f"{label}: {len(ms)} requests, concurrency {args.concurrency}, statuses {dict(statuses)}: "
        f"p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, {len(ms) / elapsed:.0f} requests/s, "
        f"ARM calls per request {len(arm) / len(ms):.3f} (targets: p99 < 50 ms, >= 300 req/s, 0 ARM)"
    )


def _poll_cost(settings: Settings, control: SimControl, sites: int) -> None:
    from shared.services.health import poll_sites

    transport = CountingTransport()
    service = TableServiceClient.from_connection_string(
        settings.tables_connection_string or "", transport=transport
    )
    for _ in range(2):  # warm: table creation, baselines, the ETag in memory
        poll_sites(settings, tables=service)
    control.clear_requests()
    transport.counts.clear()
    polls = 3
    for _ in range(polls):
        poll_sites(settings, tables=service)
    arm = [r for r in control.requests() if r["path"].startswith("/subscriptions/")]
    rows = health_table(service).query_entities("PartitionKey eq @p", parameters={"p": SITES_PARTITION})
    compressed = sum(len(row.get("entry") or "") for row in rows)  # one entity per site (JSON, uncompressed)
    print(
        f"no-change poll of {sites} site(s): ARM reads per poll {len(arm) / polls:g} "
        f"({len(arm) / polls / sites:g} per site); Table requests per poll "
        f"{ {k: v / polls for k, v in transport.counts.items()} } (the snapshot: 1 transaction for up to 99 sites); "
        f"snapshot entries {compressed} bytes ({compressed / sites:.0f} per site)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000, help="requests per measurement (upper bound)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--seconds", type=float, default=15, help="time bound per measurement")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="health-bench-") as tmp, Azurite() as azurite:
        spec = write_many_sites(Path(tmp) / "sites.yaml", SITES)
        with SimulatorThread(load_spec_file(str(spec))) as sim:
            _env(sim.info, azurite.connection_string, spec)
            control = SimControl(sim.info.control_url)
            with LocalHost("function_app", app_dir=str(ROOT), port=0, enable_timers=False) as host:
                base = f"{host.info.base_url}/api/health?code={host.info.function_key}"
                with urllib.request.urlopen(f"{base}&refresh=true", timeout=60) as response:
                    report = json.loads(response.read())
                assert len(report["sites"]) == SITES and report["status"] == "healthy", report["reason"]
                for cache in ("2", "0"):
                    os.environ["HYBRIDNET_HEALTH_CACHE_SECONDS"] = cache
                    _measure(
                        f"cached GET /api/health, {SITES} sites, HYBRIDNET_HEALTH_CACHE_SECONDS={cache}",
                        base,
                        control,
                        args,
                    )
            _poll_cost(Settings.from_env(), control, SITES)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
