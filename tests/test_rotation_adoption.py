"""Issue 11 item 2: a first deployment never rotates a live key. A key hybridnet did not create is
adopted (escrowed as `active`, tag `adoptedAt`, Azure unchanged); HYBRIDNET_ROTATION_MODE=report and
`rotation.enabled: false` (both the defaults) keep due keys from being rotated; the HTTP trigger
answers 409 with a code; the health report says which sites are not enabled. Simulator + Azurite."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import azure.functions as func
import pytest

from hybridnet_dev.azurite import Azurite
from shared.azure.rotation_store import history, load_state
from shared.azure.tables import table_service
from shared.report.schema import HEALTH_SCHEMA
from shared.report.text import render_text
from shared.services.rotation import NOT_ENABLED, REPORT_MODE
from tests.helpers import post_json, wait_for
from tests.stack import APPLIANCE, app_host, fire_function
from tests.test_rotation_e2e import Rig, rotation_rig, same_key

RigFactory = Callable[..., Rig]


@pytest.fixture
def make_rig(azurite: Azurite, tmp_path: Path) -> Iterator[RigFactory]:
    """A fresh simulator with a site of its own; `enabled` writes `rotation.enabled` into the spec (None:
    left out, the default), `mode` sets HYBRIDNET_ROTATION_MODE (None: not set, the default)."""
    with ExitStack() as rigs:

        def make(*, enabled: bool | None = None, mode: str | None = None) -> Rig:
            site = f"adopt-{uuid.uuid4().hex[:8]}"
            return rigs.enter_context(
                rotation_rig(
                    storage=azurite.connection_string,
                    spec_dir=tmp_path,
                    site=site,
                    enabled=enabled,
                    mode=mode,
                )
            )

        yield make


def _key_writes(rig: Rig) -> list[dict]:
    return [r for r in rig.control.requests() if r["method"] == "PUT" and r["path"].endswith("/sharedkey")]


def _steps(rig: Rig) -> list[str]:
    return [row["step"] for row in history(table_service(rig.settings), rig.site.name, limit=100)]


def _queue_drained(rig: Rig) -> bool:
    """Every queued work item was handled: a message is deleted only after its invocation returned."""
    from azure.storage.queue import QueueClient

    queue = QueueClient.from_connection_string(rig.settings.tables_connection_string, "hybridnet-rotation")
    return queue.get_queue_properties().approximate_message_count == 0


def test_a_fresh_deploy_adopts_the_key_and_never_changes_azure(make_rig: RigFactory) -> None:
    """Empty tables, empty vault, a key on the connection, default settings; the rotation timer fires
    three times: the key in Azure is unchanged and Key Vault holds it as `active`, tagged adopted."""
    rig = make_rig()  # rotation.enabled left out, HYBRIDNET_ROTATION_MODE not set
    assert rig.settings.rotation_mode == "report" and not rig.site.rotation.enabled
    original = rig.azure_key()
    rig.control.clear_requests()
    with app_host() as host:
        for run in range(3):
            before = len([o for o in host.outputs if o.function == "rotation_timer"])
            fire_function(host.info, "rotation_timer")
            wait_for(
                lambda before=before: (
                    len([o for o in host.outputs if o.function == "rotation_timer"]) > before
                ),
                20,
                what=f"timer run {run} to queue its work",
            )
            if run == 0:
                wait_for(
                    lambda: load_state(table_service(rig.settings), rig.site.name)[0].adopted_at,
                    20,
                    what="adoption",
                )
            wait_for(lambda: _queue_drained(rig), 20, what=f"the work of timer run {run} to be handled")
    same_key(rig.azure_key(), original, "Azure's key is unchanged")
    assert _key_writes(rig) == []
    versions = rig.control.vault_secret_versions(rig.secret, reveal=True)
    assert [v["tags"]["state"] for v in versions] == ["active"]
    (adopted,) = versions
    same_key(adopted["value"], original, "Key Vault holds the key found in Azure")
    assert adopted["tags"]["source"] == "adopted"
    assert adopted["tags"]["adoptedAt"] and adopted["tags"]["site"] == rig.site.name
    state, _ = load_state(table_service(rig.settings), rig.site.name)
    assert state.phase.value == "idle" and state.key_matches_vault is True
    assert state.adopted_at and datetime.now(UTC) - state.adopted_at < timedelta(minutes=5)
    assert _steps(rig).count("adopt") == 1  # adopted once, not on every run


def test_adoption_counts_age_from_adoption_and_keeps_an_escrowed_key(make_rig: RigFactory) -> None:
    rig = make_rig(enabled=True, mode="enforce")
    outcome = rig.rotate()
    assert outcome.steps == ["adopt"] and not outcome.started
    assert outcome.skipped and "0.0 days old" in outcome.skipped
    same_key(rig.azure_key(), rig.keys[0], "Azure's key is unchanged")
    assert rig.roles() == ["active"]
    # A key already escrowed as active (an earlier release, a lost state row): no second copy.
    from shared.azure.rotation_store import save_state
    from shared.rotation.machine import RotationState

    tables = table_service(rig.settings)
    _, etag = load_state(tables, rig.site.name)
    save_state(tables, rig.site.name, RotationState(), etag, step="test-reset")
    again = rig.rotate()
    assert again.steps == ["adopt"] and rig.roles() == ["active"]


def test_a_due_key_is_recorded_not_rotated_in_report_mode(make_rig: RigFactory) -> None:
    rig = make_rig(enabled=True)  # mode: the default, report
    long_ago = datetime.now(UTC) - timedelta(days=100)
    assert rig.rotate(now=lambda: long_ago).steps == ["adopt"]
    rig.control.clear_requests()
    outcomes = [rig.rotate() for _ in range(3)]
    assert all(o.code == REPORT_MODE and not o.started for o in outcomes)
    assert "HYBRIDNET_ROTATION_MODE is report" in outcomes[0].skipped
    assert [o.steps for o in outcomes] == [["due"], [], []]  # recorded once
    same_key(rig.azure_key(), rig.keys[0], "Azure's key is unchanged")
    assert _key_writes(rig) == []
    assert rig.roles() == ["active"]


def test_a_due_key_of_a_site_not_enabled_is_not_rotated_even_in_enforce_mode(make_rig: RigFactory) -> None:
    rig = make_rig(mode="enforce")
    long_ago = datetime.now(UTC) - timedelta(days=100)
    rig.rotate(now=lambda: long_ago)
    outcome = rig.rotate()
    assert outcome.code == NOT_ENABLED and not outcome.started
    assert "rotation.enabled is false" in outcome.skipped and rig.secret in outcome.skipped
    same_key(rig.azure_key(), rig.keys[0], "Azure's key is unchanged")
    assert rig.roles() == ["active"]
    # An operator who knows can still force it.
    forced = rig.rotate(manual=True, force=True)
    assert forced.started and forced.phase == "awaiting-peer"
    rig.keys.append(rig.azure_key())


def test_rotate_over_http_answers_409_with_a_code_unless_forced(make_rig: RigFactory) -> None:
    rig = make_rig(mode="enforce")

    with app_host() as host:
        base = f"{host.info.base_url}/api/rotate?site={rig.site.name}"
        status, body = post_json(base, key=host.info.master_key, timeout=60)
        assert status == 409 and body["code"] == NOT_ENABLED
        assert "rotation.enabled is false" in body["refused"] and not body["started"]
        same_key(rig.azure_key(), rig.keys[0], "Azure's key is unchanged")
        assert _steps(rig)[0] == "refused"
        status, body = post_json(f"{base}&force=true", key=host.info.master_key, timeout=60)
        assert status == 202 and body["phase"] == "awaiting-peer" and body["code"] is None
    rig.keys.append(rig.azure_key())
    if rig.keys[-1] == rig.keys[0] or rig.keys[-1] in json.dumps(body):
        raise AssertionError("the forced rotation did not change the key, or the answer holds it")


def test_manual_rotation_in_report_mode_is_refused_unless_forced(make_rig: RigFactory) -> None:
    rig = make_rig(enabled=True, mode="report")
    refused = rig.rotate(manual=True)
    assert refused.code == REPORT_MODE and refused.refused and not refused.started
    same_key(rig.azure_key(), rig.keys[0], "Azure's key is unchanged")
    assert rig.rotate(manual=True, force=True).phase == "awaiting-peer"
    rig.keys.append(rig.azure_key())


def test_the_health_report_says_which_sites_are_not_enabled_and_why(make_rig: RigFactory) -> None:
    from jsonschema import Draft202012Validator

    from shared.services.health import health_report

    rig = make_rig()
    rig.rotate()  # adoption
    report, _ = health_report(rig.settings)
    Draft202012Validator(HEALTH_SCHEMA).validate(report)
    assert report["schemaVersion"] == "1.5"
    assert report["keyRotation"]["notEnabled"] == [rig.site.name]
    key = report["sites"][0]["keyRotation"]
    assert key["enabled"] is False and key["mode"] == "report" and key["state"] == "adopted"
    assert key["adoptedAt"] and key["keyAgeDays"] == 0 and key["nextDueAt"]
    assert "VPN backup down" in key["notice"] and "Key Vault" in key["notice"]
    text = render_text(report)
    assert f"key rotation is not enabled for 1 site(s): {rig.site.name}" in text
    assert "rotation NOT ENABLED" in text and "VPN backup down" in text
    # Not enabled is a notice, not a fault: the site's status does not change because of it.
    assert not any("not enabled" in reason for reason in report["sites"][0]["reasons"])


def test_the_rotation_worker_checks_an_idle_key_against_key_vault(
    make_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker's key-check branch: an idle site whose key is not due gets its key compared with
    Key Vault's active version, and a key changed by hand is recorded (and reported by the drift check)."""
    from shared.triggers.rotation import rotation_worker

    rig = make_rig(enabled=True, mode="enforce")
    message = func.QueueMessage(body=json.dumps({"site": rig.site.name}).encode())
    rotation_worker(message)  # first sight: adopted, not due
    state, _ = load_state(table_service(rig.settings), rig.site.name)
    assert state.adopted_at and state.key_matches_vault is True
    by_hand = "SetByHandForTheWorker42"
    rig.keys.append(by_hand)
    rig.set_azure_key(by_hand)
    rig.control.set_appliance(APPLIANCE, shared_key=by_hand)
    caplog.set_level(logging.DEBUG)
    rotation_worker(message)
    state, _ = load_state(table_service(rig.settings), rig.site.name)
    assert state.key_matches_vault is False and _steps(rig)[0] == "key-check"
    same_key(rig.azure_key(), by_hand, "the key set by hand is checked, not changed")
    if by_hand in caplog.text:
        raise AssertionError("the key set by hand reached the log")
    rotation_worker(message)  # unchanged answer: no second row
    assert _steps(rig).count("key-check") == 1


def test_report_mode_still_rolls_back_a_rotation_already_under_way(make_rig: RigFactory) -> None:
    """The documented choice: report mode starts nothing, but a rotation under way (forced here) is
    finished or rolled back, since stopping half-way leaves Azure and the appliance disagreeing."""
    from tests.stack import CIRCUIT

    rig = make_rig(enabled=True, mode="report")
    assert rig.rotate(manual=True, force=True).phase == "awaiting-peer"
    rig.keys.append(rig.azure_key())
    rig.control.set_circuit(CIRCUIT, up=False)
    outcome = rig.rotate()
    assert outcome.phase == "rolled-back" and outcome.error is None
    same_key(rig.azure_key(), rig.keys[0], "the previous key is back in Azure")
    assert rig.vpn_status() == "Connected"
