"""Fidelity by numbers: for every resource type the app reads, the share of a real Microsoft example's
key paths that the simulator's answer carries with the same JSON type.

A key path is a dotted path to any key of the example's body, ``[]`` standing for the elements of a list
(``properties.subnets[].properties.addressPrefix``); its JSON type is object/array/string/number/bool.
Two measurements per type, each for the GET and for the item of a list by resource group:

* **fed**: the example's own configuration (its body, put out of band through the control API, as a
  person would create it in the portal) read back through ARM: what the simulator computes and echoes
  for the same configuration as Azure. Asserted >= 90 % for every type.
* **seeded**: the seed network's resource of that type read through ARM, against the same example,
  leaving out the example's feature subtrees the seed does not configure (``UNUSED``: NAT rules,
  point-to-site, certificate authentication...). Asserted >= 90 % too.

The examples (tests/fixtures/, sources in tests/fixtures/SOURCES.md) include the Microsoft.Network
2025-05-01 gateway and connection examples, which the simulator was not built from. Run with ``-s`` to
see the per-type table (the README quotes it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorThread
from tests.stack import put_fidelity_nsg, seed_spec, simulator

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
RG = "hybrid-network-rg"
FED_RG = "fidelity-fed-rg"
API = "2025-05-01"
THRESHOLD = 0.90


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string"}.get(type(value), type(value).__name__)


def key_paths(value: Any, prefix: str = "") -> dict[str, str]:
    """Every key path of ``value`` with its JSON type (list elements merged under ``[]``)."""
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            out[path] = json_type(item)
            out.update(key_paths(item, path))
    elif isinstance(value, list):
        for item in value:
            for path, kind in key_paths(item, prefix + "[]").items():
                out.setdefault(path, kind)
    return out


def coverage(sim: Any, real: Any, unused: tuple[str, ...] = ()) -> tuple[float, list[str]]:
    """Share of ``real``'s key paths (outside ``unused`` subtrees) present in ``sim`` with the same type."""
    wanted = {p: t for p, t in key_paths(real).items() if not p.startswith(unused)}
    have = key_paths(sim)
    missing = sorted(p for p, t in wanted.items() if have.get(p) != t)
    return (1 - len(missing) / len(wanted)) if wanted else 1.0, missing


def example(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())["responses"]["200"]["body"]


@dataclass(frozen=True)
class Case:
    label: str
    fixture: str
    seeded: str  # "<type>/<name>" in the seed's resource group (or a full id)
    unused: tuple[str, ...] = ()  # example subtrees the seed's configuration does not use
    # Back-references to resources of the example's world the simulator does not hold (its VMs' NICs):
    # Azure computes them from those resources, so the fed copy cannot show them.
    fed_unused: tuple[str, ...] = ()

    @property
    def rtype(self) -> str:
        return self.seeded.split("/providers/Microsoft.Network/")[-1].split("/")[0]


VPN_ONLY = (
    "properties.vpnType",
    "properties.natRules",
    "properties.enableBgpRouteTranslationForNat",
    "properties.vpnClientConfiguration",
    "properties.customRoutes",
    "properties.bgpSettings.bgpPeeringAddresses[].customBgpIpAddresses",
    "properties.bgpSettings.bgpPeeringAddresses[].tunnelIpAddresses",
)
GATEWAY_UNUSED = (
    "identity",  # a managed identity on the gateway (certificate authentication)
    "properties.natRules",
    "properties.vpnClientConfiguration",  # point-to-site
    "properties.customRoutes",
    "properties.bgpSettings.bgpPeeringAddresses[].customBgpIpAddresses",  # APIPA addresses
    "properties.virtualNetworkGatewayMigrationStatus",  # Basic-IP migration only
)
CONNECTION_UNUSED = (
    "properties.ingressNatRules[]",
    "properties.egressNatRules[]",
    "properties.gatewayCustomBgpIpAddresses[]",
    "properties.certificateAuthentication",  # the seed authenticates with a pre-shared key
    "properties.tunnelProperties",
)
IPSEC_ONLY = (
    "properties.localNetworkGateway2",
    "properties.connectionProtocol",
    "properties.dpdTimeoutSeconds",
    "properties.useLocalAzureIpAddress",
    "properties.connectionMode",
    "properties.authenticationType",
)

