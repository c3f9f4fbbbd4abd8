"""A spec with up to 3,000 sites in the seed's shape (each site in its own resource group, a /20 VNet
each from 10.20.0.0 on), for the scale benchmark and tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
MAX_SITES = 3000


def scale_sites_document(count: int) -> dict[str, Any]:
    if not 1 <= count <= MAX_SITES:
        raise ValueError(f"sites: {count} is not between 1 and {MAX_SITES}")
    seed = yaml.safe_load((ROOT / "examples/seed-network.yaml").read_text())["sites"][0]
    sites = []
    for i in range(count):
        site = copy.deepcopy(seed)
        second, third = 20 + i // 16, (i % 16) * 16  # 10.<second>.<third>.0/20, 16 sites per /16
        site["name"] = f"site-{i:04d}"
        site["resourceGroup"] = f"hybrid-site-{i:04d}-rg"
        site["vnet"]["addressSpace"] = [f"10.{second}.{third}.0/20"]
        site["vnet"]["gatewaySubnet"] = f"10.{second}.{third + 15}.224/27"
        site["vnet"]["subnets"] = [{"name": "web-tier", "prefix": f"10.{second}.{third}.0/24"}]
        site["loadBalancer"]["privateIp"] = f"10.{second}.{third}.254"
        site["onPremises"]["applianceIp"] = f"40.{50 + i // 40000}.{60 + i // 200 % 190}.{i % 200 + 1}"
        circuit = site["expressRoute"]["connection"]["circuitId"].rsplit("/", 1)[0]
        site["expressRoute"]["connection"]["circuitId"] = f"{circuit}/circuit-{i:04d}"
        sites.append(site)
    return {"sites": sites}


def write_scale_sites(path: Path, count: int) -> Path:
    path.write_text(yaml.safe_dump(scale_sites_document(count), sort_keys=False))
    return path
