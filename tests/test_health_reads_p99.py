"""What one health read costs in Table requests at N sites (so the cost cannot silently grow back), that
the batched rotation reads say what the per-site reads said, and that the snapshot's per-service memory is
held weakly (issue 16: the p99 of GET /api/health at 1,000 sites)."""

from __future__ import annotations

import gc
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest
import yaml
from azure.data.tables import TableServiceClient

from bench.health_scale_bench import write_drill, write_events, write_run
from bench.scale_sites import write_scale_sites
from hybridnet_dev.armsim.runner import SimulatorThread
from shared.azure import health_snapshot
from shared.azure.drill_store import DRILLS
from shared.azure.health_snapshot import HEALTH
from shared.azure.rotation_store import SITES_PER_QUERY, load_state, load_states, save_state
from shared.azure.run_log import newest_first_key
from shared.azure.table_names import FAILOVER, ROTATION, RUNS
from shared.rotation.machine import Phase, RotationState
from shared.services import health
from shared.services.health import Page, _reports, health_report, poll_sites
from shared.services.rotation import rotation_status
from shared.settings import Settings
from shared.spec import NetworkSpec
from tests.stack import point_app_at
from tests.table_proxy import TableProxy

SITES = 40
PAGE = 25


@dataclass
class Rig:
    settings: Settings
    spec: NetworkSpec
    proxy: TableProxy
    tables: TableServiceClient


@pytest.fixture(scope="module")
def rig(azurite, tmp_path_factory) -> Iterator[Rig]:
    spec_path = write_scale_sites(tmp_path_factory.mktemp("p99") / "sites.yaml", SITES)
    spec = NetworkSpec.model_validate(yaml.safe_load(spec_path.read_text()))
    with (
        SimulatorThread(spec) as sim,
        pytest.MonkeyPatch.context() as env,
        TableProxy(azurite) as proxy,
    ):
        point_app_at(env, sim.info, storage=azurite.connection_string, spec_path=spec_path)
        settings = Settings.from_env()
        tables = TableServiceClient.from_connection_string(proxy.connection_string)
        poll_sites(settings, tables=tables)  # a snapshot of every site
        yield Rig(settings, spec, proxy, tables)


def _reads(proxy: TableProxy, table: str) -> int:
    pattern = re.compile(rf"^/devstoreaccount1/{table}\(")
    return sum(1 for r in proxy.requests if r.method == "GET" and pattern.search(r.path))


def _counts(proxy: TableProxy) -> dict[str, int]:
    return {name: _reads(proxy, name) for name in (HEALTH, ROTATION, RUNS, FAILOVER, DRILLS)}


def _page(rig: Rig) -> dict[str, Any]:
    report, _status = health_report(rig.settings, tables=rig.tables, page=Page(size=PAGE))
    assert len(report["sites"]) == PAGE
    return {s["name"]: s for s in report["sites"]}


def test_a_page_is_read_in_full_once_then_renewed_by_a_probe_of_5_requests(rig):
    _page(rig)  # the tables exist (created once)
    _reports.forget()  # no earlier reads of the page
    rig.proxy.requests.clear()
    _page(rig)
    # the snapshot: 1 point read of its index (this process wrote it); the rotation states: 1 query (the
    # page's sites are a range of names); the change probe: 1 query of runs, failover events, drills each;
    # then every site's latest run, failover events and drills (one query each)
    first = {HEALTH: 1, ROTATION: 1, RUNS: 1 + PAGE, FAILOVER: 1 + PAGE, DRILLS: 1 + PAGE}
    assert _counts(rig.proxy) == first
    assert len(rig.proxy.requests) == sum(first.values())  # 80

    _reports.invalidate()  # what a poll does: the next request reads again, what changed since
    rig.proxy.requests.clear()
    _page(rig)
    renewal = {HEALTH: 1, ROTATION: 1, RUNS: 1, FAILOVER: 1, DRILLS: 1}
    assert _counts(rig.proxy) == renewal
    assert len(rig.proxy.requests) == sum(renewal.values()) == 5  # was 78: 3 per site + 3


def _filters(proxy: TableProxy, table: str) -> list[str]:
    pattern = re.compile(rf"^/devstoreaccount1/{table}\(")
    return [unquote(r.path) for r in proxy.requests if r.method == "GET" and pattern.search(r.path)]


