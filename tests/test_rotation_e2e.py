"""Key rotation against the simulator (ARM + Key Vault over HTTPS, real SDKs) and Azurite, including
failures at each step and the secrecy of every key."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from hybridnet_dev.armsim.control import SimControl, SimControlError
from shared.azure.arm import network_client
from shared.azure.keyvault import secret_name, staged_secret_name
from shared.azure.rotation_store import history, load_state
from shared.azure.tables import table_service
from shared.rotation.keygen import generate_shared_key
from shared.rotation.machine import Phase
from shared.services.rotation import check_key, rotate_site, rotation_status
from shared.settings import Settings
from shared.spec import NetworkSpec
from tests.helpers import post_json, wait_for
from tests.stack import APPLIANCE, CIRCUIT, SEED_PATH, app_host, app_on_simulator, fire_function

RG = "hybrid-network-rg"
CONNECTION = "hybrid-vpn-connection"


def same_key(actual: str, expected: str, what: str) -> None:
    """Assert two keys are equal without pytest's assertion report printing either of them."""
    if actual != expected:
        raise AssertionError(f"expected: {what} (the keys differ; not shown)")


@dataclass
class Rig:
    settings: Settings
    control: SimControl
    spec: NetworkSpec
    keys: list[str] = field(repr=False)  # every key of this test: never printed, even on failure

    @property
    def site(self):
        return self.spec.sites[0]

    @property
    def secret(self) -> str:
        return secret_name(self.site.name)

    def new_key(self) -> str:
        key = generate_shared_key()
        self.keys.append(key)
        return key

    def rotate(self, **kwargs):
        return rotate_site(self.settings, self.site, new_key=self.new_key, **kwargs)

    def azure_key(self) -> str:
        return (
            network_client(self.settings)
            .virtual_network_gateway_connections.get_shared_key(RG, CONNECTION)
            .value
        )

    def vpn_status(self) -> str:
        connection = network_client(self.settings).virtual_network_gateway_connections.get(RG, CONNECTION)
        return str(getattr(connection.connection_status, "value", connection.connection_status))

    def set_azure_key(self, value: str) -> None:
        """As a person (or a write that landed before a crash) would, through the sharedkey endpoint."""
        network_client(self.settings).virtual_network_gateway_connections.begin_set_shared_key(
            RG, CONNECTION, {"value": value}
        ).result()

    def fail_next_key_write(self) -> None:
        self.control.add_fault(
            "error", method="PUT", path="connections/hybrid-vpn-connection/sharedkey$", status=500, count=1
        )

    def staged_value(self) -> str:
        """The newest key escrowed in the staging secret (before Azure had it, it was not offered to the
        appliance)."""
        versions = self.control.vault_secret_versions(staged_secret_name(self.site.name), reveal=True)
        return versions[-1]["value"]

    def versions(self) -> list[dict]:
        return self.control.vault_secret_versions(self.secret)

    def roles(self) -> list[str]:
        return [v["tags"].get("state") for v in self.versions()]


@contextmanager
def rotation_rig(
    *, storage: str, spec_dir: Path, site: str, enabled: bool | None, mode: str | None
) -> Iterator[Rig]:
    """A fresh simulator and the app pointed at it, for a seed network whose one site is named `site`
    (Azurite is shared by the whole session). `enabled` writes `rotation.enabled` into the spec (None:
    left out, the default); `mode` sets HYBRIDNET_ROTATION_MODE (None: not set, the default)."""
    document = yaml.safe_load(SEED_PATH.read_text())
    document["sites"][0]["name"] = site
    if enabled is not None:
        document["sites"][0]["rotation"] = {"enabled": enabled}
    spec_path = spec_dir / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(document))
    spec = NetworkSpec.model_validate(document)
    extra = {"HYBRIDNET_ROTATION_MODE": mode} if mode else {}
    with app_on_simulator(
        storage=storage, spec=spec, spec_path=spec_path, HYBRIDNET_ARM_RETRY_TOTAL="0", **extra
    ) as app:
        app.env.setenv("HYBRIDNET_EVENTS_TOPIC_ENDPOINT", app.sim.topic_endpoint)
        app.env.setenv("HYBRIDNET_EVENTS_TOPIC_KEY", app.sim.topic_key)
        if mode is None:
            app.env.delenv("HYBRIDNET_ROTATION_MODE", raising=False)
        rig = Rig(Settings.from_env(), app.control, spec, [])
        rig.keys.append(rig.azure_key())  # the seeded key is a secret too
        yield rig


