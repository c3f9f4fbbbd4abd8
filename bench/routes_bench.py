"""Route check benchmark: the ARM calls (reads and writes) the route truth costs per site per hour.

Real parts: the simulator (HTTPS, the real azure-mgmt-network SDK), Azurite. The route check is run as
the route timer runs it (`check_routes_all`) on the seed site, and its requests are counted in the
simulator's request log: POST getLearnedRoutes / getBgpPeerStatus are long-running operations that
count against ARM's WRITE quota (Microsoft.Network: ~1,000 PUT/POST/DELETE per 5 minutes per
subscription and region); their status polls and the resource GETs count as reads.

1. one scheduled route check: writes and reads, its time;
2. per site per hour at HYBRIDNET_ROUTES_SCHEDULE (default every 5 minutes) with no changes;
3. a burst: a flapping circuit polled every ~0.2 s for `--burst-seconds`: route checks actually run
   versus status changes seen (bounded by HYBRIDNET_ROUTES_MIN_SECONDS), and the worst case per hour.

    .venv/bin/python -m bench.routes_bench [--checks 5] [--burst-seconds 6] [--min-seconds 2]
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.arm_requests import classify_arm_requests
from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorThread
from hybridnet_dev.azurite import Azurite
from hybridnet_dev.local_stack import FOREIGN_CREDENTIALS, QUIET, app_settings
from shared.services.failover import check_routes_all, check_site
from shared.settings import Settings
from shared.spec.load import load_spec_file
from shared.spec_source import current_spec

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "examples/seed-network.yaml"
ACTIONS = ("getlearnedroutes", "getbgppeerstatus")


def _writes(counts: Counter[str]) -> int:
    return sum(n for k, n in counts.items() if k.startswith("writes"))


def _reads(counts: Counter[str]) -> int:
    return sum(n for k, n in counts.items() if k.startswith("reads"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=5)
    parser.add_argument("--burst-seconds", type=float, default=6.0)
    parser.add_argument("--min-seconds", type=float, default=2.0)
    args = parser.parse_args()
    spec = load_spec_file(SEED)
    with Azurite() as azurite:
        with SimulatorThread(spec) as sim:
            for name in FOREIGN_CREDENTIALS:
                os.environ.pop(name, None)
            os.environ.update(
                {
                    **app_settings(sim.info.to_json(), storage=azurite.connection_string, spec_path=SEED),
                    # the SDK's own LRO polling interval in Azure is 30 s; locally the simulator's
                    # operations finish in milliseconds and the poll count is what is measured
                    "HYBRIDNET_ARM_POLLING_INTERVAL": "0.05",
                    "HYBRIDNET_ROUTES_MIN_SECONDS": str(args.min_seconds),
                    "HYBRIDNET_RECONCILE_SCHEDULE": QUIET,
                    "HYBRIDNET_ROTATION_SCHEDULE": QUIET,
                }
            )
            settings = Settings.from_env()
            control = SimControl(sim.info.control_url)
            site = current_spec(settings).sites[0]
            check_site(settings, site, "poll", routes="never")  # the baseline, without routes

            per_check: list[Counter[str]] = []
            seconds: list[float] = []
            for _ in range(args.checks):
                time.sleep(args.min_seconds)  # scheduled checks are minutes apart: never coalesced
                control.clear_requests()
                started = time.monotonic()
                check_routes_all(settings)
                seconds.append(time.monotonic() - started)
                per_check.append(classify_arm_requests(control.requests(), ACTIONS))
            one = per_check[-1]
            per_hour = 3600 / settings.routes_interval
            print(
                "route check (learned routes of both gateways, ExpressRoute BGP peers, the LNG, connections)"
            )
            for key in sorted(one):
                print(f"  {key}: {one[key]}")
            print(
                f"  time: median {sorted(seconds)[len(seconds) // 2] * 1000:.0f} ms over {len(seconds)} checks"
            )
            print(
                f"per site per hour at HYBRIDNET_ROUTES_SCHEDULE (every {settings.routes_interval:g} s): "
                f"{_writes(one) * per_hour:.0f} writes, {_reads(one) * per_hour:.0f} reads "
                f"({_writes(one)} writes + {_reads(one)} reads per check x {per_hour:g})"
            )

            # the burst: a circuit flapping while the status poll runs as fast as it can
            time.sleep(args.min_seconds)
            control.clear_requests()
            started = time.monotonic()
            changes = 0
            while time.monotonic() - started < args.burst_seconds:
                control.set_circuit(_circuit(site), up=changes % 2 == 1)
                changes += 1
                check_site(settings, site, "poll")
                time.sleep(0.2)
            control.set_circuit(_circuit(site), up=True)
            time.sleep(args.min_seconds + 1)  # the follow-up route check after the last change
            burst = classify_arm_requests(control.requests(), ACTIONS)
            elapsed = time.monotonic() - started
            learned = burst.get("writes (POST getlearnedroutes)", 0) // 2  # two gateways per check
            bound = 1 + int(elapsed / args.min_seconds) + 1
            print(
                f"burst: {changes} status changes in {args.burst_seconds:g} s -> {learned} route checks "
                f"(bound: one per {args.min_seconds:g} s + 1 follow-up = {bound}); "
                f"{_writes(burst)} writes, {_reads(burst)} reads"
            )
            worst = 3600 / 60  # default HYBRIDNET_ROUTES_MIN_SECONDS 60: at most one route check a minute
            print(
                f"worst case per site per hour (a path flapping all hour, default 60 s minimum): "
                f"{_writes(one) * worst:.0f} writes, {_reads(one) * worst:.0f} reads"
            )


def _circuit(site: Any) -> str:
    return str(site.express_route.connection.circuit_id.rstrip("/").rsplit("/", 1)[-1])


if __name__ == "__main__":
    main()
