"""The desired-state spec the running app works from: the file named by HYBRIDNET_SPEC_PATH, parsed
once and re-read only when the file changes."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from shared.settings import Settings, SettingsError
from shared.spec import NetworkSpec
from shared.spec.load import load_spec_file

APP_ROOT = Path(__file__).resolve().parent.parent  # where function_app.py is deployed


def current_spec(settings: Settings) -> NetworkSpec:
    """A relative HYBRIDNET_SPEC_PATH is relative to the app's root folder, not the process's cwd."""
    path = str(APP_ROOT / settings.spec_path)
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        raise SettingsError(
            f"HYBRIDNET_SPEC_PATH={path!r}: no spec file there (see examples/seed-network.yaml)"
        ) from None
    return _load(path, mtime)


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int) -> NetworkSpec:
    return load_spec_file(path)
