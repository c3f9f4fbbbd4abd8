"""POST /api/alerts coalesces per site (issue 12, item 7): single flight + a minimum interval with one
follow-up check, in an instance and across instances. A burst of alerts costs a few ARM reads, not two
per alert, and an alert arriving inside the interval is still followed by a check that saw it."""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hybridnet_dev.armsim.control import SimControl
from shared.azure.failover_store import failover_events
from shared.azure.health_snapshot import health_table
from shared.azure.tables import table_service
from shared.failover.alerts import site_resource_ids
from shared.services.coalesce import Coalescer
from shared.services.failover import check_site, check_site_for_alert
from shared.settings import Settings
from shared.spec_source import current_spec
from tests.failover_support import unique_spec
from tests.helpers import post_json, wait_for
from tests.stack import CIRCUIT, app_host, app_on_simulator

SAMPLE = json.loads((Path(__file__).parent / "fixtures/alerts/common-alert-schema-sample.json").read_text())


# --- the mechanism ----------------------------------------------------------------------------------


def test_a_burst_costs_about_one_execution_per_interval_and_every_call_is_followed_by_one():
    coalescer = Coalescer()
    starts: list[float] = []
    arrivals: list[float] = []
    lock = threading.Lock()

    def execute() -> int:
        with lock:
            starts.append(time.monotonic())
        time.sleep(0.05)
        return len(starts)

    def call() -> None:
        with lock:
            arrivals.append(time.monotonic())
        coalescer.do("site", execute, min_interval=0.3)

    threads = []
    for _ in range(60):  # 60 calls over ~0.9 s
        threads.append(threading.Thread(target=call))
        threads[-1].start()
        time.sleep(0.015)
    for thread in threads:
        thread.join()
    last_arrival = max(arrivals)
    # Positive sentinel: the follow-up execution starts after the last call arrived.
    assert wait_for(lambda: max(starts) > last_arrival, 2)
    span = last_arrival - min(arrivals)  # ~0.9 s; longer on a loaded machine
    assert len(starts) <= span / 0.3 + 2, (
        span,
        starts,
    )  # one per interval + the first; 60 without coalescing
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= 0.29 for gap in gaps), gaps  # never overlapping, an interval apart


def test_a_failed_execution_fails_the_calls_it_answers():
    coalescer = Coalescer()

    def fail() -> int:
        raise RuntimeError("ARM unreachable")

    with pytest.raises(RuntimeError, match="ARM unreachable"):
        coalescer.do("site", fail, min_interval=60)
    with pytest.raises(RuntimeError, match="ARM unreachable"):  # answered from it, inside the interval
        coalescer.do("site", lambda: 1, min_interval=60)


# --- through the Functions host ---------------------------------------------------------------------


@dataclass
class Stack:
    base: str
    key: str
    control: SimControl
    settings: Settings


@pytest.fixture(scope="module")
def stack(azurite, tmp_path_factory) -> Iterator[Stack]:
    spec_path, _ = unique_spec(tmp_path_factory.mktemp("alert-burst"))
    with app_on_simulator(storage=azurite.connection_string, spec_path=spec_path) as app, app_host() as host:
        yield Stack(host.info.base_url, host.info.function_key, app.control, Settings.from_env())


def _alert(target: str, condition: str, n: int = 0) -> bytes:
    payload = copy.deepcopy(SAMPLE)
    payload["data"]["essentials"]["alertId"] = (
        f"/subscriptions/x/providers/Microsoft.AlertsManagement/alerts/{n}"
    )
    payload["data"]["essentials"]["alertTargetIDs"] = [target.lower()]
    payload["data"]["essentials"]["monitorCondition"] = condition
    return json.dumps(payload).encode()


def arm_reads(control: SimControl) -> list[str]:
    return [r["path"] for r in control.requests() if r["method"] == "GET" and "/operations/" not in r["path"]]


def test_500_alerts_in_a_burst_cost_a_few_arm_reads_and_the_last_one_is_still_seen(stack):
    settings = stack.settings
    site = current_spec(settings).sites[0]
    ids = site_resource_ids(site, settings.subscription_id)
    # the baseline with the site's first route check, as the route timer takes it (a poll leaves it to
    # the route timer): the alerts' route checks are then coalesced within HYBRIDNET_ROUTES_MIN_SECONDS
    assert check_site(settings, site, "route-check", routes="now").outcome == "baseline"
    stack.control.clear_requests()
    url = f"{stack.base}/api/alerts?code={stack.key}"
    bodies = [_alert(ids[i % len(ids)], "Fired", i) for i in range(500)]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda body: post_json(url, body, timeout=60), bodies))
    took = time.monotonic() - started
    assert [status for status, _ in answers] == [200] * 500, answers[:3]
    reads = arm_reads(stack.control)
    print(f"500 alerts in {took:.1f}s: {len(reads)} ARM reads (1,000 without coalescing)")
    interval = settings.failover_alert_min_seconds
    checks_allowed = 2 + int(took / interval)  # the first, one per interval, the last follow-up
    assert len(reads) <= 2 * checks_allowed, reads
    assert sum(1 for _, body in answers if body["sites"][0].get("coalesced")) >= 490

    # The circuit fails during a burst's interval: the alert that says so is answered at once from the
    # earlier check, and the follow-up check records the failover (positive sentinel).
    stack.control.set_circuit(CIRCUIT, up=False)
    try:
        status, _ = post_json(url, _alert(ids[5], "Fired", 501), timeout=60)
        assert status == 200
        assert wait_for(
            lambda: (
                [e["kind"] for e in failover_events(table_service(settings), site=site.name)] == ["failover"]
            ),
            interval + 10,
        )
        (event,) = failover_events(table_service(settings), site=site.name)
        assert event["detectedBy"] == "alert"
    finally:
        stack.control.set_circuit(CIRCUIT, up=True)


@pytest.fixture
def network(azurite, tmp_path) -> Iterator[tuple[Settings, SimControl]]:
    spec_path, _ = unique_spec(tmp_path)
    with app_on_simulator(
        storage=azurite.connection_string, spec_path=spec_path, HYBRIDNET_FAILOVER_ALERT_MIN_SECONDS="1"
    ) as app:
        yield Settings.from_env(), app.control


def test_another_instances_recent_check_is_followed_up_once_its_interval_ends(network):
    """Across instances the claim row is the health refresh's, one per site: an alert arriving just
    after another instance checked is answered from the record, then checked once the interval ends."""
    settings, control = network
    site = current_spec(settings).sites[0]
    tables = table_service(settings)
    assert check_site(settings, site, "poll").outcome == "baseline"  # something recorded to answer from
    theirs = datetime.now(UTC)
    health_table(tables).upsert_entity(
        {"PartitionKey": "alert", "RowKey": site.name, "claimedAt": theirs.isoformat()}
    )  # another instance claimed a check of this site just now
    control.clear_requests()
    result = check_site_for_alert(settings, site, detail="alert test Fired", tables=tables)
    assert result.outcome == "checked-elsewhere" and result.coalesced
    assert arm_reads(control) == []
    # Positive sentinel: the follow-up check reads both connections once the other's interval is over,
    # under a claim of its own.
    assert wait_for(lambda: len(arm_reads(control)) >= 2, 5), arm_reads(control)
    ours = datetime.fromisoformat(health_table(tables).get_entity("alert", site.name)["claimedAt"])
    assert ours >= theirs + timedelta(seconds=1)