@pytest.fixture
def rig(azurite, tmp_path) -> Iterator[Rig]:
    """Rotation enabled (the appliance follows Key Vault) and enforced, on a site name of its own."""
    site = f"seed-{uuid.uuid4().hex[:8]}"
    with rotation_rig(
        storage=azurite.connection_string, spec_dir=tmp_path, site=site, enabled=True, mode="enforce"
    ) as rig:
        yield rig


def test_full_rotation_with_the_appliance_following(rig):
    outcome = rig.rotate(manual=True)
    assert outcome.error is None and outcome.started
    assert outcome.steps == ["start", "escrow", "apply", "peer-down"] and outcome.phase == "awaiting-peer"
    same_key(rig.azure_key(), rig.keys[-1], "Azure's key")
    assert rig.vpn_status() == "NotConnected"  # the appliance still has the old key
    assert rig.roles() == ["active", "pending"]  # the old key was escrowed before anything changed

    rig.control.appliance_pickup(APPLIANCE, rig.secret)  # on-prem automation fetches the latest version
    assert rig.vpn_status() == "Connected"
    outcome = rig.rotate()
    assert outcome.steps == ["complete"] and outcome.phase == "completed"
    assert rig.roles() == ["previous", "active"]
    status = rotation_status(table_service(rig.settings), rig.site)
    assert status["state"] == "completed" and status["keyAgeDays"] == 0 and status["nextDueAt"]

    # Not due again for maxKeyAgeDays: the timer does nothing.
    again = rig.rotate()
    assert again.skipped and "due at 90 days" in again.skipped and again.steps == []


def test_appliance_never_following_alerts_once_and_keeps_waiting(rig):
    from datetime import UTC, datetime, timedelta

    assert rig.rotate(manual=True).phase == "awaiting-peer"
    assert rig.rotate().steps == []  # within the 24 h deadline: just waiting
    later = datetime.now(UTC) + timedelta(hours=25)
    first = rig.rotate(now=lambda: later)
    assert first.steps == ["alert"] and first.phase == "awaiting-peer"
    assert rig.rotate(now=lambda: later).steps == []
    events = [e for e in rig.control.topic_events() if e["type"] == "Hybridnet.Rotation.PeerOverdue"]
    assert len(events) == 1 and events[0]["data"]["secret"] == rig.secret
    rig.control.appliance_pickup(APPLIANCE, rig.secret)  # late, but it comes
    assert rig.rotate(now=lambda: later).phase == "completed"


def test_expressroute_failing_while_awaiting_the_peer_rolls_back(rig):
    old_key = rig.keys[0]
    assert rig.rotate(manual=True).phase == "awaiting-peer"
    rig.control.set_circuit(CIRCUIT, up=False)
    outcome = rig.rotate()
    assert outcome.steps == ["rollback-started", "rollback"] and outcome.phase == "rolled-back"
    same_key(rig.azure_key(), old_key, "Azure's key")
    assert rig.vpn_status() == "Connected"  # the backup carries traffic again
    assert rig.roles() == ["superseded", "rolled-back", "active"]
    assert any(e["type"] == "Hybridnet.Rotation.RolledBack" for e in rig.control.topic_events())