def test_scattered_sites_are_read_in_queries_of_14_a_range_of_names_in_one(rig):
    names = [s.name for s in rig.spec.sites]
    universe = sorted(names)
    assert health._span(rig.spec.sites[:PAGE], universe) == (names[0], names[PAGE - 1])
    assert health._span(rig.spec.sites[3:4], universe) == (names[3], names[3])
    scattered = [rig.spec.sites[i] for i in (0, 10, 20, 30, 39)]  # 40 names between 5 sites
    assert health._span(scattered, universe) is None
    _reports.forget()
    health_report(rig.settings, tables=rig.tables, page=Page(size=PAGE))
    rig.proxy.requests.clear()
    _reports.invalidate()
    health_report(rig.settings, tables=rig.tables, page=Page(size=PAGE))
    for table in (ROTATION, RUNS, FAILOVER, DRILLS):
        (query,) = _filters(rig.proxy, table)
        assert "PartitionKey ge '" in query and " or " not in query, query
    # a name filter that picks sites far apart: 1 query per 14 of them ("( PartitionKey eq ... or ... )")
    _reports.forget()
    health_report(rig.settings, tables=rig.tables, page=Page(size=PAGE, name="1"))  # names with a 1
    rig.proxy.requests.clear()
    _reports.invalidate()
    report, _status = health_report(rig.settings, tables=rig.tables, page=Page(size=PAGE, name="1"))
    shown = [s["name"] for s in report["sites"]]
    assert shown == [n for n in names if "1" in n]
    chunks = -(-len(shown) // SITES_PER_QUERY)
    for table in (ROTATION, RUNS, FAILOVER, DRILLS):
        queries = _filters(rig.proxy, table)
        assert len(queries) == chunks and all(" or " in q for q in queries), queries


def test_a_renewal_reads_again_the_sites_that_changed_and_shows_what_they_got(rig):
    names = [s.name for s in rig.spec.sites]
    before = _page(rig)
    now = datetime.now(UTC)
    run_id = write_run(rig.tables, names[3], now)
    write_events(rig.tables, names[20], now)
    write_drill(rig.tables, names[24], now)
    _reports.invalidate()
    rig.proxy.requests.clear()
    after = _page(rig)
    assert _counts(rig.proxy) == {HEALTH: 1, ROTATION: 1, RUNS: 2, FAILOVER: 2, DRILLS: 2}
    assert after[names[3]]["drift"]["latestRun"]["runId"] == run_id
    assert (
        after[names[20]]["failovers"]["countLast30Days"]
        == before[names[20]]["failovers"]["countLast30Days"] + 4
    )
    assert after[names[24]]["drill"]["lastPassAt"] is not None
    # what the renewal built from its base equals a read of every site
    page_sites = rig.spec.sites[:PAGE]
    renewed = _reports.get(rig.tables, page_sites, ttl=60)
    full = health._ReportReads()._read(rig.tables, page_sites)
    assert (renewed.runs, renewed.events, renewed.drills) == (full.runs, full.events, full.drills)


def test_every_site_is_read_in_full_now_and_then_one_site_per_25_a_renewal(rig, monkeypatch):
    _page(rig)
    monkeypatch.setattr(health, "FULL_READ_SECONDS", 0.0)  # every site's turn has come
    for _renewal in range(2):
        _reports.invalidate()
        rig.proxy.requests.clear()
        _page(rig)
        turn = PAGE // health.SITES_PER_FULL_READ  # 1
        assert _counts(rig.proxy) == {
            HEALTH: 1,
            ROTATION: 1,
            RUNS: 1 + turn,
            FAILOVER: 1 + turn,
            DRILLS: 1 + turn,
        }
    full_at = _reports.get(rig.tables, rig.spec.sites[:PAGE], ttl=60).full_at
    assert len({at for at in full_at.values()}) >= 3  # the first read's, and one per renewal since


def test_a_status_filter_over_every_site_reads_rotation_in_one_range_query_else_queries_of_14(rig):
    _reports.invalidate()
    rig.proxy.requests.clear()
    report, _status = health_report(rig.settings, tables=rig.tables, page=Page(statuses=("healthy",), size=5))
    assert report["page"]["totalSites"] == SITES
    assert _reads(rig.proxy, ROTATION) == 1  # every site: one range of names (was 40 point reads)
    names = [s.name for s in rig.spec.sites]
    states = load_states(rig.tables, names)  # without a span: 1 query per 14 sites
    assert states == load_states(rig.tables, names, span=(min(names), max(names)))
    rig.proxy.requests.clear()
    load_states(rig.tables, names)
    assert _reads(rig.proxy, ROTATION) == -(-SITES // SITES_PER_QUERY)  # 3


def test_batched_rotation_states_equal_the_per_site_reads(rig):
    names = [s.name for s in rig.spec.sites]
    moment = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    for index in (0, 13, 14, SITES - 1):  # either side of a query's boundary, and the last
        state = RotationState(
            phase=Phase.AWAITING_PEER, rotation_id=f"r-{index}", started_at=moment, awaiting_since=moment
        )
        _, etag = load_state(rig.tables, names[index])
        save_state(rig.tables, names[index], state, etag, step="test", now=moment)
    batched = load_states(rig.tables, names)
    assert list(batched) == names
    for name in names:
        assert batched[name] == load_state(rig.tables, name)[0], name
    assert batched[names[13]].rotation_id == "r-13" and batched[names[1]] == RotationState()
    _reports.invalidate()
    report, _status = health_report(rig.settings, tables=rig.tables, page=Page(size=PAGE))
    shown = {s["name"]: s["keyRotation"] for s in report["sites"]}
    fields = ("state", "lastRotatedAt", "adoptedAt", "keyMatchesVault", "detail")
    for site in rig.spec.sites[:PAGE]:
        expected = rotation_status(rig.tables, site)  # the per-site read the report used before
        assert {k: shown[site.name][k] for k in fields} == {k: expected[k] for k in fields}, site.name
    assert shown[names[13]]["state"] != shown[names[1]]["state"]


def test_the_snapshot_memory_goes_with_its_service_object(rig, azurite):
    written, read = len(health_snapshot._last_written), len(health_snapshot._last_read)
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    health_snapshot.write_snapshot(service, lambda current: current or {"version": 1, "sites": {}})
    assert health_snapshot._last_written.get(service) is not None
    assert len(health_snapshot._last_written) == written + 1
    del service
    gc.collect()
    # keyed by id() the entries stayed (and a new service reusing that id would have been handed them)
    assert (len(health_snapshot._last_written), len(health_snapshot._last_read)) == (written, read)


def test_requests_that_find_the_page_unbuilt_build_it_once_together(rig, monkeypatch):
    first = datetime(2026, 12, 2, 6, 0, 0, tzinfo=UTC)
    health_report(rig.settings, tables=rig.tables, now=lambda: first)  # the reads are cached
    calls: list[int] = []
    real = health.build_report

    def counted(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(1)
        time.sleep(0.2)  # a build that takes a while: the others arrive meanwhile
        return real(*args, **kwargs)

    monkeypatch.setattr(health, "build_report", counted)
    later = datetime(2026, 12, 2, 6, 0, 1, tzinfo=UTC)  # the next second: a new page
    start = threading.Barrier(8)

    def request() -> tuple[dict[str, Any], int]:
        start.wait()
        return health_report(rig.settings, tables=rig.tables, now=lambda: later)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: request(), range(8)))
    assert len(calls) == 1  # was 8: every request in flight built the page
    assert all(report is answers[0][0] for report, _status in answers)


def test_a_probe_that_fails_reads_its_table_for_every_site_again(rig, monkeypatch):
    _page(rig)
    real = health.written_since

    def failing(tables: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        if table_name == RUNS:
            raise RuntimeError("Table Storage answered 500")
        return real(tables, table_name, *args, **kwargs)

    monkeypatch.setattr(health, "written_since", failing)
    _reports.invalidate()
    rig.proxy.requests.clear()
    _page(rig)
    counts = _counts(rig.proxy)
    assert {t: counts[t] for t in (ROTATION, RUNS, FAILOVER, DRILLS)} == {
        ROTATION: 1,
        RUNS: PAGE,  # no probe request: every site's latest run
        FAILOVER: 1,
        DRILLS: 1,
    }
    monkeypatch.setattr(health, "written_since", real)
    _reports.invalidate()
    rig.proxy.requests.clear()
    _page(rig)  # the probe works again: its rows are all new against the failed probe's none
    assert _reads(rig.proxy, RUNS) >= 1


def test_the_run_probe_seeks_the_recent_rows_only_and_still_sees_a_long_run_finish(rig):
    """Timestamp is not indexed: the run probe bounds its RowKeys (newest first) to runs started within
    RUN_HORIZON of the probe, so Table Storage does not read a site's whole run history every renewal."""
    from shared.azure.table_changes import written_since

    name = rig.spec.sites[5].name
    now = datetime.now(UTC)
    long_run = write_run(rig.tables, name, now - timedelta(hours=2))  # started 2 h ago, written now
    old_run = write_run(rig.tables, name, now - timedelta(hours=5))  # older than any run lasts
    since = now - timedelta(minutes=1)
    bound = newest_first_key(since - health.RUN_HORIZON)
    seen = written_since(rig.tables, RUNS, [name], since, rows_below=bound)[name]
    unbounded = written_since(rig.tables, RUNS, [name], since)[name]
    assert {key for key, _etag in seen} == {key for key, _etag in unbounded} - {
        key for key, _etag in unbounded if key.endswith(old_run[:12])
    }
    assert any(key.endswith(long_run[:12]) for key, _etag in seen)
    # and the renewal's probe carries the bound
    _page(rig)
    _reports.invalidate()
    rig.proxy.requests.clear()
    _page(rig)
    (probe,) = [q for q in _filters(rig.proxy, RUNS) if "Timestamp ge" in q]
    assert "RowKey lt '" in probe, probe
