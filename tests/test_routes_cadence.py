"""The route check's cadence: its POSTs count against ARM's write quota, so a burst of connection status
changes (or of concurrent requests) must not become a burst of route checks."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorThread
from shared.azure.budget import TokenBucket
from shared.azure.failover_store import read_state
from shared.azure.tables import table_service
from shared.services import failover
from shared.services.failover import RouteView, check_site
from shared.settings import Settings
from shared.spec import Site
from shared.spec_source import current_spec
from tests.failover_support import unique_spec
from tests.stack import CIRCUIT, point_app_at, seed_spec

MIN_SECONDS = 3.0


@pytest.fixture
def env(azurite, tmp_path) -> Iterator[tuple[Settings, Site, SimControl]]:
    spec_path, _ = unique_spec(tmp_path)
    with SimulatorThread(seed_spec()) as sim, pytest.MonkeyPatch.context() as mp:
        point_app_at(
            mp,
            sim.info,
            storage=azurite.connection_string,
            spec_path=spec_path,
            HYBRIDNET_ROUTES_MIN_SECONDS=str(MIN_SECONDS),
        )
        settings = Settings.from_env()
        yield settings, current_spec(settings).sites[0], SimControl(sim.info.control_url)


def route_checks(control: SimControl, gateway: str) -> list[dict[str, Any]]:
    """The getLearnedRoutes POSTs a gateway received (one per route check)."""
    return [
        r
        for r in control.requests()
        if r["method"] == "POST"
        and r["path"].lower().endswith(f"/virtualnetworkgateways/{gateway}/getlearnedroutes")
    ]


def test_a_burst_of_status_changes_costs_one_route_check_per_interval(env, monkeypatch):
    settings, site, control = env
    # the poll's inline allowance of this process, full (other tests may have spent some of it)
    monkeypatch.setattr(failover, "_inline_routes", TokenBucket(capacity=10, per_second=10 / 60))
    # the first route check (a poll leaves it to the route timer: shared.failover.route_cadence)
    assert check_site(settings, site, "route-check", routes="now").outcome == "baseline"
    gateway = site.express_route.gateway.name.lower()
    started = time.monotonic()
    changes = 0
    while time.monotonic() - started < MIN_SECONDS * 1.5:  # a flapping circuit, polled very often
        control.set_circuit(CIRCUIT, up=changes % 2 == 1)
        changes += 1
        check_site(settings, site, "poll")
    control.set_circuit(CIRCUIT, up=True)
    assert changes >= 4
    # The burst asked for a route check at every change; one ran at most per interval, plus the
    # follow-up that must come after the last request: wait for it (positive sentinel: the route view is
    # taken under the final statuses again).
    deadline = time.monotonic() + MIN_SECONDS * 3
    tables = table_service(settings)
    while time.monotonic() < deadline:
        state = read_state(tables, site.name).state
        view = RouteView.parse(state.routes_json) if state else None
        if view and view.statuses == ("Connected", "Connected") and len(route_checks(control, gateway)) >= 2:
            break
        time.sleep(0.1)
    checks = route_checks(control, gateway)
    times = [datetime.fromisoformat(r["time"].replace("Z", "+00:00")) for r in checks]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert len(checks) >= 2 and len(checks) < changes, (len(checks), changes)
    # route checks start at least an interval apart (the POST comes a little after the start)
    assert all(gap >= MIN_SECONDS * 0.8 for gap in gaps), gaps
    assert view is not None and view.statuses == ("Connected", "Connected")


def test_concurrent_requests_share_one_route_check_per_gateway(env):
    settings, site, control = env
    check_site(settings, site, "poll", routes="never")  # baseline without routes
    time.sleep(MIN_SECONDS)
    control.clear_requests()
    gateway = site.vpn.gateway.name.lower()
    barrier = threading.Barrier(6)
    results: list[Any] = []

    def ask() -> None:
        barrier.wait()
        results.append(check_site(settings, site, "alert", routes="now"))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 6
    # one route check now; the others are answered by status checks and one follow-up when the
    # interval ends (never two at a time: the follow-up waits for the one in progress)
    assert len(route_checks(control, gateway)) == 1
    deadline = time.monotonic() + MIN_SECONDS * 3
    while time.monotonic() < deadline and len(route_checks(control, gateway)) < 2:
        time.sleep(0.1)
    assert len(route_checks(control, gateway)) == 2


def test_a_late_follow_up_never_starts_inside_the_interval_of_a_newer_execution():
    """Regression (shared.services.coalesce): when the follow-up's timer fired late, after a call had
    started its own execution, the follow-up ran right after that one ended, inside its interval: route
    checks a few ms apart. Fake clock; the timers are real (their waits are the clock's units, seconds)."""
    from shared.services.coalesce import Coalescer

    now = [0.0]
    starts: list[float] = []
    release = threading.Event()
    coalescer = Coalescer(clock=lambda: now[0])

    def run(block: bool = False) -> float:
        starts.append(now[0])
        if block:
            release.wait(5)
        return now[0]

    coalescer.do("k", run, min_interval=0.2)  # E1 at 0.0
    now[0] = 0.1
    coalescer.do("k", run, min_interval=0.2)  # inside the interval: a follow-up is due at 0.2
    now[0] = 0.25  # its timer is late: a new call starts E2 itself, and it runs long
    leader = threading.Thread(target=lambda: coalescer.do("k", lambda: run(True), min_interval=0.2))
    leader.start()
    assert wait_for_true(lambda: len(starts) == 2)
    now[0] = 0.26
    joined = threading.Thread(target=lambda: coalescer.do("k", run, min_interval=0.2))  # must be followed
    joined.start()
    time.sleep(0.3)  # the late timer fires and waits for E2
    release.set()
    leader.join(5)
    joined.join(5)
    now[0] = 0.5  # past E2's interval: the follow-up may run now
    assert wait_for_true(lambda: len(starts) == 3)
    assert starts[2] >= 0.25 + 0.2, starts


def wait_for_true(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False
