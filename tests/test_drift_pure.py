"""spec -> desired -> diff -> plan, on plain data only (no I/O)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from shared.drift.apply import Outcome, WriteError, apply_plan
from shared.drift.desired import desired_site
from shared.drift.diff import diff
from shared.drift.findings import FindingKind, FixClass, Severity
from shared.drift.observed import ObservedResource, lookup, observed_site
from shared.drift.plan import Mode, Operation, plan, set_path
from shared.drift.resources import Kind
from shared.spec.load import load_spec_file

SEED = load_spec_file(Path(__file__).resolve().parent.parent / "examples/seed-network.yaml").sites[0]
SUB = "00000000-0000-0000-0000-000000000000"
RG = f"/subscriptions/{SUB}/resourceGroups/hybrid-network-rg/providers/Microsoft.Network"


def in_sync() -> dict[str, ObservedResource]:
    """What ARM would show right after the desired state was applied."""
    out: dict[str, ObservedResource] = {}
    for resource in desired_site(SEED, SUB).resources:
        body = copy.deepcopy(dict(resource.body))
        body.update(id=resource.id, name=resource.name, etag='W/"1"')
        body.setdefault("properties", {})["provisioningState"] = "Succeeded"
        out[resource.id] = ObservedResource(resource.kind, resource.id, body)
    return out


def observe(resources: dict[str, ObservedResource], *, listed=frozenset(Kind)):
    return observed_site("seed", list(resources.values()), listed)


def edit(resources: dict[str, ObservedResource], resource_id: str, path: str, value) -> None:
    body = copy.deepcopy(dict(resources[resource_id].body))
    set_path(body, path, value)
    resources[resource_id] = ObservedResource(resources[resource_id].kind, resource_id, body)


def findings_for(resources, **kwargs):
    return diff(desired_site(SEED, SUB), observe(resources, **kwargs))


def test_in_sync_has_no_findings_and_an_empty_plan():
    resources = in_sync()
    assert findings_for(resources) == []
    assert plan(desired_site(SEED, SUB), observe(resources), [], Mode.ENFORCE).empty


def test_lng_prefix_change_is_safe_and_flagged_as_traffic_stealing():
    resources = in_sync()
    lng = f"{RG}/localNetworkGateways/hybrid-onprem-lng"
    edit(resources, lng, "properties.localNetworkAddressSpace.addressPrefixes", ["10.10.1.0/24"])
    findings = findings_for(resources)
    assert {f.kind for f in findings} == {FindingKind.MISMATCH}
    assert all(f.safe_to_fix for f in findings)
    stealing = [f for f in findings if "traffic-stealing" in f.message]
    assert len(stealing) == 1 and stealing[0].severity is Severity.CRITICAL
    the_plan = plan(desired_site(SEED, SUB), observe(resources), findings, Mode.ENFORCE)
    (action,) = the_plan.actions
    assert action.operation is Operation.UPDATE and action.if_match == 'W/"1"'
    assert lookup(action.body, "properties.localNetworkAddressSpace.addressPrefixes") == ["10.10.0.0/16"]


def test_routing_weight_and_ike_version():
    resources = in_sync()
    vpn = f"{RG}/connections/hybrid-vpn-connection"
    edit(resources, vpn, "properties.routingWeight", 50)
    edit(resources, vpn, "properties.connectionProtocol", "IKEv1")
    findings = findings_for(resources)
    assert sorted(f.field for f in findings) == ["properties.connectionProtocol", "properties.routingWeight"]
    (action,) = plan(desired_site(SEED, SUB), observe(resources), findings, Mode.ENFORCE).actions
    assert action.body["properties"]["routingWeight"] == 0
    assert action.body["properties"]["connectionProtocol"] == "IKEv2"


def test_missing_connection_is_recreated_with_a_key_supplied_at_apply_time():
    resources = in_sync()
    del resources[f"{RG}/connections/hybrid-vpn-connection"]
    findings = findings_for(resources)
    assert [(f.kind, f.fix) for f in findings] == [(FindingKind.MISSING, FixClass.SAFE)]
    the_plan = plan(desired_site(SEED, SUB), observe(resources), findings, Mode.ENFORCE)
    (action,) = the_plan.actions
    assert action.operation is Operation.CREATE and action.needs_shared_key
    assert "sharedKey" not in action.body["properties"]
    assert "sharedKey" not in str(the_plan.to_json())


def test_rogue_connection_is_unexpected_and_never_deleted():
    resources = in_sync()
    rogue = f"{RG}/connections/someone-elses-tunnel"
    resources[rogue] = ObservedResource(
        Kind.CONNECTION,
        rogue,
        {
            "id": rogue,
            "name": "someone-elses-tunnel",
            "location": "eastus",
            "properties": {
                "connectionType": "IPsec",
                "virtualNetworkGateway1": {"id": f"{RG}/virtualNetworkGateways/HYBRID-VPN-GW"},
            },
        },
    )
    (finding,) = findings_for(resources)
    assert finding.kind is FindingKind.UNEXPECTED and finding.fix is FixClass.FORBIDDEN
    the_plan = plan(desired_site(SEED, SUB), observe(resources), [finding], Mode.ENFORCE_DISRUPTIVE)
    assert the_plan.empty and the_plan.refused[0].reason.startswith("forbidden")


def test_sku_downgrade_is_disruptive_refused_under_enforce_planned_under_enforce_disruptive():
    resources = in_sync()
    edit(resources, f"{RG}/virtualNetworkGateways/hybrid-vpn-gw", "properties.sku.name", "VpnGw1AZ")
    findings = findings_for(resources)
    assert [f.fix for f in findings] == [FixClass.DISRUPTIVE]
    enforce = plan(desired_site(SEED, SUB), observe(resources), findings, Mode.ENFORCE)
    assert enforce.empty and "enforce-disruptive" in enforce.refused[0].reason
    disruptive = plan(desired_site(SEED, SUB), observe(resources), findings, Mode.ENFORCE_DISRUPTIVE)
    assert [a.fix for a in disruptive.actions] == [FixClass.DISRUPTIVE]


def test_gateway_type_change_is_forbidden():
    resources = in_sync()
    edit(resources, f"{RG}/virtualNetworkGateways/hybrid-vpn-gw", "properties.vpnType", "PolicyBased")
    (finding,) = findings_for(resources)
    assert finding.fix is FixClass.FORBIDDEN and "re-created" in finding.message


def test_nsg_on_gateway_subnet_is_detached_safely():
    resources = in_sync()
    subnet = f"{RG}/virtualNetworks/hybrid-vnet/subnets/GatewaySubnet"
    edit(resources, subnet, "properties.networkSecurityGroup", {"id": f"{RG}/networkSecurityGroups/nsg1"})
    (finding,) = findings_for(resources)
    assert finding.safe_to_fix and "nsg1" in finding.message
    (action,) = plan(desired_site(SEED, SUB), observe(resources), [finding], Mode.ENFORCE).actions
    assert action.kind is Kind.SUBNET and "networkSecurityGroup" not in action.body["properties"]


def test_gateway_subnet_prefix_change_is_forbidden():
    resources = in_sync()
    edit(
        resources,
        f"{RG}/virtualNetworks/hybrid-vnet/subnets/GatewaySubnet",
        "properties.addressPrefix",
        "10.20.0.0/27",
    )
    (finding,) = findings_for(resources)
    assert finding.fix is FixClass.FORBIDDEN and finding.severity is Severity.CRITICAL


def test_failed_provisioning_is_reapplied():
    resources = in_sync()
    edit(resources, f"{RG}/virtualNetworkGateways/hybrid-er-gw", "properties.provisioningState", "Failed")
    (finding,) = findings_for(resources)
    assert finding.kind is FindingKind.FAILED_PROVISIONING and finding.safe_to_fix


def test_wrong_location_is_misplaced():
    resources = in_sync()
    edit(resources, f"{RG}/localNetworkGateways/hybrid-onprem-lng", "location", "westeurope")
    (finding,) = findings_for(resources)
    assert finding.kind is FindingKind.MISPLACED and finding.fix is FixClass.FORBIDDEN


def test_public_ips_are_checked_only_when_listed():
    resources = in_sync()
    del resources[f"{RG}/publicIPAddresses/hybrid-vpn-gw-pip"]
    assert findings_for(resources, listed=frozenset(Kind) - {Kind.PUBLIC_IP}) == []
    (finding,) = findings_for(resources)
    assert finding.kind is FindingKind.MISSING


def test_empty_resource_group_plans_the_whole_site_in_dependency_order():
    findings = diff(desired_site(SEED, SUB), observed_site("seed", []))
    assert {f.kind for f in findings} == {FindingKind.MISSING}
    the_plan = plan(desired_site(SEED, SUB), observed_site("seed", []), findings, Mode.ENFORCE)
    order = [a.name for a in the_plan.actions]
    assert all(a.operation is Operation.CREATE for a in the_plan.actions)
    assert order.index("hybrid-vnet") < order.index("hybrid-er-gw")
    assert (
        order.index("hybrid-vpn-gw-pip") < order.index("hybrid-vpn-gw") < order.index("hybrid-vpn-connection")
    )
    assert order.index("hybrid-onprem-lng") < order.index("hybrid-vpn-connection")
    assert "GatewaySubnet" not in order  # created with the VNet
    connection = next(a for a in the_plan.actions if a.name == "hybrid-vpn-connection")
    assert {d.rsplit("/", 1)[-1] for d in connection.depends_on} == {"hybrid-vpn-gw", "hybrid-onprem-lng"}


class RecordingWriter:
    def __init__(self, fail: set[str] = frozenset()):
        self.calls: list[tuple[str, dict, str | None, bool]] = []
        self.fail = fail

    def put(self, kind, resource_id, body, *, if_match, create_only):
        self.calls.append((resource_id.rsplit("/", 1)[-1], dict(body), if_match, create_only))
        if resource_id.rsplit("/", 1)[-1] in self.fail:
            raise WriteError("ARM answered 500 InternalServerError")


def test_apply_skips_dependents_of_a_failed_action_and_keeps_the_key_out_of_results():
    findings = diff(desired_site(SEED, SUB), observed_site("seed", []))
    the_plan = plan(desired_site(SEED, SUB), observed_site("seed", []), findings, Mode.ENFORCE)
    writer = RecordingWriter(fail={"hybrid-vpn-gw"})
    results = apply_plan(the_plan, writer, new_shared_key=lambda: "k3yNeverShown")
    by_name = {r.action.name: r for r in results}
    assert by_name["hybrid-vpn-gw"].outcome is Outcome.FAILED
    assert by_name["hybrid-vpn-connection"].outcome is Outcome.SKIPPED
    assert by_name["hybrid-er-connection"].outcome is Outcome.APPLIED
    er_call = next(c for c in writer.calls if c[0] == "hybrid-er-connection")
    assert er_call[3] is True  # create-only: If-None-Match
    assert "k3yNeverShown" not in repr([r.to_json() for r in results])


def test_report_mode_writes_nothing():
    findings = diff(desired_site(SEED, SUB), observed_site("seed", []))
    the_plan = plan(desired_site(SEED, SUB), observed_site("seed", []), findings, Mode.REPORT)
    writer = RecordingWriter()
    results = apply_plan(the_plan, writer, new_shared_key=lambda: pytest.fail("no key in report mode"))
    assert writer.calls == [] and {r.outcome for r in results} == {Outcome.NOT_RUN}


def test_a_spent_time_budget_starts_no_more_actions():
    findings = diff(desired_site(SEED, SUB), observed_site("seed", []))
    the_plan = plan(desired_site(SEED, SUB), observed_site("seed", []), findings, Mode.ENFORCE)
    ticks = iter(range(100))
    writer = RecordingWriter()
    results = apply_plan(the_plan, writer, new_shared_key=lambda: "k", deadline=3, clock=lambda: next(ticks))
    assert [r.outcome for r in results[:3]] == [Outcome.APPLIED] * 3
    assert {r.outcome for r in results[3:]} == {Outcome.SKIPPED} and len(writer.calls) == 3
    assert "time budget" in results[3].detail


def test_a_resource_being_changed_is_not_planned_over():
    resources = in_sync()
    lng = f"{RG}/localNetworkGateways/hybrid-onprem-lng"
    edit(resources, lng, "properties.gatewayIpAddress", "40.50.60.99")
    edit(resources, lng, "properties.provisioningState", "Updating")
    assert findings_for(resources) == []


def test_a_missing_key_source_fails_only_the_connection_it_was_for():
    findings = diff(desired_site(SEED, SUB), observed_site("seed", []))
    the_plan = plan(desired_site(SEED, SUB), observed_site("seed", []), findings, Mode.ENFORCE)

    def no_vault() -> str:
        raise RuntimeError("Key Vault answered 503")

    results = {r.action.name: r for r in apply_plan(the_plan, RecordingWriter(), new_shared_key=no_vault)}
    assert results["hybrid-vpn-connection"].outcome is Outcome.FAILED
    assert "no pre-shared key" in results["hybrid-vpn-connection"].detail
    assert results["hybrid-er-connection"].outcome is Outcome.APPLIED
