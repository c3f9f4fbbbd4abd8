"""Checks of `infra/` that run without Azure and without the Bicep CLI.

Every `.bicep` file is parsed with a real Bicep parser (pycep-parser; tests/infra_bicep.py), and the parse
tree is what these tests read: which file the templates load, which settings the app gets, which filters
the Event Grid subscription has, and the compiler's "known at the start of the deployment" rules (a loop
over runtime values, BCP178, and its kin). The facts that matter most live in JSON next to the templates,
which the Bicep loads with `loadJsonContent` (`infra/app-contract.json`: the custom roles' actions and the
Event Grid event types; `infra/sites.json`: the sites, generated from the spec). What is NOT verified here:
types against the Azure resource schemas and what ARM itself decides (README "What is checked here").

The ARM operations the app calls are derived from the code itself: every `client.<group>.<method>(...)`
in `shared/azure/*.py` (and `ops.<method>(...)` where `ops` is picked from a dict of operation groups),
with the operation groups taken from the installed azure-mgmt-network client. So a new SDK call fails
here until `shared/azure/permissions.py` maps it and the role grants exactly the new set. The linked
actions (what a request body references) are derived in tests/test_infra_links.py.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import typing
from pathlib import Path

import pytest
import yaml

from shared.azure.permissions import (
    CHILD,
    CIRCUIT_ACTIONS,
    LINKED_ACTIONS,
    REFERENCES,
    SELF,
    WRITE_MODELS,
    UnmappedOperation,
    actions_for,
    body_references,
    linked_action,
    reference_actions,
    required_actions,
    resource_type_of,
    written_groups,
)
from shared.drift.desired import desired_site
from shared.drift.events import HANDLED_TYPES
from tests.infra_bicep import Template, chain, function, load, load_text

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
CONTRACT = json.loads((INFRA / "app-contract.json").read_text())
PARAMETERS = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))


def template(relative: str) -> Template:
    return load(INFRA / relative)


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


# --- the templates parse and compile-time rules hold ------------------------------------------------


def test_every_bicep_file_is_found_and_parses():
    names = {p.relative_to(INFRA).as_posix() for p in BICEP_FILES}
    assert {"main.bicep", "modules/app.bicep", "modules/site.bicep", "modules/circuit-access.bicep"} <= names
    for path in BICEP_FILES:
        tree = load(path).tree
        assert tree.get("resources") or tree.get("modules"), f"{path}: parsed to nothing"


def test_a_syntax_error_fails_the_parse():
    from lark.exceptions import LarkError

    with pytest.raises(LarkError):
        load_text("resource x 'Microsoft.Web/sites@2024-04-01' = {\n  name: 'a'\n")  # unclosed


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_nothing_needs_a_value_known_only_during_the_deployment(path):
    assert load(path).start_of_deployment_violations() == []


OLD_APP_SETTINGS_LOOP = """
param hybridnetSettings object
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id'
  location: 'x'
}
var fixedSettings = {
  AZURE_CLIENT_ID: identity.properties.clientId
}
var allSettings = union(fixedSettings, hybridnetSettings)
resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: 'app'
  location: 'x'
  properties: {
    siteConfig: {
      appSettings: [for item in items(allSettings): { name: item.key, value: string(item.value) }]
    }
  }
}
"""


def test_the_checker_rejects_the_old_app_settings_loop_and_its_kin():
    assert any("BCP178" in p for p in load_text(OLD_APP_SETTINGS_LOOP).start_of_deployment_violations())
    kin = """
