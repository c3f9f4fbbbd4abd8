"""A spec with up to 3,000 sites in the seed's shape (each site in its own resource group, a /20 VNet
each from 10.20.0.0 on), for the scale benchmark and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bench.many_sites import SiteAddresses, seed_sites_document

MAX_SITES = 3000


def _scale_addresses(i: int) -> SiteAddresses:
    second, third = 20 + i // 16, (i % 16) * 16  # 10.<second>.<third>.0/20, 16 sites per /16
    return (
        f"10.{second}.{third}.0/20",
        f"10.{second}.{third + 15}.224/27",
        f"10.{second}.{third}.0/24",
        f"10.{second}.{third}.254",
        f"40.{50 + i // 40000}.{60 + i // 200 % 190}.{i % 200 + 1}",
    )


def scale_sites_document(count: int) -> dict[str, Any]:
    if not 1 <= count <= MAX_SITES:
        raise ValueError(f"sites: {count} is not between 1 and {MAX_SITES}")
    return seed_sites_document(count, 4, _scale_addresses)


def write_scale_sites(path: Path, count: int) -> Path:
    path.write_text(yaml.safe_dump(scale_sites_document(count), sort_keys=False))
    return path
