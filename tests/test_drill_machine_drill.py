"""Failover drills, pure (shared.failover.drill): preconditions and the resumable state machine, fed
with real route-truth analyses (shared.failover.routes.analyse) of the three situations a drill sees:
ExpressRoute carries with the VPN as alternative, the simulation withdrew ExpressRoute, and a prefix
the VPN cannot carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.failover.drill import (
    ABORTED,
    DONE,
    FAILED,
    FAILING_BACK,
    FAILING_OVER,
    HOLDING,
    PASSED,
    REFUSED,
    STARTING,
    STOP,
    STOPPING,
    Drill,
    DrillConfig,
    DrillDataError,
    DrillSummary,
    Observation,
    SiteFacts,
    advance,
    days_since_pass,
    plan,
    preconditions,
    recover,
    started,
    stopped,
)
from shared.failover.routes import (
    EXPRESSROUTE,
    VPN,
    BgpPeer,
    Connection,
    GatewayReading,
    LearnedRoute,
    analyse,
)

DECLARED = ["10.10.0.0/16", "10.11.0.0/16"]
MSEE = ("10.20.255.228", "10.20.255.229")
T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
CFG = DrillConfig(
    failover_deadline=timedelta(seconds=60),
    hold=timedelta(seconds=30),
    failback_deadline=timedelta(seconds=60),
    stop_deadline=timedelta(seconds=60),
)


def routes(
    *, er: tuple[str, ...] = tuple(DECLARED), vpn: tuple[str, ...] = tuple(DECLARED), vpn_up: bool = True
):
    er_routes = tuple(LearnedRoute(p, m, m, "EBgp", "12076-65020", 32769) for p in er for m in MSEE)
    return analyse(
        declared=DECLARED,
        connections=[
            Connection("er-conn", EXPRESSROUTE, "er-gw", "Connected"),
            Connection(
                "vpn-conn", VPN, "vpn-gw", "Connected" if vpn_up else "NotConnected", static_prefixes=vpn
            ),
        ],
        readings=[
            GatewayReading(
                "er-gw", EXPRESSROUTE, er_routes, tuple(BgpPeer(m, "Connected", 12076) for m in MSEE)
            ),
            GatewayReading("vpn-gw", VPN, (), None),
        ],
    )


def facts(**kw) -> SiteFacts:
    base = {
        "site": "contoso",
        "routes": routes(),
        "vpn_status": "Connected",
        "peering_location": "Silicon Valley",
        "mode": "enforce",
    }
    base.update(kw)
    return SiteFacts(**base)


def obs(seconds: float, r=None, vpn: str = "Connected", real: str | None = None) -> Observation:
    return Observation(now=T0 + timedelta(seconds=seconds), routes=r, vpn_status=vpn, real_failover=real)


def test_healthy_site_in_enforce_mode_may_drill():
    assert preconditions(facts()) == []
    drill = plan(drill_id="d1", facts=facts(), now=T0)
    assert (drill.phase, drill.result, drill.peering_location) == (STARTING, None, "Silicon Valley")


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"mode": "report"}, "report-mode"),
        ({"vpn_status": "NotConnected"}, "vpn-not-connected"),
        ({"routes": routes(vpn=("10.10.0.0/16",))}, "vpn-cannot-carry"),
        ({"routes": routes(er=())}, "expressroute-not-carrying"),
        ({"routes": None}, "route-truth-unknown"),
        ({"rotation_in_progress": True}, "rotation-in-progress"),
        ({"running_drill": "d0"}, "drill-in-progress"),
        ({"open_incidents": ("failover vpn-conn",)}, "open-incident"),
        ({"peering_location": None}, "no-peering-location"),
        ({"mode": "sometimes"}, "bad-mode"),
    ],
)
def test_each_precondition_is_refused_with_its_reason(changes, code):
    refusals = preconditions(facts(**changes))
    assert code in [r.code for r in refusals]
    drill = plan(drill_id="d1", facts=facts(**changes), now=T0)
    assert drill.phase == DONE and drill.result == ("planned" if code == "report-mode" else REFUSED)
    assert drill.reason and all(r.reason in drill.reason for r in refusals)


def test_vpn_cannot_carry_names_the_prefix():
    (refusal,) = preconditions(facts(routes=routes(vpn=("10.10.0.0/16",))))
    assert "10.11.0.0/16" in refusal.reason


def run_to_holding(drill: Drill) -> Drill:
    step = advance(drill, obs(1, routes()), CFG)
    assert step.action == "start"
    drill = started(drill, now=T0 + timedelta(seconds=2), test_id="guid-1")
    step = advance(drill, obs(3, routes()), CFG)  # not moved yet: wait
    assert (step.drill.phase, step.action) == (FAILING_OVER, None)
    step = advance(step.drill, obs(6.5, routes(er=())), CFG)
    assert step.drill.phase == HOLDING and step.drill.failover_seconds == 4.5
    return step.drill


def test_drill_passes_with_timings_and_evidence():
    drill = run_to_holding(plan(drill_id="d1", facts=facts(), now=T0))
    assert advance(drill, obs(20, routes(er=())), CFG).action is None  # holding
    step = advance(drill, obs(37, routes(er=())), CFG)
    assert (step.drill.phase, step.action, step.drill.stop_successful) == (STOPPING, STOP, True)
    back = stopped(step.drill, now=T0 + timedelta(seconds=40))
    assert advance(back, obs(41, routes(er=())), CFG).drill.phase == FAILING_BACK
    done = advance(back, obs(43, routes()), CFG).drill
    assert (done.phase, done.result, done.failback_seconds, done.failover_seconds) == (DONE, PASSED, 3.0, 4.5)
    assert [e["phase"] for e in done.log] == [STARTING, FAILING_OVER, HOLDING, STOPPING, FAILING_BACK, DONE]
    assert Drill.from_json(done.to_json()) == done


def test_unreachable_prefix_aborts_at_once_and_names_it():
    drill = started(plan(drill_id="d1", facts=facts(), now=T0), now=T0, test_id=None)
    step = advance(drill, obs(1, routes(er=(), vpn=("10.10.0.0/16",))), CFG)
    assert (step.drill.phase, step.action, step.drill.result) == (STOPPING, STOP, ABORTED)
    assert step.drill.not_moved == ("10.11.0.0/16",) and "10.11.0.0/16" in step.drill.reason
    assert step.drill.stop_successful is False
    back = stopped(step.drill, now=T0 + timedelta(seconds=2))
    done = advance(back, obs(3, routes()), CFG).drill
    assert (done.phase, done.result, done.failback_seconds) == (DONE, ABORTED, 1.0)


@pytest.mark.parametrize(
    ("seen", "words"),
    [
        (obs(10, routes(er=()), vpn="NotConnected"), "VPN connection is NotConnected"),
        (obs(10, routes(er=()), real="failover er-conn"), "real failover"),
    ],
)
def test_vpn_drop_or_real_failover_aborts_while_holding(seen, words):
    drill = run_to_holding(plan(drill_id="d1", facts=facts(), now=T0))
    step = advance(drill, seen, CFG)
    assert (step.action, step.drill.result) == (STOP, ABORTED) and words in step.drill.reason


def test_failover_deadline_fails_the_drill_with_prefixes_not_moved():
    drill = started(plan(drill_id="d1", facts=facts(), now=T0), now=T0, test_id=None)
    assert advance(drill, obs(59, routes()), CFG).action is None
    step = advance(drill, obs(61, routes()), CFG)
    assert (step.action, step.drill.result) == (STOP, FAILED)
    assert step.drill.not_moved == tuple(DECLARED)


def test_failback_deadline_fails_a_drill_that_had_passed_its_hold():
    drill = stopped(run_to_holding(plan(drill_id="d1", facts=facts(), now=T0)), now=T0)
    done = advance(drill, obs(61, routes(er=())), CFG).drill
    assert (done.phase, done.result) == (DONE, FAILED) and "ExpressRoute" in done.reason


def test_stop_is_retried_until_it_succeeds():
    drill = started(plan(drill_id="d1", facts=facts(), now=T0), now=T0, test_id=None)
    stopping = advance(drill, obs(1, routes(er=(), vpn=())), CFG).drill
    assert advance(stopping, obs(500, routes()), CFG).action == STOP


def test_recover_aborts_a_drill_whose_host_died():
    drill = run_to_holding(plan(drill_id="d1", facts=facts(), now=T0))
    assert recover(drill, now=T0 + timedelta(seconds=40), config=CFG, grace=timedelta(seconds=30)) is None
    step = recover(drill, now=T0 + timedelta(seconds=70), config=CFG, grace=timedelta(seconds=30))
    assert step is not None and (step.action, step.drill.result, step.drill.phase) == (
        STOP,
        ABORTED,
        STOPPING,
    )
    assert "host" in step.drill.reason
    done = plan(drill_id="d2", facts=facts(mode="report"), now=T0)
    assert recover(done, now=T0 + timedelta(days=1), config=CFG, grace=timedelta(0)) is None


def test_stored_drill_with_bad_fields_is_rejected_by_name():
    good = plan(drill_id="d1", facts=facts(), now=T0).to_json()
    with pytest.raises(DrillDataError, match="phase"):
        Drill.from_json({**good, "phase": "dancing"})
    with pytest.raises(DrillDataError, match="createdAt"):
        Drill.from_json({k: v for k, v in good.items() if k != "createdAt"})
    with pytest.raises(DrillDataError, match="phaseSince"):
        Drill.from_json({**good, "phaseSince": "yesterday"})


def test_summary_days_since_last_pass_and_degraded():
    passed = stopped(run_to_holding(plan(drill_id="d1", facts=facts(), now=T0)), now=T0)
    passed = advance(passed, obs(1, routes()), CFG).drill
    now = T0 + timedelta(days=10)
    days = days_since_pass([passed], now=now)
    assert days is not None and 9.9 < days <= 10
    assert DrillSummary(passed, days, None).degraded is False
    assert DrillSummary(passed, days, 7).degraded is True
    assert DrillSummary(None, None, 7).to_json()["degraded"] is True
    assert DrillSummary(passed, days, 30).to_json()["last"]["result"] == PASSED
