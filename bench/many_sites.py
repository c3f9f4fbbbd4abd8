"""A spec with many sites in the seed's shape, for benchmarks (each site in its own resource group)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


# a site's addresses: VNet address space, gateway subnet, web-tier subnet, load balancer IP, appliance IP
SiteAddresses = tuple[str, str, str, str, str]


def seed_sites_document(count: int, digits: int, addresses: Callable[[int], SiteAddresses]) -> dict[str, Any]:
    """``count`` copies of the seed's site, named ``site-<i>`` (``digits`` wide), each in its own resource
    group, with its own circuit and the addresses ``addresses(i)`` gives."""
    seed = yaml.safe_load((ROOT / "examples/seed-network.yaml").read_text())["sites"][0]
    sites = []
    for i in range(count):
        site = copy.deepcopy(seed)
        address_space, gateway_subnet, subnet, private_ip, appliance_ip = addresses(i)
        site["name"] = f"site-{i:0{digits}d}"
        site["resourceGroup"] = f"hybrid-site-{i:0{digits}d}-rg"
        site["vnet"]["addressSpace"] = [address_space]
        site["vnet"]["gatewaySubnet"] = gateway_subnet
        site["vnet"]["subnets"] = [{"name": "web-tier", "prefix": subnet}]
        site["loadBalancer"]["privateIp"] = private_ip
        site["onPremises"]["applianceIp"] = appliance_ip
        circuit = site["expressRoute"]["connection"]["circuitId"].rsplit("/", 1)[0]
        site["expressRoute"]["connection"]["circuitId"] = f"{circuit}/circuit-{i:0{digits}d}"
        sites.append(site)
    return {"sites": sites}


def _many_addresses(i: int) -> SiteAddresses:
    octet = 20 + i  # VNets 10.20.0.0/16 ... 10.(20+count-1).0.0/16; on-prem stays 10.10.0.0/16
    return (
        f"10.{octet}.0.0/16",
        f"10.{octet}.255.224/27",
        f"10.{octet}.1.0/24",
        f"10.{octet}.1.254",
        f"40.50.{60 + i // 200}.{i % 200 + 1}",
    )


def many_sites_document(count: int) -> dict[str, Any]:
    return seed_sites_document(count, 3, _many_addresses)


def write_many_sites(path: Path, count: int) -> Path:
    path.write_text(yaml.safe_dump(many_sites_document(count), sort_keys=False))
    return path
