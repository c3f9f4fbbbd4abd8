"""GET /api/health at N sites, on its own (issue 16: p99 < 50 ms at 1,000 sites and at 1 site).

Real parts: Azurite, the simulator (its own process: the app's settings point at it; the report never
calls ARM), the local Functions host running function_app in this process. The Table data is written
through the app's own adapters, as the app writes it: the snapshot (`write_snapshot`, one entry per
site), a reconcile run row per site (`record_run`, with findings), a few failover events per site
(`commit`: failover, failback, backup-lost, backup-restored), a rotation state per site (`save_state`)
and a passed drill per site (`drill_store.save`).

Then `GET /api/health` (the first page, the default page size) is loaded by --concurrency aiohttp
clients for --seconds, with the default HYBRIDNET_HEALTH_CACHE_SECONDS (the cached reads are renewed
while the load runs), and it prints p50/p90/p99/max, requests/s, the Table requests of the app during
the load and per renewal of the page's reads.

    .venv/bin/python -m bench.health_scale_bench [--sites 1 200 1000] [--seconds 15] [--concurrency 8]
                                                 [--json]

Each size runs in its own process (its own Azurite, host and memory) unless --only is given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.admin import http_load, simulator_process

ROOT = Path(__file__).resolve().parent.parent
EVENTS_PER_SITE = 4  # failover, failback, backup-lost, backup-restored (the last one: healthy again)


# --- the data, written through the app's adapters ----------------------------------------------------


def write_snapshot_entries(service: Any, names: list[str], now: datetime) -> None:
    from shared.azure.health_snapshot import write_snapshot
    from shared.report.snapshot import merge, site_entry

    def gateway(name: str, sku: str) -> dict[str, Any]:
        return {"name": name, "exists": True, "provisioningState": "Succeeded", "error": None, "sku": sku}

    def connection(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "exists": True,
            "provisioningState": "Succeeded",
            "error": None,
            "connectionStatus": "Connected",
            "ingressBytes": 123_456_789,
            "egressBytes": 98_765_432,
        }

    entries = [
        site_entry(
            name,
            observed_at=now,
            observed_by="poll",
            gateways={
                "expressRoute": gateway(f"{name}-ergw", "Standard"),
                "vpn": gateway(f"{name}-vpngw", "VpnGw1"),
            },
            connections={"expressRoute": connection(f"{name}-er"), "vpn": connection(f"{name}-vpn")},
            condition="healthy",
            active_path="expressroute",
            error=None,
            previous=None,
        )
        for name in names
    ]
    write_snapshot(
        service, lambda previous: merge(previous, entries, taken_at=now, source="poll", known=names)
    )


def write_run(service: Any, name: str, now: datetime) -> str:
    """A report-mode run with two open findings; returns its id."""
    from shared.azure.run_log import record_run
    from shared.drift.findings import Finding, FindingKind, FixClass, Severity
    from shared.drift.plan import Mode
    from shared.drift.reconcile import ReconcileResult

    rid = f"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/{name}-rg/providers"
    findings = (
        Finding(
            name,
            f"{rid}/Microsoft.Network/networkSecurityGroups/{name}-nsg",
            FindingKind.MISMATCH,
            Severity.MEDIUM,
            FixClass.SAFE,
            "securityRules[allow-https].access: expected Allow, found Deny",
            field="securityRules",
        ),
        Finding(
            name,
            f"{rid}/Microsoft.Network/routeTables/{name}-rt",
            FindingKind.MISSING,
            Severity.LOW,
            FixClass.SAFE,
            "route to-onprem is missing",
        ),
    )
    result = ReconcileResult(
        site=name,
        mode=Mode.REPORT,
        started_at=now - timedelta(minutes=3),
        finished_at=now - timedelta(minutes=3) + timedelta(seconds=4),
        findings=findings,
        plan=None,
        remaining=findings,
    )
    return record_run(service, result, trigger="timer")


def write_events(service: Any, name: str, now: datetime) -> None:
    """EVENTS_PER_SITE events in the last week (the site healthy again), in one transaction."""
    from shared.azure.failover_store import commit, event_entity, new_event_id, read_state
    from shared.failover.classify import Condition, Observation, SiteState, Transition, TransitionKind

    steps = (
        (Condition.HEALTHY, Condition.FAILED_OVER, TransitionKind.FAILOVER, None),
        (Condition.FAILED_OVER, Condition.HEALTHY, TransitionKind.FAILBACK, 600.0),
        (Condition.HEALTHY, Condition.BACKUP_DOWN, TransitionKind.BACKUP_LOST, None),
        (Condition.BACKUP_DOWN, Condition.HEALTHY, TransitionKind.BACKUP_RESTORED, 1200.0),
    )
    events: list[dict[str, Any]] = []
    state: SiteState | None = None
    for index, (before, after, kind, duration) in enumerate(steps[:EVENTS_PER_SITE]):
        at = now - timedelta(days=6 - index, hours=index)
        transition = Transition(kind, before, after, at - timedelta(seconds=30), at, duration)
        observation = Observation(
            "Connected" if after.path.value == "expressroute" else "Disconnected",
            "Connected" if after.backup_up else "NotConnected",
            at,
        )
        evidence = {"onPremRoutesViaExpressRoute": ["10.10.0.0/16"], "onPremRoutesViaVpn": ["10.10.0.0/16"]}
        event = event_entity(
            name,
            new_event_id(),
            transition,
            observation,
            detected_by="poll",
            evidence=evidence,
            detail=f"{kind.value} observed by the poll",
        )
        events.insert(0, event)  # newest first: the state's lastEventId is the first row's
        state = SiteState(condition=after, since=at)
    assert state is not None
    commit(service, name, read_state(service, name), state, events)  # one transaction


def write_rotation(service: Any, name: str, now: datetime) -> None:
    from shared.azure.rotation_store import save_state
    from shared.rotation.machine import Phase, RotationState

    state = RotationState(
        phase=Phase.COMPLETED,
        rotation_id=f"r-{name}",
        last_rotated_at=now - timedelta(days=20),
        key_matches_vault=True,
    )
    save_state(service, name, state, None, step="completed", detail="bench", now=now - timedelta(days=20))


def write_drill(service: Any, name: str, now: datetime) -> None:
    from shared.azure import drill_store
    from shared.failover.drill import DONE, Drill

    at = (now - timedelta(days=10)).isoformat()
    drill = Drill(
        id=f"d-{name}",
        site=name,
        peering_location="Amsterdam",
        phase=DONE,
        created_at=at,
        phase_since=at,
        result="passed",
        reason="traffic moved to the VPN and back",
        failover_seconds=42.0,
        failback_seconds=37.0,
    )
    drill_store.save(service, drill)


def write_data(service: Any, names: list[str], now: datetime) -> float:
    """Every site's rows through the app's adapters; returns the seconds it took."""
    started = time.perf_counter()
    write_snapshot_entries(service, names, now)
    writers: list[Callable[[Any, str, datetime], Any]] = [
        write_run,
        write_events,
        write_rotation,
        write_drill,
    ]

    def write(job: tuple[Callable[[Any, str, datetime], Any], str]) -> None:
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError

        for attempt in range(4):  # Azurite under 16 writers now and then resets a connection
            try:
                job[0](service, job[1], now)
                return
            except (ServiceRequestError, ServiceResponseError):
                if attempt == 3:
                    raise
                time.sleep(0.5)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(write, [(w, n) for n in names for w in writers]))
    return time.perf_counter() - started


# --- counting the app's Table requests -------------------------------------------------------------------


class TableCounter:
    """Counts the Table requests of this process (the app's included) by wrapping azure-core's
    RequestsTransport.send, and the renewals of the report's reads."""

    def __init__(self, table_port: int) -> None:
        self.port = f":{table_port}/"
        self.requests: Counter[str] = Counter()
        self.renewals = 0
        self._lock = threading.Lock()

    def install(self) -> None:
        from azure.core.pipeline.transport import RequestsTransport

        from shared.services import health

        counter = self
        send = RequestsTransport.send

        def counted(transport: Any, request: Any, **kwargs: Any) -> Any:
            if counter.port in request.url:
                path = request.url.split(counter.port, 1)[1].split("?", 1)[0]
                table = path.split("/", 1)[-1].split("(", 1)[0]
                with counter._lock:
                    counter.requests[f"{request.method} {table}"] += 1
            return send(transport, request, **kwargs)

        RequestsTransport.send = counted  # type: ignore[method-assign]
        reads = health._ReportReads._read

        def read(this: Any, *args: Any, **kwargs: Any) -> Any:
            with counter._lock:
                counter.renewals += 1
            return reads(this, *args, **kwargs)

        health._ReportReads._read = read  # type: ignore[method-assign]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.renewals = 0


# --- the load ------------------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children so far (Azurite runs node under npx or not)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _percentile(ms: list[float], q: float) -> float:
    return round(ms[min(len(ms) - 1, int(len(ms) * q))], 1)


def measure(
    sites: int, *, seconds: float, concurrency: int, cache_seconds: float | None = None
) -> dict[str, Any]:
    from azure.data.tables import TableServiceClient

    from bench.scale_sites import write_scale_sites
    from hybridnet_dev.azurite import Azurite
    from hybridnet_dev.funchost.server import LocalHost
    from hybridnet_dev.local_stack import QUIET

    logging.getLogger().setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp, Azurite() as azurite:
        spec = write_scale_sites(Path(tmp) / "sites.yaml", sites)
        with simulator_process(
            spec,
            storage=azurite.connection_string,
            HYBRIDNET_RECONCILE_SCHEDULE=QUIET,
            HYBRIDNET_FAILOVER_SCHEDULE=QUIET,
            HYBRIDNET_ROTATION_SCHEDULE=QUIET,
        ):
            if cache_seconds is not None:
                os.environ["HYBRIDNET_HEALTH_CACHE_SECONDS"] = str(cache_seconds)
            service = TableServiceClient.from_connection_string(azurite.connection_string)
            names = [f"site-{i:04d}" for i in range(sites)]
            now = datetime.now(UTC)
            written_s = write_data(service, names, now)
            counter = TableCounter(azurite.table_port)
            counter.install()
            with LocalHost("function_app", app_dir=str(ROOT), port=0, enable_timers=False) as host:
                url = f"{host.info.base_url}/api/health?code={host.info.function_key}"
                asyncio.run(
                    http_load(url, concurrency=concurrency, seconds=3)
                )  # warm up: tables, clients, the first reads
                with urllib.request.urlopen(url, timeout=60) as response:
                    body_bytes = len(response.read())
                counter.reset()
                azurite_pid = azurite._process.pid if azurite._process is not None else os.getpid()
                cpu_before = (_cpu_seconds(azurite_pid), time.process_time())
                print(
                    f"{sites} sites: data written in {written_s:.0f} s; loading (pid {os.getpid()})",
                    file=sys.stderr,
                )
                latencies, elapsed, statuses = asyncio.run(
                    http_load(url, concurrency=concurrency, seconds=seconds)
                )
                requests = dict(counter.requests)
                azurite_cpu = _cpu_seconds(azurite_pid) - cpu_before[0]
                own_cpu = time.process_time() - cpu_before[1]
                renewals = counter.renewals
            ms = sorted(v * 1000 for v in latencies)
            total = sum(requests.values())
            return {
                "sites": sites,
                "requests": len(ms),
                "statuses": {str(k): v for k, v in statuses.items()},
                "p50_ms": _percentile(ms, 0.5),
                "p90_ms": _percentile(ms, 0.9),
                "p99_ms": _percentile(ms, 0.99),
                "max_ms": round(ms[-1], 1),
                "requests_per_s": round(len(ms) / elapsed, 1),
                "renewals": renewals,
                "table_requests": total,
                "table_requests_per_renewal": round(total / renewals, 1) if renewals else None,
                "table_requests_by_kind": requests,
                "body_bytes": body_bytes,
                "cpu_s": {"this_process": round(own_cpu, 1), "azurite": round(azurite_cpu, 1)},
                "data_written_s": round(written_s, 1),
            }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sites", type=int, nargs="+", default=[1, 200, 1000])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--cache-seconds",
        type=float,
        default=None,
        help="HYBRIDNET_HEALTH_CACHE_SECONDS (default: the app's)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per size")
    parser.add_argument("--only", action="store_true", help="measure the first --sites in this process")
    args = parser.parse_args(argv)
    if args.only:
        result = measure(
            args.sites[0],
            seconds=args.seconds,
            concurrency=args.concurrency,
            cache_seconds=args.cache_seconds,
        )
        print(json.dumps(result))
        return 0
    for sites in args.sites:
        command = [sys.executable, "-m", "bench.health_scale_bench", "--only", "--sites", str(sites)]
        command += ["--seconds", str(args.seconds), "--concurrency", str(args.concurrency)]
        if args.cache_seconds is not None:
            command += ["--cache-seconds", str(args.cache_seconds)]
        out = subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        if args.json:
            print(json.dumps(result))
            continue
        print(
            f"GET /api/health, {result['sites']} site(s), concurrency {args.concurrency}: {result['requests']} "
            f"requests {result['statuses']}: p50 {result['p50_ms']} ms, p90 {result['p90_ms']} ms, p99 "
            f"{result['p99_ms']} ms, max {result['max_ms']} ms, {result['requests_per_s']} requests/s "
            f"(target: p99 < 50 ms); {result['renewals']} renewals of the page's reads, "
            f"{result['table_requests']} Table requests ({result['table_requests_per_renewal']} per renewal)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
