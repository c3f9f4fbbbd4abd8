"""`python -m hybridnet_dev.funchost`: serve an app until SIGTERM/SIGINT; one JSON line on stdout
when ready."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys

from hybridnet_dev.funchost import redact
from hybridnet_dev.funchost.errors import FunctionHostError
from hybridnet_dev.funchost.server import HostCore


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hybridnet_dev.funchost",
        description="A local Azure Functions host for development (Core Tools stand-in).",
    )
    p.add_argument(
        "--app", default="function_app", help="app module name in --app-dir (default: function_app)"
    )
    p.add_argument("--app-dir", default=".", help="directory holding the app, host.json, local.settings.json")
    p.add_argument(
        "--port",
        type=int,
        default=None,
        help="0 = a free port (default: local.settings.json Host.LocalHttpPort or 7071)",
    )
    p.add_argument("--function-key", default=None, help="the function/host key (default: generated)")
    p.add_argument("--master-key", default=None, help="the master key (default: generated)")
    p.add_argument(
        "--eventgrid-key", default=None, help="the eventgrid_extension system key (default: generated)"
    )
    p.add_argument(
        "--no-timers", action="store_true", help="do not run timer schedules (admin API still works)"
    )
    return p


async def _serve(args: argparse.Namespace) -> int:
    core = HostCore(
        args.app,
        app_dir=args.app_dir,
        port=args.port,
        function_key=args.function_key,
        master_key=args.master_key,
        eventgrid_key=args.eventgrid_key,
        enable_timers=not args.no_timers,
    )
    # Before anything runs: no log line of the host, the app or an SDK may carry a key.
    keys = core.keys
    redact.install((keys.function_key, keys.master_key, keys.eventgrid_key))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        info = await core.start()
        print(json.dumps(info.to_json()), flush=True)
        await stop.wait()
        logging.getLogger("hybridnet_dev.funchost").info("Shutting down")
        return 0
    finally:
        await core.stop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return asyncio.run(_serve(args))
    except FunctionHostError as exc:
        print(f"funchost: {exc}", file=sys.stderr, flush=True)
        return 2