module m 'm.bicep' = {
  name: 'm'
}
resource a 'Microsoft.Web/sites@2024-04-01' existing = {
  name: m.outputs.appName
}
resource b 'Microsoft.Web/sites@2024-04-01' = if (a.properties.enabled) {
  name: 'b-${a.properties.defaultHostName}'
}
resource c 'Microsoft.Web/sites@2024-04-01' = {
  name: '${a.name}-ok'
}
"""
    problems = load_text(kin).start_of_deployment_violations()
    assert any(p.startswith("inline.bicep: a.name: BCP120 existing") for p in problems), problems
    assert any(p.startswith("inline.bicep: b.name: BCP120") for p in problems), problems
    assert any(p.startswith("inline.bicep: b: BCP177") for p in problems), problems
    assert not any(p.startswith("inline.bicep: c.") for p in problems), problems


def test_app_settings_are_the_appsettings_config_child_not_a_loop():
    app = template("modules/app.bicep")
    child = app.resources["functionApp__appSettings"]
    assert child["type"] == "Microsoft.Web/sites/config"
    assert child["config"]["name"] == "appsettings"
    kind, args = function(child["config"]["properties"])
    assert (kind, args["arg_1"], args["arg_2"]) == ("union", "fixedSettings", "hybridnetSettings")
    site_config = app.resources["functionApp"]["config"]["properties"]["siteConfig"]
    assert "appSettings" not in site_config


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


# --- what the request bodies can reference (ARM's linked access checks) -------------------------------


def _model_fields(cls: type) -> dict[str, object]:
    from azure.mgmt.network._utils.model_base import _RestField

    out: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        out.update({k: v for k, v in vars(klass).items() if isinstance(v, _RestField)})
    return out


def _writable(rest_field: object) -> bool:
    visibility = getattr(rest_field, "_visibility", None)
    return visibility is None or bool({"create", "update"} & set(visibility))


def _model_in(annotation: object) -> type | None:
    from azure.mgmt.network._utils.model_base import Model

    if isinstance(annotation, type) and issubclass(annotation, Model):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def sdk_reference_fields(root_models: set[str]) -> dict[str, str]:
    """Every writable attribute of the SDK models the code PUTs whose value is another resource (a model
    with a writable `id`), as "<Model>.<attribute>" -> the referenced model's name. Children listed as CHILD
    in REFERENCES are walked into (they travel inside the body); references are not."""
    from azure.mgmt.network import models

    found: dict[str, str] = {}
    seen: set[type] = set()

    def walk(cls: type) -> None:
        if cls in seen:
            return
        seen.add(cls)
        hints = typing.get_type_hints(cls, localns={"_models": models})
        for name, rest_field in _model_fields(cls).items():
            if name == "id" or not _writable(rest_field):
                continue
            sub = _model_in(hints.get(name))
            if sub is None:
                continue
            key = f"{cls.__name__}.{name}"
            sub_fields = _model_fields(sub)
            is_reference = "id" in sub_fields and _writable(sub_fields["id"])
            if is_reference and REFERENCES.get(key) != CHILD:
                found[key] = sub.__name__
            else:
                walk(sub)

    for model in sorted(root_models):
        walk(getattr(models, model))
    return found


def linked_reference_fields() -> set[str]:
    """The reference fields the code's request bodies can carry, from the SDK models it writes."""
    roots = {WRITE_MODELS[g] for g in written_groups(called_operations())}
    fields = sdk_reference_fields(roots)
    unmapped = sorted(set(fields) - set(REFERENCES))
    assert not unmapped, (
        "classify these body references in shared/azure/permissions.py REFERENCES: " + ", ".join(unmapped)
    )
    return set(fields)


def linked_reference_types() -> set[str]:
    return {REFERENCES[f] for f in linked_reference_fields()} - {CHILD, SELF}


def test_the_code_writes_through_every_group_it_has_a_body_model_for():
    written = written_groups(called_operations())
    assert written == set(WRITE_MODELS), f"writes: {sorted(written)}; models for: {sorted(WRITE_MODELS)}"


def test_the_body_walk_finds_the_references_issue_11_names():
    types = linked_reference_types()
    for expected in (
        "networkSecurityGroups",
        "routeTables",
        "natGateways",
        "ddosProtectionPlans",
        "serviceEndpointPolicies",
        "publicIPAddresses",
        "virtualNetworks/subnets",
        "localNetworkGateways",
        "virtualNetworkGateways",
        "expressRouteCircuits",
    ):
        assert f"Microsoft.Network/{expected}" in types, expected


def test_every_reference_field_is_classified_and_every_type_has_a_decision():
    fields = sdk_reference_fields({WRITE_MODELS[g] for g in written_groups(called_operations())})
    assert set(fields) <= set(REFERENCES), sorted(set(fields) - set(REFERENCES))
    stale = sorted(k for k, v in REFERENCES.items() if v != CHILD and k not in fields)
    assert not stale, f"REFERENCES entries the SDK models no longer have: {stale}"
    for resource_type in {v for v in REFERENCES.values() if v not in (CHILD, SELF)}:
        linked_action(resource_type)  # raises when undecided
    assert set(LINKED_ACTIONS) == {v for v in REFERENCES.values() if v not in (CHILD, SELF)}


def test_the_bodies_the_code_creates_reference_only_classified_types():
    """The create bodies (shared/drift/desired.py) for the seed, walked as plain JSON."""
    from shared.spec.load import load_spec_file

    spec = load_spec_file(ROOT / "examples" / "seed-network.yaml")
    desired = desired_site(spec.sites[0], "00000000-0000-0000-0000-000000000001")
    found = set()
    for resource in desired.resources:
        found |= body_references(resource.body, own_id=resource.id)
    assert found == {
        "Microsoft.Network/virtualNetworks/subnets",
        "Microsoft.Network/publicIPAddresses",
        "Microsoft.Network/virtualNetworkGateways",
        "Microsoft.Network/localNetworkGateways",
        "Microsoft.Network/expressRouteCircuits",
    }
    assert found <= linked_reference_types()


