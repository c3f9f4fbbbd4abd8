"""The deployment's view of the sites, derived from the spec: the document `infra/sites.json` holds and
`infra/main.bicep` loads with `loadJsonContent`. Pure: spec in, plain JSON-ready data out.

The spec (`network.yaml`) is the only place sites are declared. `hybridnet infra-sites network.yaml`
writes this document; `--check` (run by the azd preprovision hook) fails, naming the difference, when the
file on disk no longer matches the spec.
"""

from __future__ import annotations

import json
from typing import Any

from shared.spec import NetworkSpec, Site

GENERATED_BY = (
    "Generated from the spec by `hybridnet infra-sites <spec>`: do not edit. infra/main.bicep loads it; "
    "the azd preprovision hook refuses to deploy when it disagrees with the spec."
)


def site_parameter(site: Site) -> dict[str, Any]:
    """What the templates need to know about one site (names only: the app manages the resources)."""
    er, vpn = site.express_route, site.vpn
    return {
        "name": site.name,
        "resourceGroup": site.resource_group,
        "vnet": {
            "name": site.vnet.name,
            "addressSpace": list(site.vnet.address_space),
            "gatewaySubnet": site.vnet.gateway_subnet,
        },
        "onPremises": {
            "addressSpace": list(site.on_premises.address_space),
            "applianceIp": site.on_premises.appliance_ip,
        },
        "expressRoute": {
            "gatewayName": er.gateway.name,
            "connectionName": er.connection.name,
            "circuitId": er.connection.circuit_id,
        },
        "vpn": {
            "gatewayName": vpn.gateway.name,
            "connectionName": vpn.connection.name,
            "localNetworkGatewayName": vpn.local_network_gateway.name,
        },
    }


def circuit_parameter(circuit_id: str) -> dict[str, str]:
    """`/subscriptions/S/resourceGroups/G/providers/Microsoft.Network/expressRouteCircuits/N` -> its parts
    (the spec's rules already checked the form)."""
    parts = circuit_id.strip().strip("/").split("/")
    return {
        "id": circuit_id.strip(),
        "subscriptionId": parts[1],
        "resourceGroup": parts[3],
        "name": parts[-1],
    }


def _unique(values: list[str]) -> list[str]:
    """First spelling of each value, compared case-insensitively (ARM names and ids are)."""
    seen: dict[str, str] = {}
    for value in values:
        seen.setdefault(value.lower(), value)
    return list(seen.values())


def sites_document(spec: NetworkSpec) -> dict[str, Any]:
    """The whole `infra/sites.json`: the sites, and each resource group and circuit once."""
    circuit_ids = _unique([s.express_route.connection.circuit_id.strip() for s in spec.sites])
    return {
        "$comment": GENERATED_BY,
        "sites": [site_parameter(site) for site in spec.sites],
        "resourceGroups": _unique([s.resource_group for s in spec.sites]),
        "circuits": [circuit_parameter(c) for c in circuit_ids],
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def differences(expected: dict[str, Any], actual: object) -> list[str]:
    """Human-readable differences between the document the spec gives and the one on disk."""
    if not isinstance(actual, dict):
        return ["the file does not hold a JSON object"]
    problems: list[str] = []
    want = {s["name"]: s for s in expected["sites"]}
    have_list = actual.get("sites")
    if not isinstance(have_list, list):
        return ["the file has no 'sites' list"]
    have = {s.get("name"): s for s in have_list if isinstance(s, dict)}
    for name in want.keys() - have.keys():
        problems.append(
            f"site {name!r} is in the spec but not in the file (it would get no role and no events)"
        )
    for name in have.keys() - want.keys():
        problems.append(f"site {name!r} is in the file but not in the spec")
    for name in sorted(want.keys() & have.keys(), key=str):
        for key in want[name]:
            if want[name][key] != have[name].get(key):
                problems.append(
                    f"site {name!r}: {key} is {have[name].get(key)!r} in the file, {want[name][key]!r} in the spec"
                )
    for key in ("resourceGroups", "circuits"):
        if expected[key] != actual.get(key):
            problems.append(f"{key} is {actual.get(key)!r} in the file, {expected[key]!r} from the spec")
    if not problems and [s["name"] for s in expected["sites"]] != [
        s.get("name") for s in have_list if isinstance(s, dict)
    ]:
        problems.append("the sites are in another order than in the spec")
    return problems
