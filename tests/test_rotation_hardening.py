"""Issue 12 items 1, 3, 4, 5: no two sites share a secret; a rollback never loses a key set by hand; a
new key reaches the appliance only once Azure has it; exactly one `previous`; rollback reasons say
what was observed. Pure checks plus the simulator (ARM + Key Vault, real SDKs) and Azurite."""

from __future__ import annotations

import json
import logging
import random
import re
import string

import pytest
import yaml

from shared.azure.keyvault import secret_name, staged_secret_name
from shared.azure.rotation_store import history
from shared.azure.tables import table_service
from shared.services.rotation import rotation_status
from shared.spec import SpecError, parse_data
from shared.spec.rules import check_derived_names
from tests import test_rotation_e2e
from tests.helpers import wait_for
from tests.stack import APPLIANCE, CIRCUIT, SEED_PATH
from tests.test_rotation_e2e import Rig, same_key

rig = test_rotation_e2e.rig  # the simulator + Azurite fixture of the rotation tests

KEY_VAULT_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")


# --- item 1: site name -> secret name is injective ------------------------------------------------


def test_sites_a_b_and_a_dash_b_get_different_secrets() -> None:
    assert secret_name("a_b") != secret_name("a-b")
    assert secret_name("a_b").casefold() != secret_name("A-B").casefold()  # Key Vault ignores case
    assert secret_name("seed") == "ipsec-seed" and secret_name("west-eu") == "ipsec-west-eu"  # unchanged


def test_the_secret_name_mapping_is_injective_and_valid_for_key_vault() -> None:
    alphabet = string.ascii_lowercase[:3] + "0-_"
    rng = random.Random(12)
    names = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(20000)}
    names |= {"-", "_", "--", "a--b", "a-", "-a", "a_", "_a", "a-d", "a-u", "a-ub", "x" * 63}
    derived: dict[str, str] = {}
    for name in sorted(names):
        for kind, derive in (("secret", secret_name), ("staged", staged_secret_name)):
            secret = derive(name)
            assert KEY_VAULT_NAME.fullmatch(secret), secret
            other = derived.setdefault(secret.casefold(), f"{kind}:{name}")
            assert other == f"{kind}:{name}", f"{kind}:{name} and {other} both map to {secret}"


def _spec(*names: str) -> dict:
    """The seed site repeated under `names`, each in its own resource group and address range."""
    document = yaml.safe_load(SEED_PATH.read_text())
    text = json.dumps(document["sites"][0])
    document["sites"] = [
        {
            **json.loads(text.replace("10.20.", f"10.{100 + i}.")),
            "name": name,
            "resourceGroup": f"rg-{i}",
        }
        for i, name in enumerate(names)
    ]
    return document


def _store(rig: Rig, value: str, tags: dict[str, str]) -> None:
    """A version written outside this site's rotations (another site, an older release)."""
    from shared.azure.keyvault import KeyEscrow

    KeyEscrow(rig.settings.keyvault_url or "", rig.settings.arm_ca_bundle).store(rig.secret, value, tags)


def test_validate_accepts_a_b_and_a_dash_b_and_rejects_derived_names_that_do_not_fit() -> None:
    spec = parse_data(_spec("a_b", "a-b"))
    assert [s.name for s in spec.sites] == ["a_b", "a-b"]
    too_long = "a" + "-_" * 31  # 63 characters: a valid site name, but its escaped secret name is 133
    with pytest.raises(SpecError) as rejected:
        parse_data(_spec("ok", too_long))
    assert any(
        "sites[1].name" in e and "Key Vault secret name" in e and "127" in e for e in rejected.value.errors
    ), rejected.value.errors


def test_the_derived_name_rule_reports_a_collision() -> None:
    """The rule itself, fed the old mapping ('_' -> '-') that made `a_b` and `a-b` share a secret."""
    old = (("Key Vault", "secret", lambda s: "ipsec-" + s.replace("_", "-"), lambda _n: None),)
    spec = parse_data(_spec("a_b", "a-b"))
    errors = check_derived_names([(f"sites[{i}]", s) for i, s in enumerate(spec.sites)], old)
    assert errors == [
        "sites[1].name: site 'a-b' and site 'a_b' (sites[0]) would share Key Vault name 'ipsec-a-b' "
        "(secret / secret); rename one of them"
    ]


