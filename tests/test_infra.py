"""Checks of `infra/` that run without Azure and without the Bicep CLI.

No Bicep parser exists as a Python package (the package lists hold only wrappers that drive the Bicep
CLI, which cannot be installed here), so these tests do not parse Bicep. Instead:
- the facts that matter most live in JSON next to the templates, which the Bicep loads with
  `loadJsonContent` (`infra/app-contract.json`: the custom roles' actions and the Event Grid event
  types; `infra/main.parameters.json`: the site parameters and every HYBRIDNET_* setting). The tests read
  that JSON and check, as text, that the templates really use it;
- the few facts read from Bicep text (the literal app setting names, wildcard/delete actions) are
  extracted with small regular expressions over simple, known shapes, not a general parser.

The ARM operations the app calls are derived from the code itself: every `client.<group>.<method>(...)`
in `shared/azure/*.py` (and `ops.<method>(...)` where `ops` is picked from a dict of operation groups),
with the operation groups taken from the installed azure-mgmt-network client. So a new SDK call fails
here until `shared/azure/permissions.py` maps it and the role grants exactly the new set.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

from shared.azure.permissions import CIRCUIT_ACTIONS, UnmappedOperation, actions_for, required_actions
from shared.drift.events import HANDLED_TYPES

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
CONTRACT = json.loads((INFRA / "app-contract.json").read_text())
PARAMETERS = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]

# In local.settings.sample.json but deliberately not set in Azure.
LOCAL_ONLY = {
    "FUNCTIONS_WORKER_RUNTIME": "Flex Consumption takes the runtime from functionAppConfig and rejects this setting",
    "AzureWebJobsFeatureFlags": "worker indexing is the default for the Python v2 model on Functions 4",
    "AzureWebJobsStorage": "replaced by the identity-based AzureWebJobsStorage__* settings",
    "HYBRIDNET_ARM_CA_BUNDLE": "only for the local simulator's CA",
    "HYBRIDNET_TABLES_CONNECTION_STRING": "shared keys are disabled: HYBRIDNET_TABLES_ACCOUNT_URL + identity instead",
}
# Set in Azure but not in the sample's Values (each documented in SettingsDocumentation or here).
INFRA_ONLY = {
    "AzureWebJobsStorage__accountName": "identity-based host storage",
    "AzureWebJobsStorage__credential": "identity-based host storage",
    "AzureWebJobsStorage__clientId": "identity-based host storage: the user-assigned identity",
    "AZURE_CLIENT_ID": "the user-assigned identity DefaultAzureCredential uses",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "Application Insights (shared/telemetry.py)",
}


# --- the ARM operations the code calls ----------------------------------------------------------------


def _operation_groups() -> set[str]:
    """Attribute names of NetworkManagementClient's operation groups, read from the installed SDK's
    source (no import of the SDK itself)."""
    spec = importlib.util.find_spec("azure.mgmt.network._client")
    assert spec is not None and spec.origin is not None
    groups = set(re.findall(r"self\.(\w+) = \w+Operations\(", Path(spec.origin).read_text()))
    assert "virtual_network_gateways" in groups, "could not read the SDK's operation groups"
    return groups - {"operations"}


def _called_operations(source: str, groups: set[str]) -> set[tuple[str, str]]:
    tree = ast.parse(source)
    # Variables assigned from a dict of operation groups: `ops = {K: client.group, ...}[kind]`.
    aliases: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = node.value.value if isinstance(node.value, ast.Subscript) else node.value
            if isinstance(value, ast.Dict):
                picked = {v.attr for v in value.values if isinstance(v, ast.Attribute) and v.attr in groups}
                if picked:
                    aliases.setdefault(node.targets[0].id, set()).update(picked)
    calls: set[tuple[str, str]] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method, owner = node.func.attr, node.func.value
        if isinstance(owner, ast.Attribute) and owner.attr in groups:
            calls.add((owner.attr, method))
        elif isinstance(owner, ast.Name) and owner.id in aliases:
            calls.update((group, method) for group in aliases[owner.id])
    return calls


def called_operations() -> set[tuple[str, str]]:
    groups = _operation_groups()
    calls: set[tuple[str, str]] = set()
    for path in sorted((ROOT / "shared" / "azure").glob("*.py")):
        calls |= _called_operations(path.read_text(), groups)
    return calls


def test_the_scanner_sees_direct_lambda_and_dict_picked_calls():
    groups = {"subnets", "load_balancers", "virtual_networks"}
    source = (
        "def f(client, kind):\n"
        "    client.subnets.begin_create_or_update(1)\n"
        "    rows = lambda: client.virtual_networks.list(rg)\n"
        "    ops = {A: client.load_balancers, B: client.virtual_networks}[kind]\n"
        "    ops.begin_create_or_update(2)\n"
        "    self._client.set_secret('x')\n"
    )
    assert _called_operations(source, groups) == {
        ("subnets", "begin_create_or_update"),
        ("virtual_networks", "list"),
        ("load_balancers", "begin_create_or_update"),
        ("virtual_networks", "begin_create_or_update"),
    }


def test_the_code_calls_network_operations_at_all():
    calls = called_operations()
    assert ("virtual_network_gateways", "begin_get_learned_routes") in calls
    assert ("virtual_network_gateway_connections", "get") in calls


def test_every_called_operation_has_an_rbac_mapping():
    unmapped = []
    for group, method in sorted(called_operations()):
        try:
            actions_for(group, method)
        except UnmappedOperation as exc:
            unmapped.append(str(exc))
    assert not unmapped, "map these in shared/azure/permissions.py: " + "; ".join(unmapped)


def test_custom_roles_grant_exactly_what_the_code_calls():
    required = required_actions(called_operations())
    network = set(CONTRACT["networkRoleActions"])
    circuit = set(CONTRACT["circuitRoleActions"])
    assert network | circuit == required, (
        f"missing: {sorted(required - network - circuit)}; not needed: {sorted((network | circuit) - required)}"
    )
    assert circuit == set(CIRCUIT_ACTIONS) & required
    assert not network & circuit


def test_roles_have_no_wildcards_and_no_deletes():
    for action in [*CONTRACT["networkRoleActions"], *CONTRACT["circuitRoleActions"]]:
        assert action.startswith("Microsoft.Network/"), action
        assert "*" not in action and not action.lower().endswith("/delete"), action


def test_the_key_rotation_actions_are_in_the_role():
    network = set(CONTRACT["networkRoleActions"])
    assert {
        "Microsoft.Network/connections/sharedKey/read",
        "Microsoft.Network/connections/sharedKey/write",
    } <= network


def test_templates_use_the_contract_and_assign_roles_only_at_site_and_circuit_scope():
    main = (INFRA / "main.bicep").read_text()
    assert "loadJsonContent('app-contract.json')" in main
    assert "actions: contract.networkRoleActions" in main
    assert "actions: contract.circuitRoleActions" in main
    everything = "\n".join(p.read_text() for p in INFRA.rglob("*.bicep"))
    # No built-in Network Contributor (4d97b98b-1d4f-4787-a291-c67834d212e7), no "*" actions anywhere.
    assert "4d97b98b-1d4f-4787-a291-c67834d212e7" not in everything
    assert not re.search(r"'[^']*Microsoft\.Network/\*", everything)
    site = (INFRA / "modules" / "site.bicep").read_text()
    assert "targetScope = 'resourceGroup'" in site and "networkRoleId" in site


# --- Event Grid -------------------------------------------------------------------------------------


def test_event_subscription_includes_exactly_the_handled_event_types():
    assert set(CONTRACT["includedEventTypes"]) == set(HANDLED_TYPES)
    assert len(CONTRACT["includedEventTypes"]) == len(HANDLED_TYPES)
    site = (INFRA / "modules" / "site.bicep").read_text()
    assert "includedEventTypes: includedEventTypes" in site
    assert "includedEventTypes: contract.includedEventTypes" in (INFRA / "main.bicep").read_text()


def test_event_subscription_targets_the_event_grid_trigger_and_filters_our_own_writes():
    site = (INFRA / "modules" / "site.bicep").read_text()
    drift = (ROOT / "shared" / "triggers" / "drift.py").read_text()
    assert re.search(r"def arm_event\(", drift)
    assert "endpointType: 'AzureFunction'" in site
    assert "'${functionAppId}/functions/arm_event'" in site
    assert "/providers/Microsoft.Network/'" in site  # subject filter
    # Event Grid advanced filter keys cannot contain dots in a key name, so the objectidentifier claim
    # (a URI) cannot be a key; appid (the identity's client id) and the role evidence's principalId can.
    assert "key: 'data.claims.appid'" in site
    assert "key: 'data.authorization.evidence.principalId'" in site
    assert site.count("operatorType: 'StringNotIn'") == 2
    assert "deadLetterWithResourceIdentity" in site and "retryPolicy" in site


# --- app settings -----------------------------------------------------------------------------------


def _infra_app_settings() -> set[str]:
    """Literal names in app.bicep's `fixedSettings` object, plus the keys of the `hybridnetSettings`
    parameter (merged into appSettings by app.bicep)."""
    app = (INFRA / "modules" / "app.bicep").read_text()
    block = re.search(r"var fixedSettings = \{\n(.*?)\n\}", app, re.S)
    assert block, "app.bicep: `var fixedSettings = {...}` not found"
    fixed = set(re.findall(r"^\s*'?([A-Za-z_][A-Za-z0-9_]*)'?\s*:", block.group(1), re.M))
    assert "union(fixedSettings, hybridnetSettings)" in app
    return fixed | set(PARAMETERS["hybridnetSettings"]["value"])


def test_infra_sets_every_setting_the_app_reads():
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())
    values = set(sample["Values"])
    documented = values | {
        name.strip() for key in sample.get("SettingsDocumentation", {}) for name in key.split("/")
    }
    infra = _infra_app_settings()
    assert values - infra == set(LOCAL_ONLY) & values, (
        f"not set in infra: {sorted(values - infra - set(LOCAL_ONLY))}"
    )
    extra = infra - documented - set(INFRA_ONLY)
    assert not extra, f"set in infra but documented nowhere: {sorted(extra)}"
    assert not infra & set(LOCAL_ONLY)


def test_every_timer_schedule_setting_is_set_in_infra():
    triggers = "\n".join(p.read_text() for p in (ROOT / "shared" / "triggers").glob("*.py"))
    schedules = set(re.findall(r"schedule=\"%(\w+)%\"", triggers))
    assert schedules, "no %SETTING% schedules found"
    assert schedules <= _infra_app_settings()


# --- parameters -------------------------------------------------------------------------------------


def test_main_parameters_carry_the_seed_values():
    seed = yaml.safe_load((ROOT / "examples" / "seed-network.yaml").read_text())["sites"]
    sites = PARAMETERS["sites"]["value"]
    assert len(sites) == len(seed)
    for param, spec in zip(sites, seed, strict=True):
        assert param["name"] == spec["name"]
        assert param["resourceGroup"] == spec["resourceGroup"] == "hybrid-network-rg"
        assert param["vnet"] == {
            "name": spec["vnet"]["name"],
            "addressSpace": spec["vnet"]["addressSpace"],
            "gatewaySubnet": spec["vnet"]["gatewaySubnet"],
        }
        assert param["onPremises"] == spec["onPremises"]
        er, vpn = spec["expressRoute"], spec["vpn"]
        assert param["expressRoute"] == {
            "gatewayName": er["gateway"]["name"],
            "connectionName": er["connection"]["name"],
            "circuitId": er["connection"]["circuitId"],
        }
        assert param["vpn"] == {
            "gatewayName": vpn["gateway"]["name"],
            "connectionName": vpn["connection"]["name"],
            "localNetworkGatewayName": vpn["localNetworkGateway"]["name"],
        }
    assert sites[0]["vnet"]["addressSpace"] == ["10.20.0.0/16"]
    assert sites[0]["vnet"]["gatewaySubnet"] == "10.20.255.224/27"
    assert sites[0]["onPremises"] == {"addressSpace": ["10.10.0.0/16"], "applianceIp": "40.50.60.70"}


@pytest.mark.parametrize("name", ["environmentName", "location", "sites", "hybridnetSettings"])
def test_main_bicep_declares_each_parameter_given(name):
    assert re.search(rf"^param {name} ", (INFRA / "main.bicep").read_text(), re.M)
    assert name in PARAMETERS


def test_azure_yaml_points_azd_at_the_function_app():
    azure = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert azure["services"]["api"] == {"project": ".", "language": "python", "host": "function"}
    assert "'azd-service-name': 'api'" in (INFRA / "modules" / "app.bicep").read_text()
