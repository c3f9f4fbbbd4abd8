"""Paths as data: a site's ExpressRoute and VPN may each have several connections (two circuits in two
peering locations, active-active appliances); the seed's single `connection:` stays valid."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from shared.drift.desired import desired_site
from shared.failover.alerts import site_resource_ids
from shared.spec.load import SpecError, dump_spec, parse_data, parse_spec
from tests.stack import SEED_PATH

SUB = "00000000-0000-0000-0000-000000000000"
SECOND_CIRCUIT = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/hybrid-circuit-rg/providers/"
    "Microsoft.Network/expressRouteCircuits/hybrid-er-circuit-2"
)


def seed() -> dict[str, Any]:
    return yaml.safe_load(SEED_PATH.read_text())


def two_of_each() -> dict[str, Any]:
    data = seed()
    site = data["sites"][0]
    er, vpn = site["expressRoute"], site["vpn"]
    second_er = {
        **copy.deepcopy(er["connection"]),
        "name": "hybrid-er-connection-2",
        "circuitId": SECOND_CIRCUIT,
    }
    er["connections"] = [er.pop("connection"), second_er]
    second_vpn = {
        **copy.deepcopy(vpn["connection"]),
        "name": "hybrid-vpn-connection-2",
        "localNetworkGateway": {"name": "hybrid-onprem-lng-2", "gatewayIp": "40.50.60.71"},
    }
    vpn["connections"] = [vpn.pop("connection"), second_vpn]
    return data


def errors_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_data(data, "test.yaml")
    return info.value.errors


def test_the_seed_single_form_is_unchanged_and_round_trips():
    spec = parse_spec(SEED_PATH.read_text())
    site = spec.sites[0]
    assert [c.name for c in site.express_route.connections] == [site.express_route.connection.name]
    assert [c.name for c in site.vpn.connections] == [site.vpn.connection.name]
    text = dump_spec(spec)
    assert "connections:" not in text and parse_spec(text) == spec


def test_lists_of_connections_parse_and_round_trip():
    spec = parse_data(two_of_each())
    site = spec.sites[0]
    assert [c.name for c in site.express_route.connections] == [
        "hybrid-er-connection",
        "hybrid-er-connection-2",
    ]
    assert site.express_route.connection.name == "hybrid-er-connection"  # the first
    assert [g.name for g in site.vpn.local_network_gateways] == ["hybrid-onprem-lng", "hybrid-onprem-lng-2"]
    text = dump_spec(spec)
    assert "connections:" in text and "\n      connection:" not in text
    assert parse_spec(text) == spec


def test_desired_state_and_alert_targets_cover_every_connection():
    site = parse_data(two_of_each()).sites[0]
    names = {r.name for r in desired_site(site, SUB).resources}
    assert {"hybrid-er-connection-2", "hybrid-vpn-connection-2", "hybrid-onprem-lng-2"} <= names
    second = next(r for r in desired_site(site, SUB).resources if r.name == "hybrid-onprem-lng-2")
    assert second.body["properties"]["gatewayIpAddress"] == "40.50.60.71"
    vpn2 = next(r for r in desired_site(site, SUB).resources if r.name == "hybrid-vpn-connection-2")
    assert vpn2.body["properties"]["localNetworkGateway2"]["id"].endswith(
        "/localNetworkGateways/hybrid-onprem-lng-2"
    )
    ids = {i.lower() for i in site_resource_ids(site, SUB)}
    assert SECOND_CIRCUIT.lower() in ids
    assert any(i.endswith("/connections/hybrid-vpn-connection-2") for i in ids)
    assert any(i.endswith("/localnetworkgateways/hybrid-onprem-lng-2") for i in ids)


def test_both_forms_or_neither_is_an_error_naming_the_path():
    data = seed()
    er = data["sites"][0]["expressRoute"]
    er["connections"] = [er["connection"]]
    assert errors_of(data) == [
        "sites[0].expressRoute: give either 'connection' (one) or 'connections' (a list of at least one)"
    ]
    data = seed()
    del data["sites"][0]["vpn"]["connection"]
    assert errors_of(data) == [
        "sites[0].vpn: give either 'connection' (one) or 'connections' (a list of at least one)"
    ]
    data["sites"][0]["vpn"]["connections"] = []
    assert errors_of(data) == ["sites[0].vpn: 'connections' must contain at least 1 item"]


def test_errors_in_a_list_name_its_index():
    data = two_of_each()
    data["sites"][0]["vpn"]["connections"][1]["routngWeight"] = 5
    assert errors_of(data) == [
        "sites[0].vpn.connections[1].routngWeight: unknown key (did you mean 'routingWeight'?)"
    ]
    data = two_of_each()
    data["sites"][0]["expressRoute"]["connections"][1]["name"] = "hybrid-er-connection"
    (error,) = errors_of(data)
    assert error.startswith(
        "sites[0].expressRoute.connections[1].name: connection name 'hybrid-er-connection'"
    )


def test_rotation_of_several_vpn_connections_is_refused():
    data = two_of_each()
    data["sites"][0]["rotation"] = {"enabled": True}
    assert any("rotation.enabled: key rotation handles one VPN connection" in e for e in errors_of(data))
