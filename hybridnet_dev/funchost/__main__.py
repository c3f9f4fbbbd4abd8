"""Entry point: `python -m hybridnet_dev.funchost [--app function_app] [--app-dir .] [--port 7071] ...`."""

from __future__ import annotations

from hybridnet_dev.funchost.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
