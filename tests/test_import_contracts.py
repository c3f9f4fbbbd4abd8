"""The layer rules are enforced by import-linter (`lint-imports`, run by `make test`): the repo keeps
them, and a violation hidden in a function body (a lazy import) is caught."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_repository_keeps_every_layer_contract():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    for contract in (
        "Layers: triggers -> services -> adapters -> pure cores",
        "Triggers reach adapters only through services",
        "Pure cores: no adapter, no SDK, nothing of hybridnet_dev",
        "The deployed package never imports the development tools",
    ):
        assert f"{contract} KEPT" in result.stdout


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "shared", tmp_path / "shared", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        ROOT / "hybridnet_dev", tmp_path / "hybridnet_dev", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _append(path: Path, code: str) -> None:
    path.write_text(path.read_text() + "\n\n" + code)


def test_lazy_imports_that_break_a_layer_are_caught(tmp_path):
    tree = _copy(tmp_path)
    _append(
        tree / "shared/report/build.py",
        "def _sneaky() -> object:\n    from shared.azure.tables import table_service\n\n    return table_service\n",
    )
    _append(
        tree / "shared/triggers/health.py",
        "def _shortcut() -> object:\n    from shared.azure.run_log import latest_runs\n\n    return latest_runs\n",
    )
    _append(
        tree / "shared/spec/rules.py",
        "def _sdk() -> object:\n    import azure.core\n\n    return azure.core\n",
    )
    _append(
        tree / "shared/settings.py",
        "def _dev() -> object:\n    import hybridnet_dev.azurite\n\n    return 1\n",
    )
    result = lint(tree)
    out = result.stdout
    assert result.returncode != 0, out
    assert "shared.report.build -> shared.azure.tables" in out
    assert "shared.triggers.health -> shared.azure.run_log" in out
    assert "shared.spec.rules -> azure" in out
    assert "shared.settings -> hybridnet_dev.azurite" in out
    assert "The deployed package never imports the development tools BROKEN" in out
