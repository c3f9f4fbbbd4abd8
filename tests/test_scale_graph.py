"""Resource Graph: the simulator's endpoint (query subset, paging, lag, per-user quota) through the real
azure-mgmt-resourcegraph SDK, and the drift pass that observes from it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from bench.scale_sites import write_scale_sites
from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorThread
from shared.azure.arm import network_client
from shared.azure.network_state import observe_site, observe_sites_graph
from shared.azure.resource_graph import graph_client, network_query, query_rows
from shared.drift.plan import Mode
from shared.services.reconciler import reconcile_shard
from shared.settings import Settings
from shared.spec import NetworkSpec
from tests.stack import RG_ID, SUB, point_app_at, seed_spec

LNG = f"{RG_ID}/localNetworkGateways/hybrid-onprem-lng"


def graph_settings(control: SimControl, **values: float) -> dict:
    return control._call("PUT", "/_sim/resourcegraph", values)


def arm_requests(control: SimControl) -> list[dict]:
    return [r for r in control.requests() if r["path"].startswith("/subscriptions/")]


def graph_requests(control: SimControl) -> list[dict]:
    return [
        r for r in control.requests() if r["path"].lower() == "/providers/microsoft.resourcegraph/resources"
    ]


@pytest.fixture
def seeded(azurite) -> Iterator[tuple[Settings, SimControl]]:
    with SimulatorThread(seed_spec()) as sim, pytest.MonkeyPatch.context() as env:
        point_app_at(env, sim.info, storage=azurite.connection_string, HYBRIDNET_DRIFT_MODE="enforce")
        control = SimControl(sim.info.control_url)
        graph_settings(control, lagSeconds=0.5 / graph_settings(control)["timeScale"])  # 0.5 s real
        control.clear_requests()
        yield Settings.from_env(), control


def test_graph_rows_match_what_arm_lists_for_the_seed(seeded):
    settings, _control = seeded
    site = seed_spec().sites[0]
    from_graph = observe_sites_graph(graph_client(settings), subscription=SUB, sites=[site])[site.name]
    from_arm = observe_site(network_client(settings), site)
    assert from_graph is not None
    assert set(from_graph.resources) == set(from_arm.resources)
    for key, resource in from_arm.resources.items():
        assert from_graph.resources[key].kind is resource.kind
        assert from_graph.resources[key].etag is None  # Graph carries no ETag
    # no shared key, no live status in any Graph row
    rows = query_rows(graph_client(settings), subscription=SUB, query=network_query([site.resource_group]))
    assert rows and all("sharedKey" not in (r["properties"] or {}) for r in rows)
    assert all("connectionStatus" not in (r["properties"] or {}) for r in rows)


def test_graph_lags_arm_by_the_configured_time(seeded):
    """`lagSeconds` is Azure's lag: the simulator's time scale applies to it, as to every duration."""
    settings, control = seeded
    scale = graph_settings(control)["timeScale"]
    assert graph_settings(control, lagSeconds=1.5 / scale)["effectiveLagSeconds"] == pytest.approx(1.5)
    control.patch_resource(LNG, {"localNetworkAddressSpace": {"addressPrefixes": ["10.10.1.0/24"]}})
    query = network_query(["hybrid-network-rg"], types=["microsoft.network/localnetworkgateways"])

    def prefixes() -> list[str]:
        rows = query_rows(graph_client(settings), subscription=SUB, query=query)
        return rows[0]["properties"]["localNetworkAddressSpace"]["addressPrefixes"]

    changed = time.monotonic()
    assert prefixes() == ["10.10.0.0/16"]  # ARM has the change, Graph not yet
    while prefixes() != ["10.10.1.0/24"]:
        assert time.monotonic() - changed < 10
        time.sleep(0.1)
    assert time.monotonic() - changed >= 1.4


def test_unsupported_query_is_a_400_naming_the_subset(seeded):
    settings, _control = seeded
    from azure.core.exceptions import HttpResponseError

    client = graph_client(settings)
    from azure.mgmt.resourcegraph.models import QueryRequest

    with pytest.raises(HttpResponseError) as caught:
        client.resources(QueryRequest(subscriptions=[SUB], query="resources | summarize count()"))
    assert caught.value.status_code == 400
    assert "resources | where type in~" in str(caught.value)


def test_paging_follows_skip_tokens_over_1000_rows(azurite, tmp_path: Path):
    spec_path = write_scale_sites(tmp_path / "sites.yaml", 160)  # 160 sites x 7 rows = 1,120 rows
    spec = NetworkSpec.model_validate(yaml.safe_load(spec_path.read_text()))
    with SimulatorThread(spec) as sim, pytest.MonkeyPatch.context() as env:
        point_app_at(env, sim.info, storage=azurite.connection_string, spec_path=spec_path)
        control = SimControl(sim.info.control_url)
        control.clear_requests()
        settings = Settings.from_env()
        observed = observe_sites_graph(graph_client(settings), subscription=SUB, sites=list(spec.sites))
        assert len(observed) == 160 and all(o is not None for o in observed.values())
        assert len(graph_requests(control)) == 2  # 1,000 rows, then the rest after $skipToken
        assert arm_requests(control) == []
        assert all(len(o.resources) == 9 for o in observed.values() if o)  # 7 resources + 2 subnets


def test_quota_headers_and_429_and_the_adapter_waits_instead(seeded):
    settings, control = seeded
    graph_settings(control, quota=2, windowSeconds=2)
    info = control.info()
    token = requests.get(
        info["identityEndpoint"],
        params={"api-version": "2019-08-01", "resource": "https://management.azure.com"},
        headers={"X-IDENTITY-HEADER": info["identityHeader"]},
        timeout=10,
    ).json()["access_token"]
    url = f"{info['armUrl']}/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01"
    body = {"subscriptions": [SUB], "query": network_query(["hybrid-network-rg"])}
    headers = {"Authorization": f"Bearer {token}"}
    answers = [
        requests.post(url, json=body, headers=headers, verify=info["caFile"], timeout=10) for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["x-ms-user-quota-remaining"] == "1"
    assert answers[1].headers["x-ms-user-quota-remaining"] == "0"
    assert answers[2].headers["x-ms-user-quota-resets-after"].startswith("00:00:0")
    assert int(answers[2].headers["Retry-After"]) >= 1

    # The app's client reads the same headers: it waits for the window instead of drawing 429s.
    time.sleep(2.1)
    before = control._call("GET", "/_sim/resourcegraph")["throttled"]
    client = graph_client(settings)
    started = time.monotonic()
    for _ in range(5):
        assert query_rows(client, subscription=SUB, query=network_query(["hybrid-network-rg"]))
    assert control._call("GET", "/_sim/resourcegraph")["throttled"] == before
    assert time.monotonic() - started >= 3.5  # five queries at two per 2 s: two windows waited


def test_shard_steady_state_is_one_graph_query_and_no_arm_read(seeded):
    settings, control = seeded
    outcomes = reconcile_shard(settings, ["seed"], trigger="timer")
    assert outcomes["seed"].outcome == "in-sync"
    assert arm_requests(control) == []
    assert len(graph_requests(control)) == 1


def test_shard_fixes_drift_reading_arm_under_the_lease(seeded):
    settings, control = seeded
    control.patch_resource(LNG, {"localNetworkAddressSpace": {"addressPrefixes": ["10.10.1.0/24"]}})
    time.sleep(0.6)  # Graph's lag (0.5 s here)
    control.clear_requests()
    outcome = reconcile_shard(settings, ["seed"], trigger="timer")["seed"]
    assert outcome.outcome == "fixed", outcome.to_json()
    writes = [r for r in arm_requests(control) if r["method"] == "PUT"]
    assert [w["path"].rsplit("/", 1)[-1] for w in writes] == ["hybrid-onprem-lng"]
    # under the lease the pass read ARM (ETag for If-Match), not Graph's stale copy
    assert any(r["method"] == "GET" for r in arm_requests(control))
    assert Mode(settings.drift_mode) is Mode.ENFORCE


def test_shard_names_a_site_that_left_the_spec(seeded):
    settings, _control = seeded
    outcomes = reconcile_shard(settings, ["seed", "gone"], trigger="timer")
    assert outcomes["gone"] == "site gone is not in the spec"
    assert outcomes["seed"].outcome == "in-sync"
