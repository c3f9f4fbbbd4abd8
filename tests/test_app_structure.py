"""The deployed app's shape: thin composition root, no dev code, no heavy imports at load."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_deployed_code_never_imports_development_code():
    deployed = [ROOT / "function_app.py", *(ROOT / "shared").rglob("*.py")]
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in _imported_modules(path) if m.startswith("hybridnet_dev")
        )
        for path in deployed
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_pure_core_never_imports_azure_sdks():
    pure = [
        *(
            ROOT / "shared" / package / module
            for package in ("spec", "failover", "drift", "rotation", "report")
            for module in ("",)
        )
    ]
    pure = [p for folder in pure for p in folder.rglob("*.py")]
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in _imported_modules(path) if m.startswith("azure"))
        for path in pure
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_funcignore_keeps_development_code_out_of_deployment():
    ignored = {line.strip() for line in (ROOT / ".funcignore").read_text().splitlines()}
    assert {"hybridnet_dev/", "tests/", ".venv/", "local.settings.json"} <= ignored


def test_importing_function_app_loads_no_management_sdk():
    code = (
        "import sys, function_app; "
        "print(sorted(m for m in sys.modules if m.startswith(('azure.mgmt', 'azure.identity', 'azure.data'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_function_app_registers_the_health_route():
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, function_app\n"
            "for f in function_app.app.get_functions():\n"
            "    print(json.dumps([f.get_function_name(), f.get_trigger().get_dict_repr()], default=str))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    import json

    functions = dict(json.loads(line) for line in out.splitlines())
    assert functions["health"]["route"] == "health"
    assert functions["health"]["authLevel"] == "FUNCTION"
