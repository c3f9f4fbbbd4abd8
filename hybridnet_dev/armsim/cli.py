"""``python -m hybridnet_dev.armsim --spec FILE``: print one JSON line when ready, serve until a signal."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import yaml

from hybridnet_dev.armsim.runner import DEFAULT_SUBSCRIPTION, SimulatorInfo, run_forever
from shared.spec.model import NetworkSpec


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hybridnet_dev.armsim", description="Azure Resource Manager simulator (dev only)."
    )
    p.add_argument("--spec", required=True, help="network spec YAML (sites to seed; circuits and appliances)")
    p.add_argument("--port", type=int, default=0, help="ARM HTTPS port (default: a free port)")
    p.add_argument(
        "--control-port", type=int, default=0, help="control API / token endpoint port (default: free)"
    )
    p.add_argument("--vault-port", type=int, default=0, help="Key Vault HTTPS port (default: a free port)")
    p.add_argument(
        "--empty", action="store_true", help="seed nothing but the provider's circuits and the appliances"
    )
    p.add_argument("--page-size", type=int, default=50, help="items per page of list operations")
    p.add_argument("--subscription-id", default=DEFAULT_SUBSCRIPTION)
    p.add_argument(
        "--state-dir", default=None, help="where to write the CA file (default: a temporary directory)"
    )
    p.add_argument(
        "--contract",
        default=None,
        help="app contract whose roles the app identity holds (default: infra/app-contract.json, as deployed)",
    )
    p.add_argument(
        "--throttle",
        default="on",
        help="ARM throttling: 'on' (reads 250 + 25/s, writes 200 + 10/s per principal and subscription), 'off', "
        "or 'READS_CAP:READS_RATE,WRITES_CAP:WRITES_RATE' (e.g. 50:5,20:1)",
    )
    p.add_argument("--log-level", default="WARNING", help="log level on stderr (request lines at INFO)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    try:
        spec = NetworkSpec.model_validate(yaml.safe_load(Path(args.spec).read_text()))
    except (OSError, ValueError) as exc:
        print(f"armsim: cannot load spec {args.spec}: {exc}", file=sys.stderr)
        return 2

    try:
        throttle = parse_throttle(args.throttle)
    except ValueError as exc:
        print(f"armsim: --throttle {args.throttle!r}: {exc}", file=sys.stderr)
        return 2

    def ready(info: SimulatorInfo) -> None:
        print(info.to_json_line(), flush=True)

    try:
        asyncio.run(
            run_forever(
                spec,
                empty=args.empty,
                port=args.port,
                control_port=args.control_port,
                vault_port=args.vault_port,
                page_size=args.page_size,
                subscription_id=args.subscription_id,
                state_dir=args.state_dir,
                on_ready=ready,
                contract_path=Path(args.contract) if args.contract else None,
                throttle=throttle,
            )
        )
    except KeyboardInterrupt:
        pass
    return 0


def parse_throttle(value: str) -> dict[str, Any] | bool:
    """'on' -> True, 'off' -> False, 'RC:RR,WC:WR' -> the control API's throttle settings."""
    if value.lower() in ("on", "off"):
        return value.lower() == "on"
    try:
        reads, writes = (tuple(float(x) for x in part.split(":")) for part in value.split(","))
        if len(reads) != 2 or len(writes) != 2 or min(*reads, *writes) <= 0:
            raise ValueError
    except ValueError:
        raise ValueError(
            "expected on, off or READS_CAP:READS_RATE,WRITES_CAP:WRITES_RATE (positive numbers)"
        ) from None
    return {
        "enabled": True,
        "reads": {"capacity": reads[0], "refillPerSecond": reads[1]},
        "writes": {"capacity": writes[0], "refillPerSecond": writes[1]},
    }
