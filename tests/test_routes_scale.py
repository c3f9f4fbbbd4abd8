"""Route checks at scale (issue 16): the status poll leaves a site's first route check to the route
timer, runs one inline only for a status change and within its allowance, and the route timer checks a
budgeted slice of the sites per run, concurrently, covering every site over successive runs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from bench.scale_sites import scale_sites_document
from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorThread
from shared.azure.budget import TokenBucket
from shared.azure.failover_store import failover_events, read_state
from shared.azure.tables import table_service
from shared.failover.route_cadence import (
    INLINE_ROUTE_CHECKS_PER_MINUTE,
    READS_PER_ROUTE_CHECK,
    ROUTE_CHECKS_PER_MINUTE,
    WRITES_PER_ROUTE_CHECK,
    due_for_routes,
    route_checks_per_run,
    route_slices,
    slice_capacity,
)
from shared.services import failover
from shared.services.failover import RouteView, check_routes_all
from shared.services.health import POLL_READS_PER_MINUTE, poll_sites
from shared.settings import Settings
from shared.spec import NetworkSpec, Site
from tests.helpers import wait_for
from tests.stack import point_app_at

# --- the pure slicing -----------------------------------------------------------------------------------


def test_a_run_stays_within_its_route_check_budget():
    assert route_checks_per_run(300) == 150  # the default 5 minutes: 30 checks a minute
    assert route_checks_per_run(60) == 30
    assert route_checks_per_run(1) == 1  # never 0: a fast schedule still checks one site a run
    assert slice_capacity(300) == 135  # a tenth kept for the sites polls left waiting
    assert slice_capacity(60) == 27 and slice_capacity(8) == 4
    assert route_slices(1, interval_seconds=300) == 1
    assert route_slices(135, interval_seconds=300) == 1
    assert route_slices(136, interval_seconds=300) == 2
    assert route_slices(1000, interval_seconds=300) == 8  # each site every 40 minutes
    for count in (1, 100, 150, 999, 1000, 3000):
        for interval in (60, 300, 3600):
            slices = route_slices(count, interval_seconds=interval)
            per_run = -(-count // slices)
            writes_per_minute = per_run * WRITES_PER_ROUTE_CHECK * 60 / interval
            assert writes_per_minute <= ROUTE_CHECKS_PER_MINUTE * WRITES_PER_ROUTE_CHECK
    # with the poll's inline checks: at most 2 of the client budget's 8 writes/s, and the poll's reads
    # + the route timer's reads stay under nine tenths of its 20 reads/s
    routes_writes = (ROUTE_CHECKS_PER_MINUTE + INLINE_ROUTE_CHECKS_PER_MINUTE) * WRITES_PER_ROUTE_CHECK
    assert routes_writes <= 2 * 60
    assert POLL_READS_PER_MINUTE + ROUTE_CHECKS_PER_MINUTE * READS_PER_ROUTE_CHECK <= 0.9 * 20 * 60


def _run_times(interval: float, count: int) -> list[datetime]:
    start = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)
    return [start + timedelta(seconds=interval * n) for n in range(count)]


def test_successive_runs_cover_every_site_exactly_once():
    names = [f"site-{i:04d}" for i in range(1000)]
    seen: list[str] = []
    for at in _run_times(300, 8):
        due = due_for_routes(names, now=at, interval_seconds=300)
        assert len(due) == 125
        seen += due
    assert sorted(seen) == names
    # one site (or up to 150) is checked every run
    assert due_for_routes(names[:1], now=_run_times(300, 1)[0], interval_seconds=300) == names[:1]
    assert due_for_routes(names[:135], now=_run_times(300, 1)[0], interval_seconds=300) == names[:135]


def test_a_timer_firing_a_little_late_or_early_keeps_its_turn():
    names = [f"site-{i:04d}" for i in range(1000)]
    at = _run_times(300, 3)[2]
    due = due_for_routes(names, now=at, interval_seconds=300)
    assert due_for_routes(names, now=at + timedelta(seconds=20), interval_seconds=300) == due
    assert due_for_routes(names, now=at - timedelta(seconds=20), interval_seconds=300) == due
    assert due_for_routes(names, now=at + timedelta(seconds=300), interval_seconds=300) != due


def test_sites_waiting_for_a_route_check_go_first_within_the_budget():
    names = [f"site-{i:04d}" for i in range(1000)]
    at = _run_times(300, 1)[0]
    due = due_for_routes(names, now=at, interval_seconds=300)
    outside = [n for n in names if n not in due]
    inside = due[5]
    first = [*outside[:40], inside, "not-in-the-spec", outside[0]]
    ordered = due_for_routes(names, now=at, interval_seconds=300, first=first)
    room = route_checks_per_run(300) - len(due)  # 150 - 125
    assert ordered[:room] == outside[:room]  # as many as fit next to the slice, longest waiting first
    assert ordered[room] == inside  # the slice's own waiting site moves to the front of the slice
    assert len(ordered) == len(set(ordered)) == route_checks_per_run(300)
    assert set(due) <= set(ordered)  # the slice itself is never pushed out
    assert "not-in-the-spec" not in ordered


def test_the_inline_allowance_never_waits():
    bucket = TokenBucket(capacity=2, per_second=1e-6)
    assert [bucket.try_take() for _ in range(3)] == [True, True, False]


# --- on the simulator -----------------------------------------------------------------------------------

SITES = 12
# 20 s between runs: 10 route checks a run, slices of 9: the 12 sites are 2 slices of 6, + 4 waiting
SCHEDULE = "*/20 * * * * *"
INTERVAL = 20.0


@dataclass
class Stack:
    settings: Settings
    control: SimControl
    sites: list[Site]
    prefix: str

    def circuit(self, site: Site) -> str:
        return site.express_route.connection.circuit_id.rsplit("/", 1)[1]

    def route_posts(self, site: Site | None = None) -> list[dict[str, Any]]:
        groups = {(site or s).resource_group.lower() for s in ([site] if site else self.sites)}
        return [
            r
            for r in self.control.requests()
            if r["method"] == "POST"
            and r["path"].lower().endswith(("/getlearnedroutes", "/getbgppeerstatus"))
            and r["path"].lower().split("/resourcegroups/")[1].split("/")[0] in groups
        ]

    def arm_writes(self) -> list[dict[str, Any]]:
        return [
            r
            for r in self.control.requests()
            if r["path"].startswith("/subscriptions/") and r["method"] in ("PUT", "PATCH", "DELETE", "POST")
        ]

    def view(self, site: Site) -> RouteView | None:
        state = read_state(table_service(self.settings), site.name).state
        return RouteView.parse(state.routes_json) if state else None

    def events(self, site: Site) -> list[dict[str, Any]]:
        return failover_events(table_service(self.settings), site=site.name)


@pytest.fixture(scope="module")
def stack(azurite, tmp_path_factory) -> Iterator[Stack]:
    document = scale_sites_document(SITES)
    prefix = f"rs{datetime.now(UTC).strftime('%H%M%S%f')}"
    for site in document["sites"]:
        site["name"] = f"{prefix}-{site['name']}"  # own failover partitions in the shared Azurite
    path = tmp_path_factory.mktemp("routescale") / "sites.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    spec = NetworkSpec.model_validate(document)
    with SimulatorThread(spec) as sim, pytest.MonkeyPatch.context() as env:
        point_app_at(
            env,
            sim.info,
            storage=azurite.connection_string,
            spec_path=path,
            HYBRIDNET_ROUTES_SCHEDULE=SCHEDULE,
            HYBRIDNET_ROUTES_MIN_SECONDS="0",
            HYBRIDNET_HEALTH_CACHE_SECONDS="0",
        )
        settings = Settings.from_env()
        assert settings.routes_interval == INTERVAL
        yield Stack(settings, SimControl(sim.info.control_url), list(spec.sites), prefix)


def test_a_poll_of_sites_without_route_views_makes_no_route_post(stack):
    stack.control.clear_requests()
    results = poll_sites(stack.settings)
    assert [r.outcome for r in results] == ["baseline"] * SITES
    assert stack.route_posts() == []
    assert all(stack.view(site) is None for site in stack.sites)
    results = poll_sites(stack.settings)  # still no view: the next poll leaves it to the route timer too
    assert {r.outcome for r in results} == {"unchanged"} and stack.route_posts() == []


def test_route_timer_runs_check_their_slice_within_budget_and_cover_every_site(stack):
    per_run = route_checks_per_run(INTERVAL)
    assert per_run == 10 and route_slices(SITES, interval_seconds=INTERVAL) == 2
    names = [s.name for s in stack.sites]
    seen: list[str] = []
    for at in _run_times(INTERVAL, 2):
        stack.control.clear_requests()
        results = check_routes_all(stack.settings, now=lambda at=at: at)
        expected = due_for_routes(names, now=at, interval_seconds=INTERVAL)
        assert sorted(r.site for r in results) == sorted(expected) and len(expected) == SITES // 2
        # each due site's route check ran (3 POSTs: no BGP over the VPN in these sites), nothing else
        writes = stack.arm_writes()
        assert len(writes) == len(stack.route_posts()) == len(expected) * WRITES_PER_ROUTE_CHECK
        assert len(writes) <= per_run * WRITES_PER_ROUTE_CHECK  # the run's budget
        for site in stack.sites:
            posts = stack.route_posts(site)
            assert len(posts) == (WRITES_PER_ROUTE_CHECK if site.name in expected else 0), site.name
        seen += [r.site for r in results]
    assert sorted(seen) == sorted(names)  # 2 runs: every site once
    assert all(stack.view(site) is not None for site in stack.sites)


def _site_with_view(stack: Stack, index: int) -> Site:
    site = stack.sites[index]
    if stack.view(site) is None:  # when run alone: the route check the timer would have done
        failover.check_site(stack.settings, site, "route-check", routes="now")
    assert stack.view(site) is not None
    return site


def test_a_status_change_gets_its_route_check_inline_and_is_recorded_once(stack, monkeypatch):
    site = _site_with_view(stack, 0)
    fresh = TokenBucket(
        capacity=INLINE_ROUTE_CHECKS_PER_MINUTE, per_second=INLINE_ROUTE_CHECKS_PER_MINUTE / 60
    )
    monkeypatch.setattr(failover, "_inline_routes", fresh)  # the allowance, full
    before = stack.events(site)
    stack.control.clear_requests()
    stack.control.set_circuit(stack.circuit(site), up=False)
    try:
        (result,) = poll_sites(stack.settings, [site])
        assert result.outcome == "recorded"
        assert len(stack.route_posts(site)) == WRITES_PER_ROUTE_CHECK  # decided with routes, inline
        (row,) = [e for e in stack.events(site) if e not in before]
        assert (row["kind"], row["toPath"]) == ("failover", "vpn")
        assert "routesStale" not in row["evidence"]  # route evidence, not the statuses alone
        view = stack.view(site)
        assert view is not None and view.statuses[0] != "Connected"
        (again,) = poll_sites(stack.settings, [site])
        assert again.outcome == "unchanged"
        assert len([e for e in stack.events(site) if e not in before]) == 1
    finally:
        stack.control.set_circuit(stack.circuit(site), up=True)
        poll_sites(stack.settings, [site])  # the failback, for the next test's baseline


def test_past_the_inline_allowance_a_change_is_recorded_from_statuses_then_route_checked_first(
    stack, monkeypatch
):
    site = _site_with_view(stack, 1)
    monkeypatch.setattr(failover, "_inline_routes", TokenBucket(capacity=0, per_second=1e-6))  # spent
    before = stack.events(site)
    stack.control.clear_requests()
    stack.control.set_circuit(stack.circuit(site), up=False)
    try:
        (result,) = poll_sites(stack.settings, [site])
        assert result.outcome == "recorded"
        assert stack.route_posts(site) == []  # no inline route check past the allowance
        (row,) = [e for e in stack.events(site) if e not in before]
        assert (row["kind"], row["toPath"]) == ("failover", "vpn")
        assert row["evidence"]["cause"] == "connection-status" and row["evidence"]["routesStale"] is True
        assert site.name in failover._route_backlog.names()

        # the next route-timer run checks it first, although its slice's turn is another run's
        names = [s.name for s in stack.sites]
        at = next(
            t
            for t in _run_times(INTERVAL, 2)
            if site.name not in due_for_routes(names, now=t, interval_seconds=INTERVAL)
        )
        results = check_routes_all(stack.settings, now=lambda: at)
        assert results[0].site == site.name
        assert len(results) == SITES // 2 + 1 <= route_checks_per_run(INTERVAL)  # within the run's budget
        assert len(stack.route_posts(site)) == WRITES_PER_ROUTE_CHECK
        view = wait_for(lambda: stack.view(site), what="the route view")
        assert view.statuses[0] != "Connected"  # taken under the new statuses: no longer stale
        assert site.name not in failover._route_backlog.names()
        # the route check agreed with the recorded failover: still exactly one row for the transition
        assert [e["kind"] for e in stack.events(site) if e not in before] == ["failover"]
    finally:
        stack.control.set_circuit(stack.circuit(site), up=True)
        monkeypatch.undo()
        poll_sites(stack.settings, [site])
