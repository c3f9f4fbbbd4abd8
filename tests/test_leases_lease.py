"""Leases that are short, renewed while work goes on, and never lose a run or block a site for long
when Table Storage fails at the end (issue 12, item 2). Real Azurite, behind a fault-injecting proxy
where Table Storage must fail; the real simulator for ARM."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient, UpdateMode

from hybridnet_dev.armsim.control import SimControl
from shared import cli
from shared.azure.leases import Lease, LeaseLost
from shared.azure.run_log import latest_runs
from shared.drift.plan import Mode
from shared.services.reconciler import SiteBusy, reconcile
from shared.settings import Settings
from tests.failover_support import unique_spec
from tests.helpers import wait_for
from tests.stack import LNG, VPN_CONNECTION, app_on_simulator
from tests.table_proxy import TableProxy

LEASES = "hybridnetLeases"
LEASE_SECONDS = 10  # the shortest the settings allow: a stuck lease must clear within it


def lease_row(service: TableServiceClient, key: str) -> dict[str, Any] | None:
    try:
        return dict(service.get_table_client(LEASES).get_entity("lease", key))
    except ResourceNotFoundError:  # no such row (or no lease table yet)
        return None


def take_over(service: TableServiceClient, key: str, holder: str = "another-instance") -> None:
    """What another instance does once our lease expired: it replaces the row with its own."""
    service.get_table_client(LEASES).upsert_entity(
        {
            "PartitionKey": "lease",
            "RowKey": key,
            "holder": holder,
            "expiresAt": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
        },
        mode=UpdateMode.REPLACE,
    )


# --- the Lease itself -------------------------------------------------------------------------------


@pytest.fixture
def direct(azurite) -> TableServiceClient:
    return TableServiceClient.from_connection_string(azurite.connection_string)


def test_a_held_lease_is_renewed_in_the_background_until_released(direct):
    lease = Lease(
        direct, "test", f"renew-{time.monotonic_ns()}", "me", ttl=timedelta(seconds=3), renew_every=0.2
    )
    assert lease.acquire()
    first = lease_row(direct, lease.name)
    assert first is not None
    # Positive sentinel: the row's expiry moves forward on its own while the lease is held.
    assert wait_for(lambda: (lease_row(direct, lease.name) or first)["expiresAt"] > first["expiresAt"], 5)
    assert lease.release() is True
    assert lease_row(direct, lease.name) is None
    other = Lease(direct, "test", lease.name.split(":", 1)[1], "other", renew_every=0)
    assert other.acquire()  # at once: released, not waiting for an expiry
    other.release()


def test_a_lease_taken_over_refuses_the_next_write_and_its_release_leaves_the_new_holder_alone(direct):
    lease = Lease(direct, "test", f"lost-{time.monotonic_ns()}", "me", renew_every=0)
    assert lease.acquire()
    lease.ensure_held()  # ours: renewed, no error
    take_over(direct, lease.name)
    with pytest.raises(LeaseLost, match="taken over"):
        lease.ensure_held()
    assert lease.lost
    assert lease.release() is True
    assert (lease_row(direct, lease.name) or {}).get("holder") == "another-instance"


def test_a_failed_release_is_retried_logged_and_never_raises(azurite, direct, caplog):
    """Old code: the Table error propagated out of release() (and out of the pass after ARM was written)."""
    with TableProxy(azurite) as proxy:
        service = TableServiceClient.from_connection_string(proxy.connection_string)
        clock = [datetime.now(UTC)]
        site = f"release-{time.monotonic_ns()}"
        lease = Lease(
            service, "test", site, "me", ttl=timedelta(seconds=60), now=lambda: clock[0], renew_every=0
        )
        assert lease.acquire()
        proxy.drop("DELETE", LEASES)
        with caplog.at_level(logging.WARNING, logger="shared.azure.leases"):
            assert lease.release() is False
        assert len(proxy.dropped("DELETE", LEASES)) == 4  # the first attempt and three retries
        assert any(
            "could not be released" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR
        )
        # The row is still there; it blocks others only until it expires, one (short) ttl later.
        other = Lease(
            direct, "test", site, "other", ttl=timedelta(seconds=60), now=lambda: clock[0], renew_every=0
        )
        assert not other.acquire()
        clock[0] += timedelta(seconds=61)
        assert other.acquire()
        other.release()


def test_a_renewal_that_landed_unanswered_is_recognised_as_ours(azurite, direct):
    """The renewal's answer is lost after Azurite replaced the row; the SDK's retry then fails its
    If-Match. The row still names this holder: the lease is ours, not lost."""
    with TableProxy(azurite) as proxy:
        service = TableServiceClient.from_connection_string(proxy.connection_string)
        lease = Lease(service, "test", f"unanswered-{time.monotonic_ns()}", "me", renew_every=0)
        assert lease.acquire()
        proxy.drop("PUT", LEASES, count=1, after=True)
        lease.ensure_held()  # no LeaseLost
        assert len(proxy.dropped("PUT", LEASES)) == 1 and lease.lost is None
        lease.ensure_held()  # and the ETag it adopted is the row's current one
        assert lease.release() is True
        assert lease_row(direct, lease.name) is None


# --- a reconcile pass ---------------------------------------------------------------------------------


@dataclass
class Stack:
    settings: Settings
    control: SimControl
    proxy: TableProxy
    direct: TableServiceClient
    site: str


@pytest.fixture
def stack(azurite, tmp_path) -> Iterator[Stack]:
    """The app's Table Storage goes through the proxy; a site name of its own (Azurite is shared)."""
    spec_path, site = unique_spec(tmp_path)
    with (
        TableProxy(azurite) as proxy,
        app_on_simulator(
            storage=proxy.connection_string, spec_path=spec_path, HYBRIDNET_LEASE_SECONDS=str(LEASE_SECONDS)
        ) as app,
    ):
        yield Stack(
            Settings.from_env(),
            app.control,
            proxy,
            TableServiceClient.from_connection_string(azurite.connection_string),
            site,
        )