CASES = [
    Case(
        "VNet",
        "VirtualNetworkGet.json",
        "virtualNetworks/hybrid-vnet",
        fed_unused=("properties.subnets[].properties.ipConfigurations",),
    ),
    Case("subnet", "SubnetGet.json", "virtualNetworks/hybrid-vnet/subnets/web-tier"),
    Case(
        "public IP",
        "PublicIpAddressGet.json",
        "publicIPAddresses/hybrid-vpn-gw-pip",
        ("properties.ddosSettings.ddosProtectionPlan", "properties.ipTags[]"),
        fed_unused=("properties.ipConfiguration",),
    ),
    Case(
        "VPN gateway",
        "2025-05-01/VirtualNetworkGatewayGet.json",
        "virtualNetworkGateways/hybrid-vpn-gw",
        GATEWAY_UNUSED,
    ),
    Case(
        "ER gateway",
        "2025-05-01/VirtualNetworkGatewayGet.json",
        "virtualNetworkGateways/hybrid-er-gw",
        GATEWAY_UNUSED + VPN_ONLY,
    ),
    Case("local network gateway", "LocalNetworkGatewayGet.json", "localNetworkGateways/hybrid-onprem-lng"),
    Case(
        "VPN connection",
        "2025-05-01/VirtualNetworkGatewayConnectionGet.json",
        "connections/hybrid-vpn-connection",
        CONNECTION_UNUSED,
    ),
    Case(
        "ER connection",
        "2025-05-01/VirtualNetworkGatewayConnectionGet.json",
        "connections/hybrid-er-connection",
        CONNECTION_UNUSED + IPSEC_ONLY,
    ),
    Case(
        "load balancer",
        "LoadBalancerGet.json",
        "loadBalancers/hybrid-web-ilb",
        # The seed's ILB has a frontend only: no pools, rules, probes, NAT rules (nor back-references).
        (
            "properties.backendAddressPools[]",
            "properties.loadBalancingRules[]",
            "properties.probes[]",
            "properties.inboundNatRules[]",
            "properties.frontendIPConfigurations[].properties.loadBalancingRules",
            "properties.frontendIPConfigurations[].properties.inboundNatRules",
        ),
    ),
    Case("NSG", "NetworkSecurityGroupGet.json", "networkSecurityGroups/fidelity-nsg"),
    Case(
        "ER circuit",
        "ExpressRouteCircuitGet.json",
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/hybrid-circuit-rg"
        "/providers/Microsoft.Network/expressRouteCircuits/hybrid-er-circuit",
    ),
]
RESULTS: dict[str, dict[str, float]] = {}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    with simulator(seed_spec()) as running:
        put_fidelity_nsg(SimControl(running.info.control_url), running.info.subscription_id)
        yield running
    print("\nkey paths of the real examples the simulator answers with (same JSON type):")
    columns = ("fed GET", "fed list", "seed GET", "seed list", "seed GET, all paths")
    print(f"{'type':22}" + "".join(f"{c:>21}" for c in columns))
    for label, row in RESULTS.items():
        print(f"{label:22}" + "".join(f"{row.get(c, float('nan')):>21.0%}" for c in columns))


