"""Loading the desired-state spec: YAML parsing, structural errors, files, and the SpecError contract."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.spec import NetworkSpec, SpecError, dump_spec, load_spec_file, parse_spec
from shared.spec.load import format_path
from tests.seed_data import SEED_SITE

REPO = Path(__file__).resolve().parents[1]
SPECS = Path(__file__).resolve().parent / "specs"


def seed() -> dict[str, Any]:
    """A fresh, mutable copy of the seed spec as YAML data."""
    return {"sites": [copy.deepcopy(SEED_SITE)]}


def errors_of(data: Any) -> list[str]:
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    with pytest.raises(SpecError) as info:
        parse_spec(text, "test.yaml")
    return info.value.errors


# ---------------------------------------------------------------------------------------------- valid


def test_seed_example_file_is_valid_and_matches_the_seed() -> None:
    spec = load_spec_file(REPO / "examples" / "seed-network.yaml")
    assert spec == parse_spec(yaml.safe_dump(seed()))
    site = spec.site("seed")
    assert site.vnet.address_space == ["10.20.0.0/16"]
    assert site.vnet.gateway_subnet == "10.20.255.224/27"
    assert site.on_premises.appliance_ip == "40.50.60.70"
    assert site.lng_prefixes == ["10.10.0.0/16"]
    assert site.er_prefixes == ["10.10.0.0/16"]


def test_seed_round_trips_through_dump_spec() -> None:
    spec = parse_spec(yaml.safe_dump(seed()))
    text = dump_spec(spec)
    assert "gatewaySubnet: 10.20.255.224/27" in text
    assert "gateway_subnet" not in text
    assert parse_spec(text) == spec
    assert isinstance(spec, NetworkSpec)


def test_two_sites_sharing_on_premises_is_valid() -> None:
    spec = load_spec_file(SPECS / "two-sites-shared-onprem.yaml")
    assert [s.name for s in spec.sites] == ["east", "west"]


# ------------------------------------------------------------------------------------------- YAML


def test_bad_yaml_reports_source_line_and_column() -> None:
    text = "sites:\n  - name: seed\n    location: [eastus\n"
    errors = errors_of(text)
    assert len(errors) == 1
    assert errors[0].startswith("test.yaml:4:1: invalid YAML: ")
    assert "flow sequence" in errors[0]
    assert "line 3, column 15" in errors[0]


def test_bad_yaml_mapping_values_position() -> None:
    errors = errors_of("sites:\n  - name: a: b\n")
    assert errors == ["test.yaml:2:12: invalid YAML: mapping values are not allowed in this context"]


def test_duplicate_key_is_an_error_with_position() -> None:
    errors = errors_of("sites: []\nsites: []\n")
    assert errors == [
        "test.yaml:2:1: invalid YAML: found duplicate key 'sites' (while constructing a mapping at line 1, "
        "column 1)"
    ]


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n"])
def test_empty_spec(text: str) -> None:
    assert errors_of(text) == ["test.yaml: the spec is empty (expected a mapping with a 'sites' list)"]


@pytest.mark.parametrize(
    ("text", "got"),
    [("- a\n- b\n", "a list"), ("hello\n", "a string ('hello')"), ("42\n", "an integer (42)")],
)
def test_top_level_must_be_a_mapping(text: str, got: str) -> None:
    assert errors_of(text) == [
        f"test.yaml: the top level of the spec must be a mapping with a 'sites' list, got {got}"
    ]


# ------------------------------------------------------------------------------------ structure


def test_unknown_key_suggests_the_closest_field() -> None:
    data = seed()
    data["sites"][0]["vpn"]["connection"]["routngWeight"] = 5
    assert errors_of(data) == [
        "sites[0].vpn.connection.routngWeight: unknown key (did you mean 'routingWeight'?)"
    ]


def test_unknown_key_suggestion_ignores_case() -> None:
    data = seed()
    data["sites"][0]["vnet"]["GatewaySubnets"] = "x"
    assert errors_of(data) == ["sites[0].vnet.GatewaySubnets: unknown key (did you mean 'gatewaySubnet'?)"]


def test_unknown_key_without_close_match_lists_allowed_keys() -> None:
    data = seed()
    data["sites"][0]["loadBalancer"]["zzz"] = 1
    assert errors_of(data) == [
        "sites[0].loadBalancer.zzz: unknown key (allowed keys here: name, subnet, privateIp)"
    ]


def test_unknown_top_level_key() -> None:
    data = seed()
    data["site"] = []
    assert errors_of(data) == ["site: unknown key (did you mean 'sites'?)"]


def test_missing_required_field() -> None:
    data = seed()
    del data["sites"][0]["vnet"]["gatewaySubnet"]
    assert errors_of(data) == ["sites[0].vnet.gatewaySubnet: required field is missing"]


def test_missing_sites() -> None:
    assert errors_of("{}\n") == ["sites: required field is missing"]


def test_empty_sites_list() -> None:
    assert errors_of("sites: []\n") == ["sites: must contain at least 1 item"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda s: s["expressRoute"]["connection"].update(routingWeight="ten"),
            "sites[0].expressRoute.connection.routingWeight: expected a whole number, got a string ('ten')",
        ),
        (
            lambda s: s["expressRoute"]["connection"].update(routingWeight=True),
            "sites[0].expressRoute.connection.routingWeight: expected a whole number, got a boolean (true)",
        ),
        (
            lambda s: s.update(maxKeyAgeDays=1.5),
            "sites[0].maxKeyAgeDays: expected a whole number, got a number (1.5)",
        ),
        (lambda s: s.update(name=123), "sites[0].name: expected a string, got an integer (123)"),
        (
            lambda s: s["vnet"].update(addressSpace="10.20.0.0/16"),
            "sites[0].vnet.addressSpace: expected a list, got a string ('10.20.0.0/16')",
        ),
        (
            lambda s: s["vnet"].update(subnets=None),
            "sites[0].vnet.subnets: expected a list, got nothing (an empty value)",
        ),
        (
            lambda s: s.update(vpn="on"),
            "sites[0].vpn: expected a mapping (key: value pairs), got a string ('on')",
        ),
        (
            lambda s: s["vnet"].update(addressSpace=[]),
            "sites[0].vnet.addressSpace: must contain at least 1 item",
        ),
    ],
)
def test_wrong_types(mutate: Any, expected: str) -> None:
    data = seed()
    mutate(data["sites"][0])
    assert errors_of(data) == [expected]


def test_all_structural_errors_are_reported() -> None:
    data = seed()
    site = data["sites"][0]
    del site["location"]
    site["vnet"]["adressSpace"] = site["vnet"].pop("addressSpace")
    site["vpn"]["gateway"]["sku"] = 1
    errors = errors_of(data)
    assert sorted(errors) == sorted(
        [
            "sites[0].location: required field is missing",
            "sites[0].vnet.addressSpace: required field is missing",
            "sites[0].vnet.adressSpace: unknown key (did you mean 'addressSpace'?)",
            "sites[0].vpn.gateway.sku: expected a string, got an integer (1)",
        ]
    )


def test_structural_and_semantic_errors_from_different_sites_are_reported_together() -> None:
    with pytest.raises(SpecError) as info:
        load_spec_file(SPECS / "many-errors.yaml")
    errors = info.value.errors
    assert errors == [
        "sites[1].expressRoute.connection.routngWeight: unknown key (did you mean 'routingWeight'?)",
        "sites[0].vnet.gatewaySubnet: 10.20.0.0/27 is not at the upper end of 10.20.0.0/16 (use 10.20.255.224/27)",
        "sites[0].expressRoute.gateway.sku: Basic does not support ExpressRoute/VPN coexistence (use one of "
        "Standard, HighPerformance, UltraPerformance, ErGw1AZ, ErGw2AZ, ErGw3AZ, ErGwScale)",
        "sites[0].vpn.gateway.vpnType: PolicyBased gateways cannot coexist with ExpressRoute (use RouteBased)",
        "sites[0].onPremises.applianceIp: 192.168.1.1 is a private (RFC 1918) address; the VPN appliance needs "
        "a public (internet-routable) IP address",
    ]


def test_format_path() -> None:
    assert format_path(("sites", 0, "vnet", "subnets", 2, "prefix")) == "sites[0].vnet.subnets[2].prefix"
    assert format_path(()) == "(top level)"


# ---------------------------------------------------------------------------------------- files


def test_load_spec_file_from_tmp(tmp_path: Path) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(seed()), encoding="utf-8")
    assert load_spec_file(path).sites[0].name == "seed"
    assert load_spec_file(str(path)).sites[0].name == "seed"


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(SpecError) as info:
        load_spec_file(path)
    assert info.value.errors == [f"{path}: spec file not found"]


def test_directory_is_not_a_spec_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_spec_file(tmp_path)
    assert info.value.errors == [f"{tmp_path}: is a directory, not a spec file"]


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec_file(path)
    assert info.value.errors == [f"{path}: the spec is empty (expected a mapping with a 'sites' list)"]


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"sites: [\xff]\n")
    with pytest.raises(SpecError) as info:
        load_spec_file(path)
    assert info.value.errors == [f"{path}: spec file is not UTF-8 text (byte 8 cannot be decoded)"]


def test_bad_yaml_in_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("sites:\n  - name: a: b\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec_file(path)
    assert info.value.errors == [f"{path}:2:12: invalid YAML: mapping values are not allowed in this context"]


# ------------------------------------------------------------------------------------ SpecError


def test_spec_error_str_lists_every_error() -> None:
    err = SpecError(["a: first", "b: second"], "net.yaml")
    assert str(err) == "net.yaml: 2 errors in spec\n  - a: first\n  - b: second"
    assert str(SpecError(["x: only"])) == "<spec>: 1 error in spec\n  - x: only"
    assert err.errors == ["a: first", "b: second"]
    assert isinstance(err, Exception)
