"""The deployment around the templates: sites declared once (the spec -> infra/sites.json), the azd hooks
(run as real shell scripts, with stand-in `azd`/`az` commands that record what they are asked), host.json
against the apply budget, telemetry and Key Vault settings, and what the package leaves out."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shared.cli import main as cli_main
from shared.deploy_params import differences, render, sites_document
from shared.spec.load import load_spec_file, parse_data
from tests.infra_bicep import chain, function, load

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
SEED = ROOT / "examples" / "seed-network.yaml"
PARAMETERS = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
SETTINGS = PARAMETERS["hybridnetSettings"]["value"]


def seed_data() -> dict:
    return yaml.safe_load(SEED.read_text())


def second_site(data: dict, *, name: str, resource_group: str, circuit_rg: str) -> dict:
    """Another site like the seed's, with its own names and address ranges (10.30.0.0/16)."""
    text = json.dumps(data["sites"][0]).replace("10.20.", "10.30.").replace('"hybrid-', f'"{name}-')
    site = json.loads(text)
    site["name"] = name
    site["resourceGroup"] = resource_group
    site["onPremises"]["addressSpace"] = ["10.40.0.0/16"]
    site["onPremises"]["applianceIp"] = "40.50.60.71"
    site["expressRoute"]["connection"]["circuitId"] = data["sites"][0]["expressRoute"]["connection"][
        "circuitId"
    ].replace("hybrid-circuit-rg", circuit_rg)
    return site


# --- one source of truth for sites -----------------------------------------------------------------


def test_the_committed_sites_file_is_the_one_the_example_spec_gives():
    """infra/sites.json ships generated from examples/seed-network.yaml; a deployment regenerates it
    from network.yaml (and the preprovision hook checks that it did)."""
    expected = render(sites_document(load_spec_file(SEED)))
    assert (INFRA / "sites.json").read_text() == expected


def test_main_bicep_takes_its_sites_from_the_generated_file_not_a_parameter():
    main = load(INFRA / "main.bicep")
    kind, args = function(main.variables["siteData"]["value"])
    assert (kind, args["file_path"]) == ("load_json_content", "sites.json")
    assert "sites" not in main.tree["parameters"]
    assert "sites" not in PARAMETERS
    alerts = main.modules["alerts"]["config"]["config"]["params"]
    assert alerts["sites"] == "sites" and chain(main.variables["sites"]["value"]) == "siteData.sites"


def test_sites_sharing_a_resource_group_or_circuit_are_deployed_once_per_group_and_circuit():
    data = seed_data()
    data["sites"].append(
        second_site(data, name="branch", resource_group="HYBRID-NETWORK-RG", circuit_rg="hybrid-circuit-rg")
    )
    spec = parse_data(data)
    doc = sites_document(spec)
    assert [s["name"] for s in doc["sites"]] == ["seed", "branch"]
    assert doc["resourceGroups"] == ["hybrid-network-rg"]  # one system topic, one role assignment
    assert len(doc["circuits"]) == 1
    assert doc["circuits"][0] == {
        "id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/hybrid-circuit-rg/providers/Microsoft.Network/expressRouteCircuits/hybrid-er-circuit",
        "subscriptionId": "00000000-0000-0000-0000-000000000000",
        "resourceGroup": "hybrid-circuit-rg",
        "name": "hybrid-er-circuit",
    }


def test_differences_name_each_site_and_field_that_disagrees():
    data = seed_data()
    data["sites"].append(
        second_site(data, name="branch", resource_group="branch-rg", circuit_rg="branch-circuit-rg")
    )
    expected = sites_document(parse_data(data))
    on_disk = json.loads((INFRA / "sites.json").read_text())
    problems = differences(expected, on_disk)
    assert "site 'branch' is in the spec but not in the file (it would get no role and no events)" in problems
    assert any(p.startswith("resourceGroups is ") for p in problems)
    changed = json.loads(json.dumps(on_disk))
    changed["sites"][0]["resourceGroup"] = "elsewhere"
    assert (
        "site 'seed': resourceGroup is 'elsewhere' in the file, 'hybrid-network-rg' in the spec"
        in differences(sites_document(load_spec_file(SEED)), changed)
    )
    assert differences(sites_document(load_spec_file(SEED)), on_disk) == []