def _get(sim: SimulatorThread, path: str) -> Any:
    info = sim.info
    # The operator (Owner) reads: the examples' resource groups are outside the app's role.
    token = SimControl(info.control_url).operator_token()["access_token"]
    resp = requests.get(
        info.arm_url + path,
        params={"api-version": API},
        headers={"Authorization": f"Bearer {token}"},
        verify=info.ca_file,
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def _full(sim: SimulatorThread, path: str, rg: str = RG) -> str:
    if path.startswith("/"):
        return path
    return f"/subscriptions/{sim.info.subscription_id}/resourceGroups/{rg}/providers/Microsoft.Network/{path}"


def _list_item(sim: SimulatorThread, resource_path: str) -> Any:
    """The item for ``resource_path`` in the list of its collection (subnets: the VNet's subnet list)."""
    collection = resource_path.rsplit("/", 1)[0]
    items = []
    url: str | None = collection
    while url:
        page = _get(sim, url)
        items += page["value"]
        nxt = page.get("nextLink")
        url = nxt.split(sim.info.arm_url, 1)[1].split("?")[0] if nxt else None
    found = [i for i in items if i["id"].lower() == resource_path.lower()]
    assert found, f"{resource_path} is not in the list of {collection}"
    return found[0]


def _feed(sim: SimulatorThread, case: Case, real: Any) -> str:
    """Put the example's own configuration into the simulator (out of band, under the example's name,
    its ids moved into this subscription and a resource group of its own); its ARM path."""
    prefix = f"/subscriptions/{sim.info.subscription_id}/resourceGroups/{FED_RG}"
    text = json.dumps(real).replace("/subscriptions/subid/resourceGroups/rg1", prefix)
    body = json.loads(text.replace("/subscriptions/subid/", f"/subscriptions/{sim.info.subscription_id}/"))
    ctl = SimControl(sim.info.control_url)
    if case.rtype == "virtualNetworks" and "/subnets/" in case.seeded:
        vnet = body["id"].split("/subnets/")[0]
        ctl.put_resource(
            vnet, {"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}
        )
    path = body["id"]
    ctl.put_resource(path, body)
    return str(path)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label.replace(" ", "-"))
def test_key_paths_of_real_examples(sim: SimulatorThread, case: Case) -> None:
    real = example(case.fixture)
    fed_path = _feed(sim, case, real)
    seeded_path = _full(sim, case.seeded)
    rows = {
        "fed GET": coverage(_get(sim, fed_path), real, case.fed_unused),
        "fed list": coverage(_list_item(sim, fed_path), real, case.fed_unused),
        "seed GET": coverage(_get(sim, seeded_path), real, case.unused),
        "seed list": coverage(_list_item(sim, seeded_path), real, case.unused),
    }
    if case.rtype == "connections":
        # A list omits connectionStatus (design notes): the list item is measured without it.
        for key in ("fed list", "seed list"):
            body = _list_item(sim, fed_path if key.startswith("fed") else seeded_path)
            unused = case.unused if key.startswith("seed") else case.fed_unused
            rows[key] = coverage(body, real, (*unused, "properties.connectionStatus"))
    RESULTS[case.label] = {k: v[0] for k, v in rows.items()}
    # For the record only: the seed against every path of the example, features it does not use included.
    RESULTS[case.label]["seed GET, all paths"] = coverage(_get(sim, seeded_path), real)[0]
    low = {k: (f"{v[0]:.0%}", v[1]) for k, v in rows.items() if v[0] < THRESHOLD}
    assert not low, f"{case.label}: below {THRESHOLD:.0%} (missing paths): {low}"


def test_coverage_counts_type_mismatches() -> None:
    """The measure itself: a path present with another JSON type does not count."""
    real = {"properties": {"sku": {"capacity": 2}, "tags": []}}
    assert coverage({"properties": {"sku": {"capacity": "2"}, "tags": []}}, real)[1] == [
        "properties.sku.capacity"
    ]
    assert coverage(real, real) == (1.0, [])


def test_connection_put_answer_matches_the_create_example(sim: SimulatorThread) -> None:
    """A connection PUT answers like Microsoft's CreateOrUpdate example (201): Updating, byte counters,
    no connectionStatus; measured the same way as the GETs."""
    real = json.loads((FIXTURES / "2025-05-01/VirtualNetworkGatewayConnectionCreate.json").read_text())
    real = real["responses"]["201"]["body"]
    body = _get(sim, _full(sim, "connections/hybrid-vpn-connection"))
    for key in ("id", "name", "etag", "type"):
        body.pop(key)
    body["properties"] = {
        k: v for k, v in body["properties"].items() if k not in ("connectionStatus", "provisioningState")
    }
    body["properties"]["sharedKey"] = "FidelityKey123"
    token = SimControl(sim.info.control_url).operator_token()["access_token"]
    resp = requests.put(
        sim.info.arm_url + _full(sim, "connections/fidelity-created-connection"),
        params={"api-version": API},
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        verify=sim.info.ca_file,
        timeout=10,
    )
    assert resp.status_code == 201, resp.text
    answer = resp.json()
    assert "connectionStatus" not in real["properties"] and "connectionStatus" not in answer["properties"]
    assert "sharedKey" not in answer["properties"]
    share, missing = coverage(answer, real, CONNECTION_UNUSED)
    RESULTS["VPN connection PUT (201)"] = {"seed GET": share}
    assert share >= THRESHOLD, missing