def test_expressroute_down_at_start_refuses_unless_forced(rig):
    rig.control.set_circuit(CIRCUIT, up=False)
    refused = rig.rotate(manual=True)
    assert refused.refused and "ExpressRoute is NotConnected" in refused.refused and not refused.started
    with pytest.raises(SimControlError) as nothing_escrowed:
        rig.versions()
    assert nothing_escrowed.value.status == 404
    same_key(rig.azure_key(), rig.keys[0], "Azure's key")
    assert history(table_service(rig.settings), rig.site.name)[0]["step"] == "refused"
    forced = rig.rotate(manual=True, force=True)
    assert forced.started and forced.phase == "awaiting-peer"


def test_vault_failure_before_escrow_leaves_azure_untouched_and_the_next_run_converges(rig):
    rig.control.add_fault("error", method="PUT", path="/secrets/ipsec-", status=503, count=1)
    failed = rig.rotate(manual=True)
    assert failed.error and "Key Vault" in failed.error
    same_key(rig.azure_key(), rig.keys[0], "Azure's key")
    recorded = history(table_service(rig.settings), rig.site.name)[0]
    assert recorded["step"] == "error" and "Key Vault" in recorded["detail"]
    state, _ = load_state(table_service(rig.settings), rig.site.name)
    assert state.phase is Phase.STARTED
    resumed = rig.rotate()
    assert resumed.phase == "awaiting-peer" and rig.roles() == ["active", "pending"]


def test_arm_failure_after_escrow_resumes_without_a_second_key(rig):
    rig.fail_next_key_write()
    failed = rig.rotate(manual=True)
    assert failed.error and failed.steps == ["start", "escrow"]
    same_key(rig.azure_key(), rig.keys[0], "Azure's key")
    resumed = rig.rotate()
    assert resumed.steps == ["apply", "peer-down"] and resumed.phase == "awaiting-peer"
    assert len(rig.keys) == 2  # one generated key: the escrowed one was applied, not a new one
    same_key(rig.azure_key(), rig.keys[1], "Azure's key")
    assert rig.roles() == ["active", "pending"]


def test_key_applied_before_a_crash_is_verified_not_written_again(rig):
    rig.fail_next_key_write()
    assert rig.rotate(manual=True).phase == "escrowed"
    # As if that run's write had landed and the process died before recording it:
    rig.set_azure_key(rig.staged_value())
    rig.control.clear_requests()
    resumed = rig.rotate()
    assert resumed.steps == ["apply", "peer-down"] and resumed.phase == "awaiting-peer"
    writes = [r for r in rig.control.requests() if r["method"] == "PUT" and r["path"].endswith("/sharedkey")]
    assert writes == [] and len(rig.keys) == 2
    same_key(rig.azure_key(), rig.keys[1], "Azure's key")


def test_status_read_failure_mid_rotation_is_recorded_and_resumed(rig):
    rig.control.add_fault(
        "error", method="GET", path="connections/hybrid-vpn-connection/sharedkey$", status=500, count=1
    )
    failed = rig.rotate(manual=True)
    assert failed.error and "500" in failed.error and failed.phase == "started"
    resumed = rig.rotate()
    assert resumed.phase == "awaiting-peer" and rig.roles() == ["active", "pending"]
    assert len(rig.keys) == 2
    same_key(rig.azure_key(), rig.keys[1], "Azure's key")


def test_a_key_changed_by_hand_is_detected_and_escrowed_before_the_next_rotation(rig):
    assert check_key(rig.settings, rig.site) is None  # nothing escrowed yet
    rig.rotate(manual=True)
    rig.control.appliance_pickup(APPLIANCE, rig.secret)
    assert rig.rotate().phase == "completed"
    assert check_key(rig.settings, rig.site) is True
    by_hand = "ChangedByHand0123456789abcdef"
    rig.keys.append(by_hand)
    rig.set_azure_key(by_hand)
    assert check_key(rig.settings, rig.site) is False
    rig.control.set_appliance(APPLIANCE, shared_key=by_hand)
    rig.rotate(manual=True)
    versions = rig.control.vault_secret_versions(rig.secret, reveal=True)
    assert any(v.get("value") == by_hand and v["tags"].get("source") == "azure" for v in versions)


