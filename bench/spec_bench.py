"""Spec validation benchmark: what `hybridnet validate` costs on large specs (no Azure, no I/O beyond
one temporary file per case). Prints, per case: the file's size, the time to load + validate it through
`load_spec_file` (the code the CLI and the app share), the part of it spent after YAML parsing (bounds,
model, rules: `parse_data`), best of --repeat runs each, and the errors found.

Cases: 8,000 subnets spread over 3 VNets (valid), 8,000 subnets in one VNet (over Azure's 3,000 per
VNet), 8,000 subnets with one overlap, and 3,000 sites on the same address ranges (every VNet overlaps:
one error per site, at most 200 listed). Targets: 8,000 subnets well under a second; 3,000 overlapping
sites report thousands of errors, not millions of lines.

    .venv/bin/python -m bench.spec_bench [--repeat 3]
"""

from __future__ import annotations

import argparse
import copy
import ipaddress
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from shared.spec.load import SpecError, load_spec_file, parse_data

ROOT = Path(__file__).resolve().parent.parent
SEED = yaml.safe_load((ROOT / "examples" / "seed-network.yaml").read_text(encoding="utf-8"))["sites"][0]


def _site(number: int, *, vnet: str, subnets: int, first_subnet: int = 0) -> dict[str, Any]:
    """A seed-like site in VNet ``vnet`` (a /8 or /16) with ``subnets`` /24 subnets."""
    site = copy.deepcopy(SEED)
    space = ipaddress.IPv4Network(vnet)
    site["name"] = f"site{number}"
    site["resourceGroup"] = f"rg-{number}"
    site["vnet"]["addressSpace"] = [vnet]
    site["vnet"]["gatewaySubnet"] = str(ipaddress.IPv4Network((int(space.broadcast_address) - 31, 27)))
    base = int(space.network_address)
    site["vnet"]["subnets"] = [
        {"name": f"subnet-{i}", "prefix": str(ipaddress.IPv4Network((base + (first_subnet + i) * 256, 24)))}
        for i in range(subnets)
    ]
    site["loadBalancer"]["subnet"] = "subnet-0"
    site["loadBalancer"]["privateIp"] = str(ipaddress.IPv4Address(base + first_subnet * 256 + 10))
    return site


def _cases() -> list[tuple[str, dict[str, Any]]]:
    spread = [
        _site(0, vnet="10.0.0.0/8", subnets=3000),
        _site(1, vnet="11.0.0.0/8", subnets=3000),
        _site(2, vnet="12.0.0.0/8", subnets=2000),
    ]
    for site in spread:
        site["onPremises"]["addressSpace"] = ["192.168.0.0/16"]
    one_vnet = [_site(0, vnet="10.0.0.0/8", subnets=8000)]
    one_vnet[0]["onPremises"]["addressSpace"] = ["192.168.0.0/16"]
    with_overlap = copy.deepcopy(spread)
    with_overlap[2]["vnet"]["subnets"][1999]["prefix"] = "12.0.7.128/25"  # inside subnet-7
    overlapping_sites = [copy.deepcopy(SEED) for _ in range(3000)]
    for number, site in enumerate(overlapping_sites):
        site["name"] = f"site{number}"
        site["resourceGroup"] = f"rg-{number}"
    return [
        ("8,000 subnets over 3 VNets (valid)", {"sites": spread}),
        ("8,000 subnets in one VNet", {"sites": one_vnet}),
        ("8,000 subnets, one overlapping", {"sites": with_overlap}),
        ("3,000 sites on the same ranges", {"sites": overlapping_sites}),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the best is printed")
    args = parser.parse_args()
    print("spec validation (load_spec_file: YAML + bounds + model + rules)")
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in _cases():
            path = Path(tmp) / "spec.yaml"
            path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
            best = checks = float("inf")
            outcome = ""
            for _ in range(max(1, args.repeat)):
                started = time.perf_counter()
                try:
                    load_spec_file(path)
                    outcome = "valid"
                except SpecError as exc:
                    outcome = f"{exc.count:,} error(s), {len(exc.errors)} line(s) listed"
                best = min(best, time.perf_counter() - started)
                started = time.perf_counter()
                try:
                    parse_data(data)
                except SpecError:
                    pass
                checks = min(checks, time.perf_counter() - started)
            size = path.stat().st_size
            print(
                f"  {name:<36} {size / 1024:6.0f} KiB  total {best * 1000:7.1f} ms  "
                f"after YAML {checks * 1000:7.1f} ms  {outcome}"
            )


if __name__ == "__main__":
    main()
