"""A spec with many sites in the seed's shape, for benchmarks (each site in its own resource group)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def many_sites_document(count: int) -> dict[str, Any]:
    seed = yaml.safe_load((ROOT / "examples/seed-network.yaml").read_text())["sites"][0]
    sites = []
    for i in range(count):
        site = copy.deepcopy(seed)
        octet = 20 + i  # VNets 10.20.0.0/16 ... 10.(20+count-1).0.0/16; on-prem stays 10.10.0.0/16
        site["name"] = f"site-{i:03d}"
        site["resourceGroup"] = f"hybrid-site-{i:03d}-rg"
        site["vnet"]["addressSpace"] = [f"10.{octet}.0.0/16"]
        site["vnet"]["gatewaySubnet"] = f"10.{octet}.255.224/27"
        site["vnet"]["subnets"] = [{"name": "web-tier", "prefix": f"10.{octet}.1.0/24"}]
        site["loadBalancer"]["privateIp"] = f"10.{octet}.1.254"
        site["onPremises"]["applianceIp"] = f"40.50.{60 + i // 200}.{i % 200 + 1}"
        circuit = site["expressRoute"]["connection"]["circuitId"].rsplit("/", 1)[0]
        site["expressRoute"]["connection"]["circuitId"] = f"{circuit}/circuit-{i:03d}"
        sites.append(site)
    return {"sites": sites}


def write_many_sites(path: Path, count: int) -> Path:
    path.write_text(yaml.safe_dump(many_sites_document(count), sort_keys=False))
    return path
