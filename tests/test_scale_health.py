"""The failover poll and the health report at scale: budget slices, concurrent checks, gateways from
Resource Graph, pages and filters (JSON ?status=, ?name=, ?page=, ?pageSize=)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from bench.scale_sites import write_scale_sites
from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorThread
from shared.errors import BadRequest
from shared.report.schema import HEALTH_SCHEMA
from shared.services.health import (
    POLL_READS_PER_MINUTE,
    Page,
    due_sites,
    health_report,
    poll_due_sites,
    poll_sites,
    poll_slices,
)
from shared.settings import Settings
from shared.spec import NetworkSpec
from shared.triggers.health import parse_page
from tests.stack import point_app_at

SITES = 12


def test_slices_keep_a_poll_within_its_read_budget():
    assert poll_slices(1, interval_seconds=60) == 1
    assert poll_slices(300, interval_seconds=60) == 1  # 600 reads a minute, 2 per site
    assert poll_slices(301, interval_seconds=60) == 2
    assert poll_slices(1000, interval_seconds=60) == 4  # each site every 4th minute: 0.5 reads/site/min
    assert poll_slices(1000, interval_seconds=300) == 1  # a 5-minute poll fits 1,500 sites
    for count in (1, 299, 1000, 3000):
        slices = poll_slices(count, interval_seconds=60)
        assert -(-count // slices) * 2 <= POLL_READS_PER_MINUTE


def test_every_site_is_due_exactly_once_per_round_of_slices():
    spec = NetworkSpec.model_validate(yaml.safe_load(Path("examples/seed-network.yaml").read_text()))
    site = spec.sites[0]
    sites = [site.model_copy(update={"name": f"s{i}"}) for i in range(1000)]
    seen: list[str] = []
    for minute in range(4):
        now = datetime(2026, 12, 2, 6, minute, tzinfo=UTC)
        due = due_sites(sites, now=now, interval_seconds=60)
        assert len(due) == 250
        seen += [s.name for s in due]
    assert sorted(seen) == sorted(s.name for s in sites)


def test_page_parameters_are_checked_and_named():
    assert parse_page({}) == Page()
    page = parse_page({"status": "failover,outage", "name": "site-00", "page": "2", "pageSize": "5"})
    assert page == Page(number=2, size=5, statuses=("failover", "outage"), name="site-00")
    for params, named in (
        ({"page": "0"}, "page=0"),
        ({"page": "x"}, "page='x'"),
        ({"pageSize": "501"}, "pageSize=501"),
        ({"status": "sad"}, "status=sad"),
        ({"name": " "}, "name"),
    ):
        with pytest.raises(BadRequest) as caught:
            parse_page(params)
        assert named in str(caught.value)


@pytest.fixture(scope="module")
def many(azurite, tmp_path_factory) -> Iterator[tuple[Settings, SimControl, NetworkSpec]]:
    spec_path = write_scale_sites(tmp_path_factory.mktemp("scale") / "sites.yaml", SITES)
    spec = NetworkSpec.model_validate(yaml.safe_load(spec_path.read_text()))
    with SimulatorThread(spec) as sim, pytest.MonkeyPatch.context() as env:
        point_app_at(
            env,
            sim.info,
            storage=azurite.connection_string,
            spec_path=spec_path,
            HYBRIDNET_HEALTH_CACHE_SECONDS="0",
        )
        control = SimControl(sim.info.control_url)
        settings = Settings.from_env()
        poll_sites(settings)  # baselines
        yield settings, control, spec


def test_the_poll_reads_gateways_from_one_graph_query_and_two_gets_per_site(many):
    settings, control, _spec = many
    control.clear_requests()
    results = poll_due_sites(settings)
    assert len(results) == SITES and {r.outcome for r in results} == {"unchanged"}
    log = control.requests()
    arm = [r for r in log if r["path"].startswith("/subscriptions/")]
    assert [r["method"] for r in arm] == ["GET"] * (2 * SITES)
    assert all("/connections/" in r["path"] for r in arm)
    assert sum(1 for r in log if "resourcegraph" in r["path"].lower()) == 1


def test_pages_and_name_filter(many):
    settings, _control, spec = many
    report, status = health_report(settings, page=Page(number=2, size=5))
    Draft202012Validator(HEALTH_SCHEMA).validate(report)
    assert status == 200
    assert [s["name"] for s in report["sites"]] == [s.name for s in spec.sites[5:10]]
    assert report["page"] | {} == {
        "number": 2,
        "size": 5,
        "pages": 3,
        "totalSites": SITES,
        "matchingSites": SITES,
        "shownSites": 5,
        "status": [],
        "name": None,
    }
    report, _ = health_report(settings, page=Page(name="SITE-001"))
    assert [s["name"] for s in report["sites"]] == ["site-0010", "site-0011"]


def test_status_filter_and_an_outage_on_another_page_is_not_hidden(many):
    settings, control, spec = many
    last = spec.sites[-1]
    circuit = last.express_route.connection.circuit_id.rsplit("/", 1)[-1]
    control.set_circuit(circuit, up=False)
    control.set_appliance(last.on_premises.appliance_ip, up=False)
    try:
        poll_sites(settings, [last])
        report, status = health_report(settings, page=Page(statuses=("outage",)))
        assert [s["name"] for s in report["sites"]] == [last.name]
        assert report["page"]["matchingSites"] == 1 and status == 503
        first_page, status = health_report(settings, page=Page(size=2))
        assert [s["name"] for s in first_page["sites"]] == [s.name for s in spec.sites[:2]]
        assert first_page["status"] == "outage" and status == 503  # the uptime probe still sees it
        assert last.name in first_page["reason"]
    finally:
        control.set_circuit(circuit, up=True)
        control.set_appliance(last.on_premises.appliance_ip, up=True)
        poll_sites(settings, [last])


def test_the_html_page_says_which_sites_it_shows(many):
    from shared.report.html import render_html

    settings, _control, _spec = many
    report, _ = health_report(settings, page=Page(number=2, size=5, name="site-"))
    page = render_html(report)
    assert 'id="pager"' in page
    assert "sites 6 to 10 of 12 matching name containing site- (12 in the spec), page 2 of 3" in page
    single, _ = health_report(settings, site="site-0001")
    assert 'id="pager"' not in render_html(single)


def test_the_http_function_pages_and_filters_json(many):
    import json

    import azure.functions as func

    from shared.triggers.health import health

    def get(**params: str) -> tuple[int, dict]:
        request = func.HttpRequest(method="GET", url="/api/health", params=params, body=b"", headers={})
        response = health(request)
        return response.status_code, json.loads(response.get_body())

    status, report = get(page="3", pageSize="5")
    assert status == 200
    assert [s["name"] for s in report["sites"]] == ["site-0010", "site-0011"]
    assert report["page"]["pages"] == 3 and report["page"]["shownSites"] == 2
    status, report = get(status="healthy,degraded", name="0000")
    assert status == 200 and [s["name"] for s in report["sites"]] == ["site-0000"]
    status, body = get(pageSize="0")
    assert status == 400 and "pageSize=0" in body["error"]["message"]
    status, body = get(limit="5")
    assert status == 400 and "pageSize" in body["error"]["message"]  # the allowed names are listed