def test_table_storage_failing_at_release_loses_no_run_and_blocks_the_site_one_lease_at_most(
    stack, capsys, caplog
):
    stack.control.patch_resource(LNG, {"gatewayIpAddress": "40.50.60.71"})
    stack.proxy.drop("DELETE", LEASES)  # Table Storage gone when the pass gives its lease back
    with caplog.at_level(logging.WARNING):
        code = cli.main(["apply", "--site", stack.site])
    failed_at = time.monotonic()
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"site {stack.site}: fixed" in out and "Traceback" not in err
    assert len(stack.proxy.dropped("DELETE", LEASES)) == 4
    assert any("could not be released" in r.getMessage() for r in caplog.records)
    runs = latest_runs(stack.direct, stack.site, limit=5)
    assert [r["outcome"] for r in runs] == ["fixed"]  # the run is recorded whatever the release did
    assert runs[0]["actions"][0]["outcome"] == "applied"

    # The lease row outlived its holder: the next pass with work to do is busy ...
    stack.proxy.clear()
    stack.control.patch_resource(LNG, {"gatewayIpAddress": "40.50.60.72"})
    with pytest.raises(SiteBusy):
        reconcile(stack.settings, stack.site, trigger="manual", mode=Mode.ENFORCE)

    # ... for one short lease at most, not half an hour.
    def goes_ahead() -> str | None:
        try:
            return reconcile(stack.settings, stack.site, trigger="manual", mode=Mode.ENFORCE).outcome
        except SiteBusy:
            time.sleep(0.5)
            return None

    assert wait_for(goes_ahead, LEASE_SECONDS + 5) == "fixed"
    assert time.monotonic() - failed_at <= LEASE_SECONDS + 5
    assert lease_row(stack.direct, f"reconcile:{stack.site}") is None  # released normally this time


def test_table_storage_down_for_the_record_is_retried_until_it_answers(stack):
    """Azurite unreachable when the run is to be recorded: the record is retried (bounded) and lands
    once Table Storage answers again."""
    stack.control.patch_resource(LNG, {"gatewayIpAddress": "40.50.60.71"})
    stack.proxy.drop("POST", "hybridnetRuns", count=2)  # two record attempts lost, the third lands
    result = reconcile(stack.settings, stack.site, trigger="manual", mode=Mode.ENFORCE)
    assert result.outcome == "fixed"
    assert len(stack.proxy.dropped("POST", "hybridnetRuns")) == 2
    assert [r["outcome"] for r in latest_runs(stack.direct, stack.site, limit=5)] == ["fixed"]


def test_a_run_that_cannot_be_recorded_is_reported_not_a_traceback(stack, capsys, caplog, monkeypatch):
    monkeypatch.setattr("shared.azure.run_log.RECORD_DELAYS", (0.05, 0.05))
    stack.control.patch_resource(LNG, {"gatewayIpAddress": "40.50.60.71"})
    stack.proxy.drop("POST", "hybridnetRuns")
    with caplog.at_level(logging.ERROR):
        code = cli.main(["apply", "--site", stack.site])
    out, err = capsys.readouterr()
    assert code == 1
    assert f"site {stack.site}: fixed" in out  # what was done is still shown
    assert "could not be recorded" in err and "Traceback" not in err
    logged = [r.getMessage() for r in caplog.records if "could not be recorded" in r.getMessage()]
    assert logged and '"outcome": "fixed"' in logged[0]  # the run itself is in the error log
    assert lease_row(stack.direct, f"reconcile:{stack.site}") is None  # and the lease is released


