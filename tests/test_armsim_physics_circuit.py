"""The ExpressRoute circuit's private peering and what it exposes (route tables, ARP tables, stats),
through the real SDK, checked against Microsoft's examples (tests/fixtures) and the SDK's models."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.network import NetworkManagementClient, models

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorThread
from tests.physics_support import (
    CIRCUIT,
    CIRCUIT_RG,
    ONPREM,
    PEERING,
    client,
    ctl,
    sim,
)

__all__ = ["client", "ctl", "sim"]  # fixtures

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def example(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())["responses"]["200"]["body"]


def keys(body: Any, prefix: str = "") -> dict[str, type]:
    """JSON path -> JSON type of every leaf and object key."""
    out: dict[str, type] = {}
    if isinstance(body, dict):
        for k, v in body.items():
            out[prefix + k] = type(v)
            out |= keys(v, f"{prefix}{k}.")
    elif isinstance(body, list) and body:
        out |= keys(body[0], prefix.rstrip(".") + "[].")
    return out


@pytest.fixture(autouse=True)
def restore(ctl: SimControl) -> Iterator[None]:
    yield
    ctl.set_circuit(CIRCUIT, True, bgp={"primary": "up", "secondary": "up"}, advertise=[ONPREM])


def test_private_peering_get_and_list(client: NetworkManagementClient) -> None:
    peering = client.express_route_circuit_peerings.get(CIRCUIT_RG, CIRCUIT, PEERING)
    assert (peering.name, peering.peering_type, peering.azure_asn, peering.peer_asn) == (
        PEERING,
        "AzurePrivatePeering",
        12076,
        65020,
    )
    assert (peering.primary_peer_address_prefix, peering.secondary_peer_address_prefix) == (
        "192.168.15.16/30",
        "192.168.15.20/30",
    )
    assert [p.name for p in client.express_route_circuit_peerings.list(CIRCUIT_RG, CIRCUIT)] == [PEERING]
    circuit = client.express_route_circuits.get(CIRCUIT_RG, CIRCUIT)
    assert [p.name for p in circuit.peerings] == [PEERING]
    assert circuit.service_provider_properties.peering_location == "Silicon Valley"
    with pytest.raises(ResourceNotFoundError):
        client.express_route_circuit_peerings.get(CIRCUIT_RG, CIRCUIT, "MicrosoftPeering")


def test_peering_belongs_to_the_provider(client: NetworkManagementClient) -> None:
    body = models.ExpressRouteCircuitPeering(
        properties=models.ExpressRouteCircuitPeeringPropertiesFormat(peer_asn=1, vlan_id=9)
    )
    with pytest.raises(HttpResponseError) as err:
        client.express_route_circuit_peerings.begin_create_or_update(
            CIRCUIT_RG, CIRCUIT, PEERING, body
        ).result()
    assert err.value.status_code == 409


def test_route_tables_per_session(client: NetworkManagementClient, ctl: SimControl) -> None:
    circuits = client.express_route_circuits
    primary = circuits.begin_list_routes_table(CIRCUIT_RG, CIRCUIT, PEERING, "primary").result().value
    rows = {(r.network, r.next_hop, r.path) for r in primary}
    assert (ONPREM, "192.168.15.17", "65020") in rows  # from the customer edge of the primary /30
    assert ("10.20.0.0/16", "10.20.255.253", "65515") in rows  # the VNet, from the ER gateway
    secondary = circuits.begin_list_routes_table(CIRCUIT_RG, CIRCUIT, PEERING, "secondary").result().value
    assert (ONPREM, "192.168.15.21", "65020") in {(r.network, r.next_hop, r.path) for r in secondary}
    for row in primary:  # every key is a field of the SDK model (no populated example is published)
        rest = {f._rest_name for f in type(row)._attr_to_rest_field.values()}
        assert set(row.as_dict()) <= rest

    ctl.set_circuit_bgp(CIRCUIT, primary="down")
    assert circuits.begin_list_routes_table(CIRCUIT_RG, CIRCUIT, PEERING, "primary").result().value == []
    (summary,) = (
        circuits.begin_list_routes_table_summary(CIRCUIT_RG, CIRCUIT, PEERING, "primary").result().value
    )
    assert (summary.neighbor, summary.as_property, summary.state_pfx_rcd) == ("192.168.15.17", 65020, "Idle")
    (summary,) = (
        circuits.begin_list_routes_table_summary(CIRCUIT_RG, CIRCUIT, PEERING, "secondary").result().value
    )
    assert summary.state_pfx_rcd == "1"

    with pytest.raises(HttpResponseError) as err:
        circuits.begin_list_routes_table(CIRCUIT_RG, CIRCUIT, PEERING, "tertiary").result()
    assert err.value.status_code == 400 and "tertiary" in str(err.value.message)


def test_arp_table_shows_on_premises_only_while_the_link_is_up(
    client: NetworkManagementClient, ctl: SimControl, sim: SimulatorThread
) -> None:
    circuits = client.express_route_circuits
    rows = circuits.begin_list_arp_table(CIRCUIT_RG, CIRCUIT, PEERING, "primary").result().value
    assert {(r.interface, r.ip_address) for r in rows} == {
        ("Microsoft", "192.168.15.18"),
        ("On-Prem", "192.168.15.17"),
    }
    ctl.set_circuit_bgp(CIRCUIT, primary="down", secondary="down")  # BGP is above ARP
    rows = circuits.begin_list_arp_table(CIRCUIT_RG, CIRCUIT, PEERING, "primary").result().value
    assert len(rows) == 2
    ctl.set_circuit(CIRCUIT, False)
    rows = circuits.begin_list_arp_table(CIRCUIT_RG, CIRCUIT, PEERING, "primary").result().value
    assert [r.interface for r in rows] == ["Microsoft"]
    # Same keys and JSON types as Microsoft's example.
    real = keys(example("ExpressRouteCircuitARPTableList.json"))
    ours = keys({"value": [r.as_dict() for r in rows]})
    assert {k.replace("ip_address", "ipAddress").replace("mac_address", "macAddress") for k in ours} == set(
        real
    )


def test_stats_follow_the_traffic_over_each_session(client: NetworkManagementClient, ctl: SimControl) -> None:
    circuits = client.express_route_circuits
    first = circuits.get_peering_stats(CIRCUIT_RG, CIRCUIT, PEERING)
    time.sleep(0.3)
    second = circuits.get_peering_stats(CIRCUIT_RG, CIRCUIT, PEERING)
    assert (
        second.primarybytes_in > first.primarybytes_in and second.secondarybytes_in > first.secondarybytes_in
    )
    ctl.set_circuit_bgp(CIRCUIT, primary="down")
    before = circuits.get_peering_stats(CIRCUIT_RG, CIRCUIT, PEERING)
    time.sleep(0.3)
    after = circuits.get_peering_stats(CIRCUIT_RG, CIRCUIT, PEERING)
    assert after.primarybytes_in == before.primarybytes_in  # the session carries nothing
    assert after.secondarybytes_in - before.secondarybytes_in > 20_000  # it carries the whole load
    total = circuits.get_stats(CIRCUIT_RG, CIRCUIT)
    assert total.secondarybytes_out >= after.secondarybytes_out


def test_stats_wire_shape_matches_the_example(sim: SimulatorThread, client: NetworkManagementClient) -> None:
    info = sim.info
    token = client._config.credential.get_token("https://management.azure.com/.default").token
    url = (
        f"{info.arm_url}/subscriptions/{info.subscription_id}/resourceGroups/{CIRCUIT_RG}/providers/"
        f"Microsoft.Network/expressRouteCircuits/{CIRCUIT}/peerings/{PEERING}/stats"
    )
    body = requests.get(
        url,
        params={"api-version": "2024-05-01"},
        headers={"Authorization": f"Bearer {token}"},
        verify=info.ca_file,
        timeout=5,
    ).json()
    assert keys(body) == keys(example("ExpressRouteCircuitPeeringStats.json"))
