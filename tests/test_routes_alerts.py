"""Alerts that name no site resource still reach the right sites: log search alerts (target: a Log
Analytics workspace) by the resource ids of their dimensions / search results, Service Health alerts
(target: the subscription) by impacted service and region. Microsoft's sample payloads
(tests/fixtures/alerts/SOURCES.md), pointed at the seed site, through the local Functions host."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorThread
from hybridnet_dev.funchost.server import LocalHost
from shared.failover.alerts import AlertError, parse_alert, sites_for_alert
from shared.settings import Settings
from shared.spec import NetworkSpec, Site
from shared.spec_source import current_spec
from tests.failover_support import unique_spec
from tests.helpers import post_json
from tests.stack import CIRCUIT, ROOT, point_app_at, seed_spec

ALERTS = Path(__file__).parent / "fixtures" / "alerts"
SUB = "00000000-0000-0000-0000-000000000000"
SAMPLE_SUB = "11111111-1111-1111-1111-111111111111"


def load(name: str) -> dict[str, Any]:
    return json.loads((ALERTS / name).read_text())


def connection_id(site: Site, name: str, sub: str = SUB) -> str:
    return (
        f"/subscriptions/{sub}/resourcegroups/{site.resource_group}/providers/microsoft.network/connections/{name}"
    ).lower()


def log_v2(site: Site, sub: str = SUB) -> dict[str, Any]:
    """Microsoft's Log alert V2 sample: its target stays a workspace; a dimension names the seed's
    ExpressRoute connection (a query split by _ResourceId, as the docs suggest)."""
    payload = load("log-alert-v2-test-action.json")
    payload["data"]["essentials"]["alertTargetIDs"] = [
        t.replace(SAMPLE_SUB, sub) for t in payload["data"]["essentials"]["alertTargetIDs"]
    ]
    (condition,) = payload["data"]["alertContext"]["condition"]["allOf"]
    condition["dimensions"].append(
        {"name": "_ResourceId", "value": connection_id(site, site.express_route.connection.name, sub)}
    )
    return payload


def log_v1(site: Site) -> dict[str, Any]:
    payload = load("log-alert-v1-number-of-results-test-action.json")
    (table,) = payload["data"]["alertContext"]["SearchResults"]["tables"]
    table["columns"].append({"name": "_ResourceId", "type": "string"})
    table["rows"][0].append(connection_id(site, site.vpn.connection.name))
    return payload


def service_health(service: str, region: str, sub: str = SUB, *, as_string: bool = False) -> dict[str, Any]:
    payload = load("service-health-test-action.json")
    payload["data"]["essentials"]["alertTargetIDs"] = [f"/subscriptions/{sub}"]
    payload["data"]["essentials"]["monitorCondition"] = "Fired"
    impacted = [{"ImpactedRegions": [{"RegionName": region}], "ServiceName": service}]
    props = payload["data"]["alertContext"]["properties"]
    props["impactedServices"] = json.dumps(impacted) if as_string else impacted
    return payload


@pytest.fixture(scope="module")
def spec() -> NetworkSpec:
    return seed_spec()


# --- pure: which sites an alert concerns ----------------------------------------------------------------


def test_microsofts_log_search_samples_as_published_name_no_site(spec):
    for name in ("log-alert-v2-test-action.json", "log-alert-v1-number-of-results-test-action.json"):
        alert = parse_alert(json.dumps(load(name)))
        assert sites_for_alert(alert, spec.sites, SUB)[0] == []


def test_log_search_alert_reaches_the_site_by_its_dimensions(spec):
    site = spec.sites[0]
    alert = parse_alert(json.dumps(log_v2(site)))
    assert alert.mentioned_ids == (connection_id(site, site.express_route.connection.name),)
    found, unknown, how = sites_for_alert(alert, spec.sites, SUB)
    assert ([s.name for s in found], unknown, how) == ([site.name], [], "dimensions")


def test_log_search_alert_reaches_the_site_by_its_search_results(spec):
    site = spec.sites[0]
    found, _, how = sites_for_alert(parse_alert(json.dumps(log_v1(site))), spec.sites, SUB)
    assert ([s.name for s in found], how) == ([site.name], "dimensions")


@pytest.mark.parametrize("as_string", [False, True])  # both published shapes of impactedServices
def test_service_health_for_expressroute_in_the_sites_region_checks_it(spec, as_string):
    alert = parse_alert(json.dumps(service_health("ExpressRoute", "East US", as_string=as_string)))
    assert alert.is_service_health and alert.impacted == (("ExpressRoute", "East US"),)
    found, unknown, how = sites_for_alert(alert, spec.sites, SUB)
    assert ([s.name for s in found], unknown, how) == ([spec.sites[0].name], [], "service-health")
    vpn = parse_alert(json.dumps(service_health("VPN Gateway", "Global")))
    assert [s.name for s in sites_for_alert(vpn, spec.sites, SUB)[0]] == [spec.sites[0].name]


def test_service_health_elsewhere_or_for_other_services_or_subscriptions_checks_nothing(spec):
    as_published = parse_alert(json.dumps(load("service-health-test-action.json")))
    assert sites_for_alert(as_published, spec.sites, SUB)[0] == []
    for payload in (
        service_health("ExpressRoute", "West Europe"),
        service_health("Azure Synapse Analytics", "East US"),
        service_health("ExpressRoute", "East US", sub=SAMPLE_SUB),
    ):
        assert sites_for_alert(parse_alert(json.dumps(payload)), spec.sites, SUB)[0] == []


def test_service_health_alert_context_as_published_parses():
    """The ServiceHealth alertContext sample (impactedServices a JSON string), in a common envelope."""
    payload = service_health("x", "y")
    payload["data"]["alertContext"] = load("service-health-alert-context.json")["alertContext"]
    alert = parse_alert(json.dumps(payload))
    assert alert.impacted == (("Azure Synapse Analytics", "East US"),)
    payload["data"]["alertContext"]["properties"]["impactedServices"] = "[{oops"
    with pytest.raises(AlertError, match="impactedServices is not JSON"):
        parse_alert(json.dumps(payload))


# --- through the app: the alert makes it check the seed site, routes included ---------------------------


@pytest.fixture(scope="module")
def stack(azurite, tmp_path_factory) -> Iterator[tuple[str, str, SimControl, Settings]]:
    spec_path, _ = unique_spec(tmp_path_factory.mktemp("route-alerts"))
    with SimulatorThread(seed_spec()) as sim, pytest.MonkeyPatch.context() as env:
        point_app_at(
            env,
            sim.info,
            storage=azurite.connection_string,
            spec_path=spec_path,
            HYBRIDNET_FAILOVER_ALERT_MIN_SECONDS="0",
            HYBRIDNET_ROUTES_MIN_SECONDS="0",
        )
        with LocalHost("function_app", app_dir=str(ROOT), port=0, enable_timers=False) as host:
            yield (
                host.info.base_url,
                host.info.function_key,
                SimControl(sim.info.control_url),
                Settings.from_env(),
            )


def _route_posts(control: SimControl) -> int:
    return sum(
        1 for r in control.requests() if r["method"] == "POST" and "getlearnedroutes" in r["path"].lower()
    )


def test_log_search_then_service_health_alert_check_the_seed_site_and_its_routes(stack):
    base, key, control, settings = stack
    site = current_spec(settings).sites[0]
    status, answer = post_json(
        f"{base}/api/alerts?code={key}", json.dumps(log_v2(site, settings.subscription_id)).encode()
    )
    assert status == 200, answer
    assert answer["matchedBy"] == "dimensions" and answer["sites"][0]["outcome"] == "baseline"

    # BGP withdrawn over ExpressRoute while its connection stays Connected: only a route check sees it
    control.set_circuit(CIRCUIT, advertise=[])
    before = _route_posts(control)
    status, answer = post_json(
        f"{base}/api/alerts?code={key}", json.dumps(log_v2(site, settings.subscription_id)).encode()
    )
    assert status == 200, answer
    (result,) = answer["sites"]
    assert result["site"] == site.name and result["outcome"] == "recorded"
    assert (
        result["event"]["kind"] == "failover" and result["event"]["evidence"]["cause"] == "routes-withdrawn"
    )
    assert _route_posts(control) == before + 2  # both gateways' learned routes, once each

    control.set_circuit(CIRCUIT, advertise=list(site.on_premises.address_space))
    health = service_health("ExpressRoute", "East US", settings.subscription_id)
    status, answer = post_json(f"{base}/api/alerts?code={key}", json.dumps(health).encode())
    assert status == 200, answer
    assert answer["matchedBy"] == "service-health"
    (result,) = answer["sites"]
    assert (result["site"], result["outcome"], result["event"]["kind"]) == (site.name, "recorded", "failback")


def test_service_health_for_another_service_is_acknowledged_without_a_check(stack):
    base, key, control, settings = stack
    control.clear_requests()
    payload = service_health("Azure Synapse Analytics", "East US", settings.subscription_id)
    status, answer = post_json(f"{base}/api/alerts?code={key}", json.dumps(payload).encode())
    assert status == 200 and answer["sites"] == []
    assert "no site is in a region" in answer["detail"]
    assert [r for r in control.requests() if "/providers/Microsoft.Network/" in r["path"]] == []
