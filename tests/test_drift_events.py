"""Which ARM events queue a reconcile (pure)."""

import json
from pathlib import Path

from shared.drift.events import OBJECT_ID_CLAIM, caller_ids, decide
from shared.spec.load import load_spec_file

SITES = load_spec_file(Path(__file__).resolve().parent.parent / "examples/seed-network.yaml").sites
LNG = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/hybrid-network-rg/providers/"
    "Microsoft.Network/localNetworkGateways/hybrid-onprem-lng"
)
APP = "11111111-2222-3333-4444-555555555555"
PERSON = "99999999-8888-7777-6666-555555555555"


def event(data, event_type="Microsoft.Resources.ResourceWriteSuccess", subject=LNG):
    return decide(
        event_id="e1", event_type=event_type, subject=subject, data=data, sites=SITES, own_principal_ids=[APP]
    )


def test_a_person_changing_a_site_resource_queues_that_site():
    decision = event({"resourceUri": LNG, "claims": {OBJECT_ID_CLAIM: PERSON}})
    assert decision.site == "seed" and decision.ignored is None


def test_the_apps_own_write_is_ignored_by_claims_object_or_json_string():
    assert "own identity" in event({"resourceUri": LNG, "claims": {OBJECT_ID_CLAIM: APP.upper()}}).ignored
    as_string = json.dumps({OBJECT_ID_CLAIM: APP})
    assert event({"resourceUri": LNG, "claims": as_string}).site is None


def test_the_apps_own_write_is_ignored_by_authorization_evidence():
    data = {"resourceUri": LNG, "claims": {}, "authorization": {"evidence": {"principalId": APP}}}
    assert event(data).site is None


def test_resources_outside_every_site_are_ignored():
    other = LNG.replace("hybrid-network-rg", "someone-else-rg")
    assert "outside" in event({"resourceUri": other}, subject=other).ignored
    storage = LNG.replace("Microsoft.Network/localNetworkGateways", "Microsoft.Storage/storageAccounts")
    assert event({"resourceUri": storage}, subject=storage).site is None


def test_unhandled_event_types_are_ignored():
    assert (
        "not handled"
        in event({"resourceUri": LNG}, event_type="Microsoft.Resources.ResourceWriteFailure").ignored
    )


def test_delete_and_action_events_are_handled():
    for kind in ("ResourceDeleteSuccess", "ResourceActionSuccess"):
        assert event({"resourceUri": LNG}, event_type=f"Microsoft.Resources.{kind}").site == "seed"


def test_caller_ids_collects_every_identity():
    data = {
        "claims": {OBJECT_ID_CLAIM: "A", "appid": "B"},
        "authorization": {"evidence": {"principalId": "C"}},
    }
    assert caller_ids(data) == {"a", "b", "c"}