def test_versions_of_another_site_in_the_same_secret_are_left_alone(rig: Rig) -> None:
    """A secret two sites shared under the old mapping: versions are filtered by their `site` tag."""
    other = "OtherSitesKey0123456789"
    rig.keys.append(other)
    _store(rig, other, {"site": "someone-else", "state": "active"})
    outcome = rig.rotate(manual=True)
    assert outcome.phase == "awaiting-peer", outcome.to_json()
    mine = [v for v in rig.versions() if v["tags"].get("site") == rig.site.name]
    foreign = [v for v in rig.versions() if v["tags"].get("site") == "someone-else"]
    assert [v["tags"]["state"] for v in mine] == ["active", "pending"]
    assert [v["tags"]["state"] for v in foreign] == ["active"]  # not superseded by this site's rotation
    rig.keys.append(rig.azure_key())


# --- item 3: rollback escrows Azure's current key first --------------------------------------------


def test_a_key_set_by_hand_is_escrowed_before_a_rollback_overwrites_it(rig: Rig) -> None:
    old_key = rig.keys[0]
    assert rig.rotate(manual=True).phase == "awaiting-peer"
    rig.keys.append(rig.azure_key())
    by_hand = "SetByHandBeforeRollback77"
    rig.keys.append(by_hand)
    rig.set_azure_key(by_hand)
    rig.control.set_circuit(CIRCUIT, up=False)
    outcome = rig.rotate()
    assert outcome.phase == "rolled-back" and outcome.error is None
    same_key(rig.azure_key(), old_key, "Azure has the old key again")
    versions = rig.control.vault_secret_versions(rig.secret, reveal=True)
    kept = [v["tags"] for v in versions if v.get("value") == by_hand]  # tags only: never print a key
    assert len(kept) == 1 and kept[0]["source"] == "azure"
    assert kept[0]["state"] == "superseded" and kept[0]["overwrittenBy"].endswith("-rollback")
    active = [v["value"] for v in versions if v["tags"]["state"] == "active"]
    same_key(active[0] if len(active) == 1 else "", old_key, "the one active version holds the old key")


# --- item 4: publish only once Azure has the key ---------------------------------------------------


def test_a_failed_key_write_never_reaches_the_appliance(rig: Rig) -> None:
    """500 on set-shared-key: the appliance, fetching the latest version of its secret as on-premises
    automation does, keeps the key Azure has; the tunnel stays up."""
    rig.fail_next_key_write()
    failed = rig.rotate(manual=True)
    assert failed.error and "500" in failed.error and failed.phase == "escrowed"
    same_key(rig.azure_key(), rig.keys[0], "Azure's key is unchanged")
    rig.control.appliance_pickup(APPLIANCE, rig.secret)  # latest version of the appliance's secret
    assert rig.vpn_status() == "Connected"  # Azure and the appliance agree
    assert "pending" not in rig.roles()  # nothing offered to the appliance
    rig.keys.append(rig.staged_value())
    resumed = rig.rotate()
    assert resumed.phase == "awaiting-peer" and rig.roles() == ["active", "pending"]
    same_key(rig.azure_key(), rig.keys[-1], "Azure has the new key")
    rig.control.appliance_pickup(APPLIANCE, rig.secret)
    assert rig.vpn_status() == "Connected" and rig.rotate().phase == "completed"
    staged = rig.control.vault_secret_versions(staged_secret_name(rig.site.name))
    assert [v["tags"]["state"] for v in staged] == ["published"]


def test_an_appliance_following_key_vault_never_takes_a_key_azure_refused(rig: Rig) -> None:
    rig.control.appliance_follow(APPLIANCE, rig.secret, delay_seconds=0)
    rig.fail_next_key_write()
    assert rig.rotate(manual=True).phase == "escrowed"
    # No wait needed: a pickup is due at once after a version write, and the simulator served several
    # later requests of that run (the key read, the refused key write) after any such write.
    writes = [r for r in rig.control.requests() if r["method"] == "PUT" and r["path"].endswith("/sharedkey")]
    assert [w["status"] for w in writes] == [500]
    same_key(rig.azure_key(), rig.keys[0], "Azure's key is unchanged")
    assert rig.vpn_status() == "Connected"
    rig.keys.append(rig.staged_value())
    resumed = rig.rotate()  # Azure has it now: published, and the appliance follows
    assert resumed.phase in ("awaiting-peer", "completed") and resumed.steps[:2] == ["apply", "peer-down"]
    wait_for(lambda: rig.vpn_status() == "Connected", 5, what="the VPN to be Connected")
    same_key(rig.azure_key(), rig.keys[-1], "Azure has the new key")


# --- item 5: one previous; rollback reasons from observation ----------------------------------------


def test_exactly_one_previous_version_after_several_rotations(rig: Rig) -> None:
    for _ in range(3):
        assert rig.rotate(manual=True).phase == "awaiting-peer"
        rig.keys.append(rig.azure_key())
        rig.control.appliance_pickup(APPLIANCE, rig.secret)
        assert rig.rotate().phase == "completed"
    roles = rig.roles()
    assert roles.count("previous") == 1 and roles.count("active") == 1
    assert roles[-2:] == ["previous", "active"] and set(roles[:-2]) == {"superseded"}


