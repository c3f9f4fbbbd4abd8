"""Bounded spec loading (issue 12, item 8): hostile or huge specs end in a clear, capped list of errors
(never a traceback), and the overlap checks are a sorted sweep, not all pairs."""

from __future__ import annotations

import copy
import ipaddress
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.spec import load
from shared.spec.load import (
    MAX_ERRORS_LISTED,
    MAX_SITES,
    MAX_SPEC_BYTES,
    MAX_STRING_CHARS,
    MAX_SUBNETS,
    SpecError,
    load_spec_file,
    parse_data,
    parse_spec,
)
from shared.spec.model import Site
from shared.spec.rules import PrefixIndex, check_sites, contained_in
from tests.seed_data import SEED_SITE

ROOT = Path(__file__).resolve().parent.parent


def errors_of(text_or_data: str | dict[str, Any]) -> SpecError:
    with pytest.raises(SpecError) as info:
        if isinstance(text_or_data, str):
            parse_spec(text_or_data, "test.yaml")
        else:
            parse_data(text_or_data, "test.yaml")
    return info.value


def seed_yaml() -> str:
    return yaml.safe_dump({"sites": [SEED_SITE]}, sort_keys=False)


def site_number(number: int, **vnet: Any) -> dict[str, Any]:
    site = copy.deepcopy(SEED_SITE)
    site["name"] = f"site{number}"
    site["resourceGroup"] = f"rg-{number}"
    site["vnet"].update(vnet)
    return site


# ----------------------------------------------------------------------------- hostile values


def test_a_100000_digit_integer_is_a_clear_error_with_its_position() -> None:
    text = seed_yaml().replace("maxKeyAgeDays: 90", "maxKeyAgeDays: " + "9" * 100_000)
    error = errors_of(text)
    assert error.errors == [
        "test.yaml:5:18: invalid YAML: an integer of 100,000 digits is too large (at most 18 digits)"
    ]


def test_a_huge_integer_in_parsed_data_names_its_path() -> None:
    data = {"sites": [dict(SEED_SITE, maxKeyAgeDays=10**100_000)]}
    (line,) = errors_of(data).errors
    assert line.startswith(
        "sites[0].maxKeyAgeDays: an integer (<an integer of about 100,001 digits>) is too large"
    )


def test_100000_levels_of_flow_nesting_is_a_clear_error() -> None:
    (line,) = errors_of("sites: " + "[" * 100_000 + "]" * 100_000 + "\n").errors
    assert line.startswith("test.yaml:1:")
    assert "nested too deeply" in line


def test_nesting_within_yaml_limits_but_beyond_the_spec_names_the_path() -> None:
    (line,) = errors_of("sites: " + "[" * 50 + "]" * 50 + "\n").errors
    assert (
        line
        == "sites[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]: nested deeper than 20 levels (a spec needs 6)"
    )


def test_deep_parsed_data_is_an_error_not_a_recursion_error() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    (line,) = errors_of({"sites": deep}).errors
    assert "nested deeper than 20 levels" in line


def test_the_pure_python_yaml_parser_has_the_same_depth_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "_StrictLoader", load._PyStrictLoader)
    (line,) = errors_of("sites: " + "[" * 100_000 + "]" * 100_000 + "\n").errors
    assert line == "test.yaml:1:27: invalid YAML: nested deeper than 20 levels (a spec needs 6)"
    (line,) = errors_of(seed_yaml().replace("maxKeyAgeDays: 90", "maxKeyAgeDays: " + "9" * 100_000)).errors
    assert "an integer of 100,000 digits is too large" in line
    assert parse_spec(seed_yaml()).sites[0].name == "seed"


def test_a_long_string_is_capped_and_not_echoed() -> None:
    data = {"sites": [dict(SEED_SITE, name="x" * 1_000_000)]}
    error = errors_of(data)
    assert error.errors == [
        f"sites[0].name: a string of 1,000,000 characters is too long (at most {MAX_STRING_CHARS:,})"
    ]


def test_alias_bombs_are_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    lines.append("sites: [{name: *a8}]")
    error = errors_of("\n".join(lines) + "\n")
    assert len(error.errors) <= MAX_ERRORS_LISTED + 1
    assert any("too many" in e or "values" in e or "nested" in e for e in error.errors)


# ---------------------------------------------------------------------------------------- caps


