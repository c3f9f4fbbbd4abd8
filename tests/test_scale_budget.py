"""The client-side ARM budget: a token bucket below ARM's, ARM's remaining-budget headers, 429 pauses."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorThread
from shared.azure.arm import network_client
from shared.azure.budget import (
    READS_CAPACITY,
    READS_PER_SECOND,
    WRITES_CAPACITY,
    WRITES_PER_SECOND,
    GraphQuota,
    TokenBucket,
    arm_budget,
    parse_resets_after,
)
from shared.azure.network_state import observe_site
from shared.settings import Settings
from tests.stack import point_app_at, seed_spec


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_budget_is_sized_below_arms_buckets():
    # ARM: reads 250 refilled 25/s, writes 200 refilled 10/s per principal and subscription.
    assert READS_CAPACITY < 250 and READS_PER_SECOND < 25
    assert WRITES_CAPACITY < 200 and WRITES_PER_SECOND < 10


def test_a_burst_beyond_the_bucket_waits_for_the_refill():
    clock = FakeClock()
    bucket = TokenBucket(capacity=3, per_second=2, clock=clock)
    waits = [bucket.take(sleep=clock.sleep) for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(0.5) and waits[4] == pytest.approx(0.5)
    assert clock.now == pytest.approx(101.0)


def test_arm_reporting_few_tokens_left_slows_the_pass_down():
    clock = FakeClock()
    bucket = TokenBucket(capacity=200, per_second=20, clock=clock)
    bucket.cap(30)  # ARM: 30 left (others draw from the same bucket); 25 stay in reserve
    assert bucket.tokens() == pytest.approx(5)
    for _ in range(5):
        assert bucket.take(sleep=clock.sleep) == 0.0
    assert bucket.take(sleep=clock.sleep) == pytest.approx(0.05)


def test_a_429_pauses_every_caller_for_retry_after():
    clock = FakeClock()
    bucket = TokenBucket(capacity=200, per_second=20, clock=clock)
    bucket.pause(3.0)
    assert bucket.take(sleep=clock.sleep) >= 3.0


def test_graph_quota_waits_for_the_window_when_none_is_left():
    clock = FakeClock()
    quota = GraphQuota(clock=clock)
    quota.observe({"x-ms-user-quota-remaining": "3", "x-ms-user-quota-resets-after": "00:00:04"}, 200)
    quota.wait(sleep=clock.sleep)
    assert clock.now == 100.0
    quota.observe({"x-ms-user-quota-remaining": "0", "x-ms-user-quota-resets-after": "00:00:04"}, 200)
    quota.wait(sleep=clock.sleep)
    assert clock.now == pytest.approx(104.0)
    assert parse_resets_after("01:02:03.5") == pytest.approx(3723.5)
    assert parse_resets_after("soon") is None


@pytest.fixture
def seeded() -> Iterator[tuple[Settings, SimControl]]:
    with SimulatorThread(seed_spec()) as sim, pytest.MonkeyPatch.context() as env:
        point_app_at(env, sim.info)
        yield Settings.from_env(), SimControl(sim.info.control_url)


def test_every_arm_call_draws_from_the_one_budget_and_429s_are_retried_after_retry_after(seeded):
    settings, control = seeded
    budget = arm_budget()
    before = budget.snapshot()
    observe_site(network_client(settings), seed_spec().sites[0])
    after = budget.snapshot()
    assert after["reads"] - before["reads"] == 5  # the five lists of a site
    assert after["throttled"] == before["throttled"]

    control.add_fault("throttle", method="GET", path="/localNetworkGateways$", retry_after=1, count=1)
    started = time.monotonic()
    observed = observe_site(network_client(settings), seed_spec().sites[0])
    assert observed.resources  # the throttled list was retried and succeeded
    final = budget.snapshot()
    assert final["throttled"] - after["throttled"] == 1
    assert final["reads"] - after["reads"] == 6  # five lists + the retried attempt
    assert time.monotonic() - started >= 1.0  # waited Retry-After