def test_a_rollback_before_the_key_was_applied_says_so(rig: Rig) -> None:
    rig.fail_next_key_write()
    assert rig.rotate(manual=True).phase == "escrowed"
    rig.control.set_circuit(CIRCUIT, up=False)
    assert rig.rotate().phase == "rolled-back"
    detail = history(table_service(rig.settings), rig.site.name)[0]["detail"]
    assert "before the new key was applied" in detail and "Azure still had the previous key" in detail
    assert "never offered to the appliance" in detail
    assert "the peer had not taken the new key" not in detail
    event = [e for e in rig.control.topic_events() if e["type"] == "Hybridnet.Rotation.RolledBack"][-1]
    assert event["data"]["detail"] == detail
    rig.keys.append(rig.staged_value())


def test_a_rollback_while_waiting_for_the_peer_names_what_was_seen(rig: Rig) -> None:
    assert rig.rotate(manual=True).phase == "awaiting-peer"
    rig.keys.append(rig.azure_key())
    rig.control.set_circuit(CIRCUIT, up=False)
    assert rig.rotate().phase == "rolled-back"
    detail = history(table_service(rig.settings), rig.site.name)[0]["detail"]
    assert detail.startswith("ExpressRoute went NotConnected while the VPN connection was NotConnected")
    assert "the previous key is restored in Azure" in detail and "tagged rolled-back" in detail


# --- secrecy across the new paths -------------------------------------------------------------------


def test_no_key_leaks_from_adoption_staging_publishing_or_rollback_escrow(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    outcomes = [rig.rotate()]  # adoption
    rig.fail_next_key_write()
    outcomes.append(rig.rotate(manual=True))  # staged, write failed
    rig.keys.append(rig.staged_value())
    outcomes.append(rig.rotate())  # applied and published
    by_hand = "HandSetKeyNeverLogged9"
    rig.keys.append(by_hand)
    rig.set_azure_key(by_hand)
    rig.control.set_circuit(CIRCUIT, up=False)
    outcomes.append(rig.rotate())  # escrows the hand-set key, rolls back
    assert outcomes[0].steps == ["adopt"] and outcomes[-1].phase == "rolled-back"
    tables = table_service(rig.settings)
    rows = [dict(e) for t in tables.list_tables() for e in tables.get_table_client(t.name).list_entities()]
    places = {
        "log output": caplog.text + "\n".join(str(r.args) for r in caplog.records),
        "table entities": json.dumps(rows, default=str),
        "outcomes": json.dumps([o.to_json() for o in outcomes]),
        "cloud events": json.dumps(rig.control.topic_events()),
        "rotation status": json.dumps(rotation_status(tables, rig.site)),
        "vault listing": json.dumps(rig.versions()),
        "staging listing": json.dumps(rig.control.vault_secret_versions(staged_secret_name(rig.site.name))),
    }
    assert len(rig.keys) >= 3
    for key in rig.keys:
        for where, text in places.items():
            if key in text:
                raise AssertionError(f"a shared key leaked into {where}")  # (the key is not printed)


def test_a_rotation_escrowed_by_an_earlier_release_resumes(rig: Rig) -> None:
    """An earlier release escrowed the new key straight as `pending` (no staging secret): resumed, that
    key is applied and stays the one pending version, and no second key is made."""
    from shared.azure.keyvault import KeyEscrow
    from shared.azure.rotation_store import load_state, save_state
    from shared.rotation.machine import Phase, RotationState

    assert rig.rotate().steps == ["adopt"]
    (active,) = rig.versions()
    legacy_key = "EscrowedByAnEarlierRelease1"
    rig.keys.append(legacy_key)
    vault = KeyEscrow(rig.settings.keyvault_url or "", rig.settings.arm_ca_bundle)
    tags = {"site": rig.site.name, "state": "pending", "rotationId": "legacy"}
    pending = vault.store(rig.secret, legacy_key, tags)
    tables = table_service(rig.settings)
    _, etag = load_state(tables, rig.site.name)
    state = RotationState(
        phase=Phase.ESCROWED,
        rotation_id="legacy",
        pending_version=pending,
        previous_version=active["version"],
    )
    save_state(tables, rig.site.name, state, etag, step="escrow")
    resumed = rig.rotate()
    assert resumed.error is None and resumed.steps == ["apply", "peer-down"], resumed.to_json()
    same_key(rig.azure_key(), legacy_key, "the escrowed key is applied")
    assert rig.roles() == ["active", "pending"] and len(rig.keys) == 2