def test_file_size_is_capped_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(seed_yaml() + "#" * MAX_SPEC_BYTES, encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec_file(path)
    (line,) = info.value.errors
    assert line.startswith(f"{path}: the spec file is too large (")
    assert f"at most {MAX_SPEC_BYTES:,} bytes" in line


def test_number_of_sites_is_capped() -> None:
    text = "s: &s {name: x}\nsites: [" + ", ".join(["*s"] * (MAX_SITES + 1)) + "]\n"
    error = errors_of(text)
    assert [e for e in error.errors if e.startswith("sites:")] == [
        f"sites: {MAX_SITES + 1:,} sites is too many (at most {MAX_SITES:,})"
    ]


def test_number_of_subnets_is_capped_per_vnet_and_over_all_sites() -> None:
    subnet = {"name": "a", "prefix": "10.20.1.0/24"}
    one = site_number(0, subnets=[subnet] * (MAX_SUBNETS + 1))
    assert errors_of({"sites": [one]}).errors == [
        f"sites[0].vnet.subnets: {MAX_SUBNETS + 1:,} subnets is too many (at most {MAX_SUBNETS:,})"
    ]
    half = MAX_SUBNETS // 2 + 1
    two = [site_number(0, subnets=[subnet] * half), site_number(1, subnets=[subnet] * half)]
    assert errors_of({"sites": two}).errors == [
        f"sites: {2 * half:,} subnets in all is too many (at most {MAX_SUBNETS:,} over all sites' vnet.subnets)"
    ]


def test_other_lists_are_capped() -> None:
    site = site_number(0, addressSpace=["10.20.0.0/16"] * 1001)
    assert errors_of({"sites": [site]}).errors == [
        "sites[0].vnet.addressSpace: 1,001 items is too many (at most 1,000)"
    ]


def test_errors_listed_are_capped_with_the_count_of_the_rest() -> None:
    sites = [site_number(i) for i in range(3000)]  # every VNet is 10.20.0.0/16
    error = errors_of({"sites": sites})
    assert error.count == 2999  # one line per site after the first, not one per pair (4.5 million)
    assert len(error.errors) == MAX_ERRORS_LISTED + 1
    assert error.errors[0] == (
        "sites[1].vnet.addressSpace[0]: 10.20.0.0/16 overlaps the VNet of site 'site0' 10.20.0.0/16 "
        "(sites[0].vnet.addressSpace[0]); each site's VNet needs its own range"
    )
    assert error.errors[-1] == (
        f"test.yaml: {2999 - MAX_ERRORS_LISTED:,} more errors not listed (at most {MAX_ERRORS_LISTED} are "
        "listed; fix these and validate again)"
    )
    assert str(error).startswith("test.yaml: 2999 errors in spec\n")


def test_cross_site_checks_report_one_line_per_range_not_per_pair() -> None:
    sites = [Site.model_validate(site_number(i)) for i in range(3000)]
    errors = check_sites([(f"sites[{i}]", s) for i, s in enumerate(sites)])
    assert len(errors) == 2999


def test_8000_subnets_are_checked_and_the_one_overlap_found() -> None:
    site = site_number(0, addressSpace=["10.0.0.0/8"], gatewaySubnet="10.255.255.224/27")
    site["onPremises"]["addressSpace"] = ["192.168.0.0/16"]
    site["vnet"]["subnets"] = [
        {"name": f"s{i}", "prefix": str(ipaddress.IPv4Network((0x0A000000 + i * 256, 24)))}
        for i in range(8000)
    ]
    site["vnet"]["subnets"][7999]["prefix"] = "10.0.7.128/25"
    site["loadBalancer"].update(subnet="s1", privateIp="10.0.1.10")
    assert errors_of({"sites": [site]}).errors == [
        "sites[0].vnet.subnets: 8,000 subnets; Azure allows at most 3,000 per virtual network (split them "
        "over several VNets)",
        "sites[0].vnet.subnets[7999].prefix: 10.0.7.128/25 overlaps subnet 's7' 10.0.7.0/24 "
        "(sites[0].vnet.subnets[7].prefix); subnets must not overlap",
    ]


def test_the_cli_prints_the_error_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(seed_yaml().replace("maxKeyAgeDays: 90", "maxKeyAgeDays: " + "9" * 100_000))
    out = subprocess.run(
        [sys.executable, "-m", "shared.cli", "validate", str(path)], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert f"{path}: 1 error(s)" in out.stderr
    assert "an integer of 100,000 digits is too large (at most 18 digits)" in out.stderr


# --------------------------------------------------------------------------- the sorted index


def same_version_overlap(a: Any, b: Any) -> bool:
    return a.version == b.version and a.overlaps(b)


def is_strict_subnet(inner: Any, outer: Any) -> bool:
    return inner.version == outer.version and inner != outer and inner.subnet_of(outer)


def _random_network(rnd: random.Random) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if rnd.random() < 0.7:
        return ipaddress.ip_network((rnd.getrandbits(12) << 20, rnd.randint(4, 12)), strict=False)
    return ipaddress.ip_network((rnd.getrandbits(8) << 120, rnd.randint(1, 70)), strict=False)


def test_prefix_index_answers_like_comparing_every_pair() -> None:
    rnd = random.Random(12)
    for _ in range(300):
        nets = [_random_network(rnd) for _ in range(rnd.randint(0, 25))]
        index = PrefixIndex((net, rank) for rank, net in enumerate(nets))
        for query in [_random_network(rnd) for _ in range(8)] + nets[:4]:
            skip = set(rnd.sample(nets, min(len(nets), rnd.randint(0, 2))))
            overlapping = [i for i, n in enumerate(nets) if same_version_overlap(n, query) and n not in skip]
            assert index.first_overlapping(query, skip=skip) == min(overlapping, default=None)
            supernets = [i for i, n in enumerate(nets) if is_strict_subnet(query, n)]
            assert index.first_strict_supernet(query) == min(supernets, default=None)
            assert index.contains(query) == any(contained_in(query, n) for n in nets)