def test_body_references_reads_ids_anywhere_but_not_the_resource_itself():
    vnet = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v"
    body = {
        "id": vnet,
        "properties": {
            "subnets": [
                {
                    "id": f"{vnet}/subnets/a",
                    "properties": {
                        "networkSecurityGroup": {
                            "id": "/subscriptions/s/resourceGroups/o/providers/Microsoft.Network/networkSecurityGroups/n"
                        },
                        "routeTable": {
                            "id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/routeTables/r"
                        },
                    },
                }
            ]
        },
    }
    assert body_references(body, own_id=vnet) == {
        "Microsoft.Network/networkSecurityGroups",
        "Microsoft.Network/routeTables",
    }
    assert resource_type_of(f"{vnet}/subnets/a") == "Microsoft.Network/virtualNetworks/subnets"


def test_custom_roles_grant_exactly_what_the_code_calls_and_references():
    calls = required_actions(called_operations())
    linked = reference_actions(linked_reference_fields())
    required = calls | linked
    network = set(CONTRACT["networkRoleActions"])
    circuit = set(CONTRACT["circuitRoleActions"])
    assert network | circuit == required, (
        f"missing: {sorted(required - network - circuit)}; not needed: {sorted((network | circuit) - required)}"
    )
    assert circuit == set(CIRCUIT_ACTIONS) & required
    assert not network & circuit


def test_the_role_grants_the_join_actions_for_what_subnets_reference():
    network = set(CONTRACT["networkRoleActions"])
    for kind in (
        "networkSecurityGroups",
        "routeTables",
        "natGateways",
        "ddosProtectionPlans",
        "serviceEndpointPolicies",
    ):
        assert f"Microsoft.Network/{kind}/join/action" in network, kind
    assert "Microsoft.Network/virtualNetworks/subnets/join/action" in network
    assert "Microsoft.Network/publicIPAddresses/join/action" in network


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
    main = template("main.bicep")
    kind, args = function(main.variables["contract"]["value"])
    assert (kind, args["file_path"]) == ("load_json_content", "app-contract.json")
    roles = {name: main.resources[name]["config"]["properties"] for name in ("networkRole", "circuitRole")}
    assert chain(roles["networkRole"]["permissions"][0]["actions"]) == "contract.networkRoleActions"
    assert chain(roles["circuitRole"]["permissions"][0]["actions"]) == "contract.circuitRoleActions"
    assert roles["networkRole"]["assignableScopes"] == "siteScopes"
    assert roles["circuitRole"]["assignableScopes"] == "circuitScopes"
    everything = "\n".join(p.read_text() for p in BICEP_FILES)
    # No built-in Network Contributor (4d97b98b-1d4f-4787-a291-c67834d212e7), no "*" actions anywhere.
    assert "4d97b98b-1d4f-4787-a291-c67834d212e7" not in everything
    assert not re.search(r"'[^']*Microsoft\.Network/\*", everything)
    site = template("modules/site.bicep")
    assert site.tree["globals"]["scope"]["value"] == "resourceGroup"
    assignment = site.resources["networkRoleAssignment"]["config"]["properties"]
    assert assignment["roleDefinitionId"] == "networkRoleId"


def test_the_circuit_role_id_is_built_in_the_circuits_own_subscription():
    main = template("main.bicep")
    circuit = main.modules["circuitAccess"]["config"]
    assert chain(circuit["loop_type"]["detail"]["array_name"]) == "siteData.circuits"
    kind, args = function(circuit["config"]["scope"])
    assert kind == "resource_group"
    assert chain(args["subscription_id"]) == "c.subscriptionId"
    assert chain(args["resource_group_name"]) == "c.resourceGroup"
    # main passes the role's name (a GUID), never its id (which would name main's subscription)
    assert chain(circuit["config"]["params"]["circuitRoleName"]) == "circuitRole.name"
    access = template("modules/circuit-access.bicep")
    kind, args = function(access.variables["circuitRoleId"]["value"])
    assert kind == "subscription_resource_id"
    assert args["subscription_id"] is None  # the module's deployment subscription: the circuit's
    assert (args["resource_type"], args["resource_name_1"]) == (
        "Microsoft.Authorization/roleDefinitions",
        "circuitRoleName",
    )
    assert access.resources["circuitJoin"]["config"]["properties"]["roleDefinitionId"] == "circuitRoleId"


