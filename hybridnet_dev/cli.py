"""The `hybridnet` console script in a development checkout: the product's commands (shared.cli)
plus the development ones that run the simulated network locally.

    hybridnet sim   --spec FILE [--port N] [--empty] [--time-scale X]   the Azure simulator (ARM +
                    managed identity; operations take Azure's time x X, 1 = real time)
    hybridnet serve [--port 7071]                       the local Functions host for function_app.app
    hybridnet up    [--spec FILE] [--set NAME=VALUE]    Azurite + simulator + host, as `make run` does
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from shared import cli as product_cli


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command, rest = (args[0], args[1:]) if args else ("", [])
    if command == "sim":
        from hybridnet_dev.armsim.__main__ import main as sim_main

        return sim_main(rest)
    if command == "serve":
        from hybridnet_dev.funchost.__main__ import main as serve_main

        return serve_main(rest)
    if command == "up":
        from hybridnet_dev.local_stack import main as up_main

        return up_main(rest)
    if command in ("-h", "--help", ""):
        print(__doc__)
    return product_cli.main(args)


if __name__ == "__main__":
    raise SystemExit(main())