def test_no_key_ever_reaches_logs_tables_responses_errors_or_events(rig, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HYBRIDNET_ROTATION_PEER_DEADLINE_HOURS", "0")
    rig.settings = Settings.from_env()
    outcomes = [rig.rotate(manual=True), rig.rotate()]  # apply, then the overdue alert
    rig.control.set_circuit(CIRCUIT, up=False)
    outcomes.append(rig.rotate())  # rollback
    rig.control.set_circuit(CIRCUIT, up=True)
    rig.fail_next_key_write()
    outcomes.append(rig.rotate(manual=True))  # fails after escrow
    outcomes.append(rig.rotate())
    rig.control.appliance_pickup(APPLIANCE, rig.secret)
    outcomes.append(rig.rotate())
    assert outcomes[-1].phase == "completed" and len(rig.keys) >= 3

    tables = table_service(rig.settings)
    rows = [dict(e) for t in tables.list_tables() for e in tables.get_table_client(t.name).list_entities()]
    places = {
        "log records": "\n".join(r.getMessage() + str(r.args) for r in caplog.records),
        "log output": caplog.text,
        "table entities": json.dumps(rows, default=str),
        "outcomes and errors": json.dumps([o.to_json() for o in outcomes]),
        "cloud events": json.dumps(rig.control.topic_events()),
        "rotation status": json.dumps(rotation_status(tables, rig.site)),
        "simulator state": json.dumps(rig.control.state()),
        "vault listing": json.dumps(rig.versions()),
    }
    for key in rig.keys:
        for where, text in places.items():
            if key in text:
                raise AssertionError(f"a shared key leaked into {where}")  # (not printed)


def test_a_deleted_vpn_connection_is_recreated_with_the_escrowed_key(rig):
    from shared.drift.plan import Mode
    from shared.services.reconciler import reconcile

    rig.rotate(manual=True)
    rig.control.appliance_pickup(APPLIANCE, rig.secret)
    assert rig.rotate().phase == "completed" and rig.vpn_status() == "Connected"
    rig.control.delete_resource(
        f"/subscriptions/{rig.settings.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Network/connections/{CONNECTION}"
    )
    result = reconcile(rig.settings, rig.site.name, trigger="manual", mode=Mode.ENFORCE)
    assert result.outcome == "fixed", result.to_json()
    same_key(
        rig.azure_key(), rig.keys[-1], "Azure's key"
    )  # the key the appliance has: the tunnel comes back by itself
    assert rig.vpn_status() == "Connected"


def test_key_drift_is_reported_by_the_reconciler(rig):
    from shared.drift.plan import Mode
    from shared.services.reconciler import reconcile

    rig.rotate(manual=True)
    rig.control.appliance_pickup(APPLIANCE, rig.secret)
    rig.rotate()
    by_hand = "AnotherHandMadeKey42"
    rig.keys.append(by_hand)
    rig.set_azure_key(by_hand)
    assert check_key(rig.settings, rig.site) is False
    result = reconcile(rig.settings, rig.site.name, trigger="manual", mode=Mode.REPORT)
    (finding,) = result.findings
    assert "differs from Key Vault" in finding.message and finding.remedy
    if by_hand in json.dumps(result.to_json()):
        raise AssertionError("the key set by hand is in the reconcile result")


def test_rotate_on_demand_over_http(rig):
    with app_host() as host:
        base, info = f"{host.info.base_url}/api/rotate", host.info
        assert post_json(f"{base}?site={rig.site.name}", key=info.function_key)[0] == 401  # admin level only
        assert post_json(f"{base}", key=info.master_key)[0] == 400
        assert post_json(f"{base}?site={rig.site.name}&force=maybe", key=info.master_key)[0] == 400
        status, body = post_json(f"{base}?site=atlantis", key=info.master_key)
        assert status == 404 and body["error"]["known"] == [rig.site.name]
        rig.control.set_circuit(CIRCUIT, up=False)
        status, body = post_json(f"{base}?site={rig.site.name}", key=info.master_key)
        assert status == 409 and "ExpressRoute" in body["refused"]
        rig.control.set_circuit(CIRCUIT, up=True)
        status, body = post_json(f"{base}?site={rig.site.name}", key=info.master_key)
        assert (
            status == 202
            and body["phase"] == "awaiting-peer"
            and body["steps"] == ["start", "escrow", "apply", "peer-down"]
        )
        rig.keys.append(rig.azure_key())  # generated inside the trigger: learn it from Azure
        if rig.keys[-1] in json.dumps(body):
            raise AssertionError("the new key is in the HTTP answer")


def test_two_instances_never_rotate_one_site_at_once(rig):
    import threading

    rig.control.add_fault("latency", method="PUT", path="/secrets/ipsec-", latency_ms=500, count=1)
    outcomes = []
    threads = [threading.Thread(target=lambda: outcomes.append(rig.rotate(manual=True))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    skipped = [o for o in outcomes if o.skipped]
    done = [o for o in outcomes if not o.skipped]
    assert len(skipped) == 1 and "another instance" in skipped[0].skipped
    assert len(done) == 1 and done[0].phase == "awaiting-peer"
    assert rig.roles() == ["active", "pending"] and len(rig.keys) == 2


def test_an_interrupted_rotation_rolls_back_when_expressroute_is_lost(rig):
    old_key = rig.keys[0]
    rig.fail_next_key_write()
    assert rig.rotate(manual=True).phase == "escrowed"
    rig.control.set_circuit(CIRCUIT, up=False)
    rig.control.clear_requests()
    outcome = rig.rotate()
    assert outcome.phase == "rolled-back" and outcome.error is None
    # Azure still had the old key: the VPN is left alone, and Key Vault says the old key is the one.
    assert [
        r for r in rig.control.requests() if r["method"] == "PUT" and r["path"].endswith("/sharedkey")
    ] == []
    same_key(rig.azure_key(), old_key, "Azure's key")
    assert rig.roles().count("active") == 1 and "pending" not in rig.roles()


def test_a_key_write_that_landed_before_a_crash_is_rolled_back_when_expressroute_is_lost(rig):
    old_key = rig.keys[0]
    rig.fail_next_key_write()
    assert rig.rotate(manual=True).phase == "escrowed"
    rig.set_azure_key(rig.staged_value())  # the write had landed; the process died before recording it
    rig.control.set_circuit(CIRCUIT, up=False)
    assert rig.vpn_status() == "NotConnected"  # both paths down
    assert rig.rotate().phase == "rolled-back"
    same_key(rig.azure_key(), old_key, "Azure's key")
    assert rig.vpn_status() == "Connected"


def test_a_deleted_expressroute_connection_counts_as_lost(rig):
    assert rig.rotate(manual=True).phase == "awaiting-peer"
    rig.control.delete_resource(
        f"/subscriptions/{rig.settings.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Network/connections/hybrid-er-connection"
    )
    outcome = rig.rotate()
    assert outcome.error is None and outcome.phase == "rolled-back"
    same_key(rig.azure_key(), rig.keys[0], "Azure's key")


def test_a_vpn_connection_recreated_mid_rotation_gets_the_pending_key(rig):
    from shared.services.rotation import key_for_new_connection

    assert rig.rotate(manual=True).phase == "awaiting-peer"
    same_key(key_for_new_connection(rig.settings, rig.site), rig.keys[-1], "the pending key")


def test_a_key_changed_by_hand_mid_rotation_ends_it_with_that_key_escrowed(rig):
    assert rig.rotate(manual=True).phase == "awaiting-peer"
    by_hand = "SetByHandMidRotation123"
    rig.keys.append(by_hand)
    rig.set_azure_key(by_hand)
    rig.control.set_appliance(APPLIANCE, shared_key=by_hand)  # and on the appliance: the tunnel is up
    outcome = rig.rotate()
    assert outcome.phase == "rolled-back" and outcome.steps == ["abandon"]
    active = [
        v
        for v in rig.control.vault_secret_versions(rig.secret, reveal=True)
        if v["tags"]["state"] == "active"
    ]
    assert len(active) == 1
    same_key(active[0]["value"], by_hand, "the one active version")
    assert rig.rotate(manual=True).started  # and a new rotation can begin


def test_an_interrupted_rollback_is_finished_not_completed(rig):
    old_key = rig.keys[0]
    assert rig.rotate(manual=True).phase == "awaiting-peer"
    rig.control.set_circuit(CIRCUIT, up=False)
    # Key Vault fails right after the old key is back in Azure: the rollback stops half-way.
    rig.control.add_fault("error", method="PUT", path="/secrets/ipsec-", status=503, count=1)
    interrupted = rig.rotate()
    assert interrupted.error and interrupted.phase == "rolling-back"
    same_key(rig.azure_key(), old_key, "Azure's key")
    assert rig.vpn_status() == "Connected"
    rig.control.set_circuit(CIRCUIT, up=True)
    finished = rig.rotate()
    assert finished.phase == "rolled-back" and finished.steps == ["rollback"]
    same_key(rig.azure_key(), old_key, "Azure's key")
    active = [
        v
        for v in rig.control.vault_secret_versions(rig.secret, reveal=True)
        if v["tags"]["state"] == "active"
    ]
    assert len(active) == 1  # what on-prem automation fetches is what Azure has
    same_key(active[0]["value"], old_key, "the one active version")


def test_a_detected_failover_rolls_back_a_waiting_rotation_at_once(rig):
    from shared.services.failover import check_site

    old_key = rig.keys[0]
    assert check_site(rig.settings, rig.site, "poll").outcome == "baseline"
    assert rig.rotate(manual=True).phase == "awaiting-peer"
    rig.control.set_circuit(CIRCUIT, up=False)
    result = check_site(rig.settings, rig.site, "alert")
    assert result.outcome == "recorded"
    state, _ = load_state(table_service(rig.settings), rig.site.name)
    assert state.phase is Phase.ROLLED_BACK  # without waiting for the rotation timer
    same_key(rig.azure_key(), old_key, "Azure's key")
    assert rig.vpn_status() == "Connected"


def test_an_appliance_following_key_vault_completes_rotations_by_itself(rig):
    rig.control.appliance_follow(APPLIANCE, rig.secret, delay_seconds=0.2)
    first = rig.rotate(manual=True)  # completed at once if the appliance was faster than this run
    assert first.phase in ("awaiting-peer", "completed") and "peer-down" in first.steps
    wait_for(lambda: rig.vpn_status() == "Connected", 5, what="the VPN to be Connected")
    assert first.phase == "completed" or rig.rotate().phase == "completed"


def test_the_rotation_timer_spreads_sites_over_the_queue(rig):
    from datetime import UTC, datetime, timedelta

    # The key was adopted (first sight) 100 days ago: it is due now.
    long_ago = datetime.now(UTC) - timedelta(days=100)
    assert rig.rotate(now=lambda: long_ago).steps == ["adopt"]
    with app_host() as host:
        fire_function(host.info, "rotation_timer")
        # Due: the worker started and applied it.
        wait_for(
            lambda: load_state(table_service(rig.settings), rig.site.name)[0].phase is Phase.AWAITING_PEER,
            15,
            interval=0.1,
            what="the rotation to await the peer",
        )
    rig.keys.append(rig.azure_key())