# --- Event Grid -------------------------------------------------------------------------------------


def _subscription_properties() -> dict:
    site = template("modules/site.bicep")
    kind, args = function(site.resources["toApp"]["config"]["config"]["properties"])
    assert kind == "union"
    return args["arg_1"]


def test_event_subscription_includes_exactly_the_handled_event_types():
    assert set(CONTRACT["includedEventTypes"]) == set(HANDLED_TYPES)
    assert len(CONTRACT["includedEventTypes"]) == len(HANDLED_TYPES)
    assert _subscription_properties()["filter"]["includedEventTypes"] == "includedEventTypes"
    params = template("main.bicep").modules["site"]["config"]["config"]["params"]
    assert chain(params["includedEventTypes"]) == "contract.includedEventTypes"


def test_event_subscription_targets_the_event_grid_trigger_and_filters_our_own_writes():
    drift = (ROOT / "shared" / "triggers" / "drift.py").read_text()
    assert re.search(r"def arm_event\(", drift)
    props = _subscription_properties()
    assert props["destination"]["endpointType"] == "AzureFunction"
    assert props["destination"]["properties"]["resourceId"] == "${functionAppId}/functions/arm_event"
    assert props["filter"]["subjectBeginsWith"].endswith("/providers/Microsoft.Network/")
    # Only the appid claim: the role evidence's principalId (a three-level key, absent from Microsoft's
    # ResourceWriteSuccess example) is dropped; the app re-checks every claim (shared/drift/events.py).
    assert (CONTRACT["appEventFilter"]["operatorType"], CONTRACT["appEventFilter"]["key"]) == (
        "StringNotIn",
        "data.claims.appid",
    )
    filters = props["filter"]["advancedFilters"]
    assert len(filters) == 1
    assert chain(filters[0]["operatorType"]) == "appEventFilter.operatorType"
    assert chain(filters[0]["key"]) == "appEventFilter.key"
    assert filters[0]["values"] == ["clientId"]
    params = template("main.bicep").modules["site"]["config"]["config"]["params"]
    assert chain(params["appEventFilter"]) == "contract.appEventFilter"
    assert "retryPolicy" in props
    site = template("modules/site.bicep")
    dead_letter = site.variables["ownDeadLetter"]["value"]
    assert "deadLetterWithResourceIdentity" in dead_letter


def test_an_existing_system_topic_is_used_instead_of_creating_a_second_one():
    site = template("modules/site.bicep")
    assert site.tree["parameters"]["existingTopicName"]["default"] == ""
    topic = site.resources["topic"]["config"]
    assert chain(topic["condition"]) != "wireEventGrid"  # created only when no topic exists
    assert "ownTopic" in json.dumps(topic["condition"])
    assert topic["config"]["name"] == "topicName"
    assert site.resources["toApp"]["config"]["config"]["name"] == "${topicName}/hybridnet-arm-event"
    main = template("main.bicep")
    assert "existingSystemTopics" in main.tree["parameters"]
    site_module = main.modules["site"]["config"]
    assert chain(site_module["loop_type"]["detail"]["array_name"]) == "siteData.resourceGroups"
    assert "existingSystemTopics" in json.dumps(site_module["config"]["params"]["existingTopicName"])
    assert PARAMETERS["existingSystemTopics"]["value"] == {}


# --- app settings -----------------------------------------------------------------------------------


def _infra_app_settings() -> set[str]:
    """The keys of app.bicep's `fixedSettings` object, plus the keys of the `hybridnetSettings` parameter
    (both merged into the `appsettings` config child)."""
    fixed = template("modules/app.bicep").variables["fixedSettings"]["value"]
    assert isinstance(fixed, dict) and fixed, "app.bicep: `var fixedSettings = {...}` not found"
    return set(fixed) | set(PARAMETERS["hybridnetSettings"]["value"])


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


@pytest.mark.parametrize(
    "name", ["environmentName", "location", "hybridnetSettings", "existingSystemTopics", "keyVaultCreateMode"]
)
def test_main_bicep_declares_each_parameter_given(name):
    assert name in template("main.bicep").tree["parameters"]
    assert name in PARAMETERS


def test_every_parameter_given_is_declared():
    assert set(PARAMETERS) <= set(template("main.bicep").tree["parameters"])


def test_azure_yaml_points_azd_at_the_function_app():
    azure = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert azure["services"]["api"] == {"project": ".", "language": "python", "host": "function"}
    tags = template("modules/app.bicep").resources["functionApp"]["config"]["tags"]
    assert function(tags)[1]["arg_2"] == {"'azd-service-name'": "api"}