def test_a_lease_taken_over_mid_pass_stops_the_writes_before_the_next_one(stack):
    stack.control.patch_resource(LNG, {"gatewayIpAddress": "40.50.60.71"})
    stack.control.patch_resource(VPN_CONNECTION, {"routingWeight": 42})
    # The first write's operation is slow to report: room for another instance to take the lease.
    stack.control.add_fault("latency", method="GET", path="/operations/", latency_ms=1500, count=1)
    stack.control.clear_requests()
    key = f"reconcile:{stack.site}"

    def thief() -> None:
        try:
            wait_for(lambda: any(r["method"] == "PUT" for r in stack.control.requests()), 20)
        except AssertionError:
            return  # no write left at all: the assertion on the PUTs below fails
        take_over(stack.direct, key)

    stealing = threading.Thread(target=thief)
    stealing.start()
    result = reconcile(stack.settings, stack.site, trigger="manual", mode=Mode.ENFORCE)
    stealing.join()
    puts = [r for r in stack.control.requests() if r["method"] == "PUT"]
    assert len(puts) == 1, [p["path"] for p in puts]  # the second write never left
    outcomes = [(r.outcome.value, r.detail) for r in result.results]
    assert outcomes[0][0] == "applied"
    assert outcomes[1][0] == "skipped" and "taken over" in outcomes[1][1], outcomes
    assert result.outcome == "partial"
    assert [r["outcome"] for r in latest_runs(stack.direct, stack.site, limit=5)] == ["partial"]
    assert (lease_row(stack.direct, key) or {}).get("holder") == "another-instance"  # left alone


def test_a_failed_rotation_lease_release_delays_the_failover_rollback_one_lease_at_most(stack):
    """The failover-triggered rollback of a waiting rotation: refused while a lease whose release failed
    is still in the table, for one short lease at most (it was 30 minutes), then done."""
    from shared.rotation.keygen import generate_shared_key
    from shared.services.failover import check_site
    from shared.services.rotation import rotate_site
    from shared.spec_source import current_spec
    from tests.stack import CIRCUIT

    site = current_spec(stack.settings).site(stack.site)
    assert check_site(stack.settings, site, "poll").outcome == "baseline"
    stack.proxy.drop("DELETE", LEASES)
    started = rotate_site(stack.settings, site, manual=True, force=True, new_key=generate_shared_key)
    assert started.phase == "awaiting-peer" and started.error is None
    assert len(stack.proxy.dropped("DELETE", LEASES)) == 4
    stack.proxy.clear()
    stack.control.set_circuit(CIRCUIT, up=False)
    failed_at = time.monotonic()
    assert check_site(stack.settings, site, "alert").outcome == "recorded"

    def rolled_back() -> bool:
        outcome = rotate_site(stack.settings, site, advance_only=True)  # as the rotation timer does
        if outcome.skipped:
            assert "another instance" in outcome.skipped  # the stuck lease, nothing else
            time.sleep(0.5)
        return outcome.phase == "rolled-back"

    assert wait_for(rolled_back, LEASE_SECONDS + 5)
    assert time.monotonic() - failed_at <= LEASE_SECONDS + 5


def test_a_pass_longer_than_its_lease_keeps_it_by_renewing(stack):
    """The lease lasts 10 s; a write that takes 12 s keeps it (renewed every ~3 s), so a second reconciler
    arriving after 11 s is still turned away rather than writing alongside."""
    stack.control.patch_resource(LNG, {"gatewayIpAddress": "40.50.60.71"})
    stack.control.add_fault("latency", method="PUT", path="localNetworkGateways", latency_ms=12_000, count=1)
    stack.control.clear_requests()
    outcomes: list[str] = []
    first = threading.Thread(
        target=lambda: outcomes.append(
            reconcile(stack.settings, stack.site, trigger="manual", mode=Mode.ENFORCE).outcome
        )
    )
    first.start()
    key = f"reconcile:{stack.site}"
    assert wait_for(lambda: lease_row(stack.direct, key), 10)  # the first pass holds the lease
    time.sleep(LEASE_SECONDS + 1)  # longer than the lease, while the first pass still waits for ARM
    assert first.is_alive()
    with pytest.raises(SiteBusy):
        reconcile(stack.settings, stack.site, trigger="manual", mode=Mode.ENFORCE)
    first.join()
    assert outcomes == ["fixed"]
    assert len([r for r in stack.control.requests() if r["method"] == "PUT"]) == 1
