"""Failover drill benchmark: one drill on the seed site, end to end, as `hybridnet drill` runs it.

Real parts: the simulator (HTTPS, the real azure-mgmt-network SDK, its ExpressRoute site failover
simulation withdrawing the peering location's routes), Azurite (the drills table). Prints the drill's
end-to-end time, its measured time to failover and to failback, and its ARM calls from the simulator's
request log: the POST long-running operations (startSiteFailoverTest, stopSiteFailoverTest,
getFailoverAllTestsDetails, getLearnedRoutes, getBgpPeerStatus) count against ARM's write quota.

    .venv/bin/python -m bench.drill_bench [--hold 2] [--poll 0.5]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from bench.arm_requests import classify_arm_requests
from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorThread
from hybridnet_dev.azurite import Azurite
from hybridnet_dev.local_stack import FOREIGN_CREDENTIALS, QUIET, app_settings
from shared.services.drill import run_drill
from shared.settings import Settings
from shared.spec.load import load_spec_file
from shared.spec_source import current_spec

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "examples/seed-network.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hold", type=float, default=2.0, help="HYBRIDNET_DRILL_HOLD_SECONDS")
    parser.add_argument("--poll", type=float, default=0.5, help="HYBRIDNET_DRILL_POLL_SECONDS")
    args = parser.parse_args()
    spec = load_spec_file(SEED)
    with Azurite() as azurite, SimulatorThread(spec) as sim:
        for name in FOREIGN_CREDENTIALS:
            os.environ.pop(name, None)
        os.environ.update(
            {
                **app_settings(sim.info.to_json(), storage=azurite.connection_string, spec_path=SEED),
                "HYBRIDNET_ARM_POLLING_INTERVAL": "0.05",
                "HYBRIDNET_RECONCILE_SCHEDULE": QUIET,
                "HYBRIDNET_ROTATION_SCHEDULE": QUIET,
                "HYBRIDNET_DRILL_MODE": "enforce",
                "HYBRIDNET_DRILL_HOLD_SECONDS": str(args.hold),
                "HYBRIDNET_DRILL_POLL_SECONDS": str(args.poll),
            }
        )
        settings = Settings.from_env()
        control = SimControl(sim.info.control_url)
        site = current_spec(settings).sites[0]
        control.clear_requests()
        started = time.monotonic()
        run = run_drill(settings, site.name)
        elapsed = time.monotonic() - started
        drill = run.drill
        assert drill is not None
        counts = classify_arm_requests(control.requests())
        print(
            f"failover drill on site {site.name} (hold {args.hold:g} s, route-truth poll every {args.poll:g} s)"
        )
        print(f"  result: {drill.result}" + (f" ({drill.reason})" if drill.reason else ""))
        print(f"  end-to-end time: {elapsed:.2f} s")
        print(f"  time to failover (every prefix on the VPN): {drill.failover_seconds} s")
        print(f"  time to failback (every prefix on ExpressRoute): {drill.failback_seconds} s")
        print(f"  ARM calls: {sum(counts.values())}")
        for key in sorted(counts):
            print(f"    {key}: {counts[key]}")
        if drill.result != "passed":
            raise SystemExit(1)


if __name__ == "__main__":
    main()