def test_infra_sites_writes_then_checks(tmp_path, capsys):
    out = tmp_path / "sites.json"
    assert cli_main(["infra-sites", str(SEED), "--out", str(out), "--check"]) == 1
    assert "the file does not exist" in capsys.readouterr().err
    assert cli_main(["infra-sites", str(SEED), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["sites"][0]["name"] == "seed"
    assert cli_main(["infra-sites", str(SEED), "--out", str(out), "--check"]) == 0
    assert "agrees with" in capsys.readouterr().out
    data = seed_data()
    data["sites"].append(second_site(data, name="branch", resource_group="branch-rg", circuit_rg="c-rg"))
    spec = tmp_path / "network.yaml"
    spec.write_text(yaml.safe_dump(data))
    before = out.read_text()
    assert cli_main(["infra-sites", str(spec), "--out", str(out), "--check"]) == 1
    err = capsys.readouterr().err
    assert "site 'branch' is in the spec but not in the file" in err
    assert f"regenerate it: hybridnet infra-sites {spec} --out {out}" in err
    assert out.read_text() == before  # --check writes nothing


def test_infra_sites_says_why_it_cannot_write(tmp_path, capsys):
    out = tmp_path / "missing-dir" / "sites.json"
    assert cli_main(["infra-sites", str(SEED), "--out", str(out)]) == 1
    assert f"{out}: cannot write it" in capsys.readouterr().err
    assert not out.exists()


def test_infra_sites_refuses_an_invalid_spec_and_writes_nothing(tmp_path, capsys):
    spec = tmp_path / "network.yaml"
    data = seed_data()
    data["sites"][0]["vnet"]["gatewaySubnet"] = "10.20.0.0/27"
    spec.write_text(yaml.safe_dump(data))
    out = tmp_path / "sites.json"
    assert cli_main(["infra-sites", str(spec), "--out", str(out)]) == 1
    assert "sites[0].vnet.gatewaySubnet" in capsys.readouterr().err
    assert not out.exists()


# --- the azd hooks, run as real scripts ---------------------------------------------------------------


def _stub(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _azd_stub(bin_dir: Path, log: Path, values: dict[str, str]) -> None:
    cases = "".join(f'    {k}) echo "{v}"; exit 0;;\n' for k, v in values.items())
    _stub(
        bin_dir,
        "azd",
        f'echo "azd $*" >> "{log}"\n'
        'if [ "$1 $2" = "env get-value" ]; then\n'
        '  case "$3" in\n'
        f"{cases}"
        "    *) exit 1;;\n"
        "  esac\n"
        "fi\n"
        "exit 0\n",
    )


def _run_hook(name: str, cwd: Path, bin_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(cwd),
        "PYTHONPATH": str(ROOT),
        "HYBRIDNET_PYTHON": sys.executable,
        **env,
    }
    return subprocess.run(
        ["sh", str(INFRA / "hooks" / name)], cwd=cwd, env=environ, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A project root with infra/sites.json from the seed, a bin/ of stand-in commands and their log."""
    (tmp_path / "infra").mkdir()
    shutil.copy(INFRA / "sites.json", tmp_path / "infra" / "sites.json")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    log.write_text("")
    return tmp_path, bin_dir, log


def test_preprovision_refuses_without_a_spec(project):
    root, bin_dir, log = project
    _azd_stub(bin_dir, log, {})
    result = _run_hook("preprovision.sh", root, bin_dir)
    assert result.returncode == 1
    assert "network.yaml not found" in result.stderr and "infra-sites network.yaml" in result.stderr
    assert "nothing was deployed" in result.stderr
    assert "KEY_VAULT_CREATE_MODE" not in log.read_text()


def test_preprovision_checks_the_spec_the_app_will_run(project):
    """The file HYBRIDNET_SPEC_PATH names in infra/main.parameters.json, not a fixed name."""
    root, bin_dir, log = project
    _azd_stub(bin_dir, log, {})
    parameters = json.loads((INFRA / "main.parameters.json").read_text())
    parameters["parameters"]["hybridnetSettings"]["value"]["HYBRIDNET_SPEC_PATH"] = "specs/prod.yaml"
    (root / "infra" / "main.parameters.json").write_text(json.dumps(parameters))
    shutil.copy(SEED, root / "network.yaml")  # present, but not the one the app runs
    result = _run_hook("preprovision.sh", root, bin_dir)
    assert result.returncode == 1
    assert "specs/prod.yaml not found" in result.stderr
    (root / "specs").mkdir()
    shutil.copy(SEED, root / "specs" / "prod.yaml")
    result = _run_hook("preprovision.sh", root, bin_dir)
    assert result.returncode == 0, result.stderr
    assert "specs/prod.yaml valid" in result.stdout


def test_preprovision_refuses_an_invalid_spec_naming_the_error(project):
    root, bin_dir, log = project
    _azd_stub(bin_dir, log, {})
    data = seed_data()
    data["sites"][0]["vnet"]["gatewaySubnet"] = "10.20.0.0/27"
    (root / "network.yaml").write_text(yaml.safe_dump(data))
    result = _run_hook("preprovision.sh", root, bin_dir)
    assert result.returncode == 1
    assert "sites[0].vnet.gatewaySubnet" in result.stderr
    assert "network.yaml is not valid" in result.stderr


def test_preprovision_refuses_when_the_sites_file_disagrees_with_the_spec(project):
    root, bin_dir, log = project
    _azd_stub(bin_dir, log, {})
    data = seed_data()
    data["sites"].append(second_site(data, name="branch", resource_group="branch-rg", circuit_rg="c-rg"))
    (root / "network.yaml").write_text(yaml.safe_dump(data))
    result = _run_hook("preprovision.sh", root, bin_dir)
    assert result.returncode == 1
    assert "site 'branch' is in the spec but not in the file" in result.stderr
    assert "infra/sites.json does not match network.yaml" in result.stderr
    assert "KEY_VAULT_CREATE_MODE" not in log.read_text()


def test_preprovision_passes_and_picks_the_default_vault_mode(project):
    root, bin_dir, log = project
    _azd_stub(bin_dir, log, {})
    shutil.copy(SEED, root / "network.yaml")
    result = _run_hook("preprovision.sh", root, bin_dir)
    assert result.returncode == 0, result.stderr
    assert "azd env set KEY_VAULT_CREATE_MODE default" in log.read_text()
    assert "Key Vault create mode: default" in result.stdout


def test_preprovision_recovers_a_soft_deleted_vault_of_the_environment(project):
    root, bin_dir, log = project
    _azd_stub(bin_dir, log, {"AZURE_KEY_VAULT_NAME": "kv-abc"})
    _stub(
        bin_dir,
        "az",
        f'echo "az $*" >> "{log}"\n'
        '[ "$1 $2" = "keyvault show-deleted" ] && [ "$4" = "kv-abc" ] && { echo kv-abc; exit 0; }\n'
        "exit 3\n",
    )
    shutil.copy(SEED, root / "network.yaml")
    result = _run_hook("preprovision.sh", root, bin_dir)
    assert result.returncode == 0, result.stderr
    calls = log.read_text()
    assert "az keyvault show-deleted --name kv-abc" in calls
    assert "azd env set KEY_VAULT_CREATE_MODE recover" in calls


def _az_function_stub(bin_dir: Path, log: Path, *, appears_after: int) -> None:
    counter = bin_dir / "count"
    counter.write_text("0")
    _stub(
        bin_dir,
        "az",
        f'echo "az $*" >> "{log}"\n'
        f'n=$(( $(cat "{counter}") + 1 )); echo $n > "{counter}"\n'
        f'[ "$1 $2 $3" = "functionapp function show" ] && [ $n -ge {appears_after} ] && {{ echo app/arm_event; exit 0; }}\n'
        "exit 3\n",
    )


def test_postdeploy_waits_for_arm_event_then_wires_event_grid(project):
    root, bin_dir, log = project
    _azd_stub(bin_dir, log, {"AZURE_RESOURCE_GROUP": "rg-prod", "AZURE_FUNCTION_APP_NAME": "func-x"})
    _az_function_stub(bin_dir, log, appears_after=3)
    result = _run_hook(
        "postdeploy.sh", root, bin_dir, HYBRIDNET_WAIT_SECONDS="0", HYBRIDNET_WAIT_ATTEMPTS="5"
    )
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    shows = [c for c in calls if c.startswith("az functionapp function show")]
    assert len(shows) == 3
    assert "--resource-group rg-prod --name func-x --function-name arm_event" in shows[0]
    # the wiring comes only after the function is listed
    assert calls.index("azd env set WIRE_EVENT_GRID true") > calls.index(shows[-1])
    assert calls[-1] == "azd provision --no-prompt"


def test_postdeploy_gives_up_with_a_clear_message_and_wires_nothing(project):
    root, bin_dir, log = project
    _azd_stub(bin_dir, log, {"AZURE_RESOURCE_GROUP": "rg-prod", "AZURE_FUNCTION_APP_NAME": "func-x"})
    _az_function_stub(bin_dir, log, appears_after=99)
    result = _run_hook(
        "postdeploy.sh", root, bin_dir, HYBRIDNET_WAIT_SECONDS="0", HYBRIDNET_WAIT_ATTEMPTS="4"
    )
    assert result.returncode == 1
    assert "func-x still lists no arm_event function after 4 checks" in result.stderr
    assert "subscriptions were NOT created" in result.stderr
    assert "azd env set WIRE_EVENT_GRID true && azd provision" in result.stderr
    calls = log.read_text()
    assert calls.count("az functionapp function show") == 4
    assert "azd provision" not in calls and "WIRE_EVENT_GRID true" not in calls


def test_postdeploy_does_nothing_once_wired(project):
    root, bin_dir, log = project
    _azd_stub(bin_dir, log, {"WIRE_EVENT_GRID": "true"})
    _az_function_stub(bin_dir, log, appears_after=1)
    result = _run_hook("postdeploy.sh", root, bin_dir, HYBRIDNET_WAIT_SECONDS="0")
    assert result.returncode == 0, result.stderr
    calls = log.read_text()
    assert "azd env get-value WIRE_EVENT_GRID" in calls
    assert "az functionapp" not in calls and "azd provision" not in calls


def test_azure_yaml_runs_the_hooks_on_both_platforms():
    hooks = yaml.safe_load((ROOT / "azure.yaml").read_text())["hooks"]
    for name in ("preprovision", "postdeploy"):
        assert hooks[name]["posix"] == {"shell": "sh", "run": f"infra/hooks/{name}.sh"}
        assert hooks[name]["windows"] == {"shell": "pwsh", "run": f"infra/hooks/{name}.ps1"}
        assert (ROOT / "infra" / "hooks" / f"{name}.ps1").is_file()
        assert os.access(ROOT / "infra" / "hooks" / f"{name}.sh", os.X_OK)


# --- host.json ------------------------------------------------------------------------------------


def _seconds(timespan: str) -> int:
    hours, minutes, seconds = (int(part) for part in timespan.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def test_queue_retries_outlast_the_apply_budget_and_the_lease():
    """A busy site's reconcile message is retried every visibilityTimeout until maxDequeueCount, then goes to
    the poison queue. The lease another reconcile holds lasts as long as its apply (HYBRIDNET_APPLY_BUDGET_SECONDS)
    and, if its holder crashed, HYBRIDNET_LEASE_SECONDS: the retries must outlast both."""
    queues = json.loads((ROOT / "host.json").read_text())["extensions"]["queues"]
    window = _seconds(queues["visibilityTimeout"]) * queues["maxDequeueCount"]
    budget = int(SETTINGS["HYBRIDNET_APPLY_BUDGET_SECONDS"])
    lease = int(SETTINGS["HYBRIDNET_LEASE_SECONDS"])
    assert budget == 1200
    assert window >= budget * 1.25, f"retry window {window}s vs apply budget {budget}s"
    assert window > lease, f"retry window {window}s vs lease {lease}s"


def test_function_timeout_outlasts_the_apply_budget():
    host = json.loads((ROOT / "host.json").read_text())
    assert _seconds(host["functionTimeout"]) > int(SETTINGS["HYBRIDNET_APPLY_BUDGET_SECONDS"])


def test_telemetry_goes_through_opentelemetry_once():
    host = json.loads((ROOT / "host.json").read_text())
    assert host["telemetryMode"] == "OpenTelemetry"
    fixed = load(INFRA / "modules" / "app.bicep").variables["fixedSettings"]["value"]
    assert fixed["PYTHON_ENABLE_OPENTELEMETRY"] == "true"
    assert "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY" not in fixed  # the worker would export a second time


# --- Application Insights with the identity ---------------------------------------------------------------


def test_application_insights_takes_only_entra_id_tokens_from_the_app_identity():
    app = load(INFRA / "modules" / "app.bicep")
    assert app.resources["insights"]["config"]["properties"]["DisableLocalAuth"] is True
    role = app.resources["telemetryRole"]["config"]
    assert role["scope"] == "insights"
    assert chain(role["properties"]["principalId"]) == "identity.properties.principalId"
    roles = app.variables["roles"]["value"]
    assert roles["monitoringMetricsPublisher"] == "3913510d-42f4-4e42-8a64-420c390055eb"
    assert "monitoringMetricsPublisher" in json.dumps(role["properties"]["roleDefinitionId"])
    fixed = app.variables["fixedSettings"]["value"]
    assert (
        fixed["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
        == "Authorization=AAD;ClientId=${identity.properties.clientId}"
    )
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())
    assert (
        "Authorization=AAD;ClientId="
        in sample["SettingsDocumentation"]["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
    )


# --- Key Vault across azd down / azd up ----------------------------------------------------------------


def test_the_vault_keeps_purge_protection_and_can_be_recovered_after_azd_down():
    app = load(INFRA / "modules" / "app.bicep")
    vault = app.resources["vault"]["config"]["properties"]
    assert vault["enablePurgeProtection"] is True and vault["enableSoftDelete"] is True
    assert vault["createMode"] == "keyVaultCreateMode"
    assert app.tree["parameters"]["keyVaultCreateMode"]["default"] == "default"
    main = load(INFRA / "main.bicep")
    assert chain(main.modules["app"]["config"]["params"]["keyVaultCreateMode"]) == "keyVaultCreateMode"
    assert "AZURE_KEY_VAULT_NAME" in main.tree["outputs"]  # what the preprovision hook looks up
    assert PARAMETERS["keyVaultCreateMode"]["value"] == "${KEY_VAULT_CREATE_MODE=default}"


# --- the package --------------------------------------------------------------------------------------


def test_funcignore_keeps_bench_and_infra_out_of_the_package(tmp_path):
    """Core Tools reads .funcignore with gitignore rules: ask git itself which paths it excludes."""
    files = [
        "bench/drift_bench.py",
        "bench/README.md",
        "infra/main.bicep",
        "function_app.py",
        "shared/cli.py",
        "network.yaml",
    ]
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    result = subprocess.run(
        ["git", "-c", f"core.excludesFile={ROOT / '.funcignore'}", "check-ignore", "--no-index", *files],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    ignored = set(result.stdout.split())
    assert ignored == {"bench/drift_bench.py", "bench/README.md", "infra/main.bicep"}
