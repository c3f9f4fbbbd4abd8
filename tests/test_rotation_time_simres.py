"""Key rotation against a simulator that takes Azure's time for a shared-key set (2 min, lro.DURATIONS):
at the HTTP trigger's budget the set completes inside the request; when it outlives the time the caller
gives it, the rotation neither fails the key nor sets a second one, and the next pass converges."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.ids import ResourceId
from hybridnet_dev.armsim.lro import duration
from hybridnet_dev.armsim.runner import SimulatorThread
from shared.azure.arm import network_client
from shared.azure.keyvault import secret_name
from shared.rotation.keygen import generate_shared_key
from shared.services.rotation import rotate_site
from shared.settings import Settings
from shared.spec import NetworkSpec
from shared.triggers.rotation import HTTP_LRO_SECONDS
from tests.stack import APPLIANCE, RG_ID, SEED_PATH, point_app_at

CONNECTION = f"{RG_ID}/connections/hybrid-vpn-connection"
KEY_SET = duration(ResourceId.parse(CONNECTION), "sharedKey")  # Azure's seconds for a shared-key set
SCALE = 0.01  # 1 s here is 100 s in Azure: the set takes 1.2 s


def wait_until(predicate: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return value


@dataclass
class Rig:
    settings: Settings
    control: SimControl
    sim: SimulatorThread
    spec: NetworkSpec

    def rotate(self, **kwargs: Any) -> Any:
        return rotate_site(self.settings, self.spec.sites[0], new_key=generate_shared_key, **kwargs)

    def key_writes(self) -> list[dict[str, Any]]:
        return [
            r for r in self.control.requests() if r["method"] == "PUT" and r["path"].endswith("/sharedkey")
        ]


@pytest.fixture
def rig(azurite: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Rig]:
    """``@pytest.mark.parametrize("rig", [scale], indirect=True)`` picks another time scale."""
    scale = getattr(request, "param", SCALE)
    document = yaml.safe_load(SEED_PATH.read_text())
    document["sites"][0]["name"] = f"seed-{uuid.uuid4().hex[:8]}"
    document["sites"][0]["rotation"] = {"enabled": True}
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(document))
    spec = NetworkSpec.model_validate(document)
    with SimulatorThread(spec, time_scale=scale) as sim, pytest.MonkeyPatch.context() as env:
        point_app_at(
            env,
            sim.info,
            storage=azurite.connection_string,
            spec_path=spec_path,
            HYBRIDNET_ARM_RETRY_TOTAL="0",
            HYBRIDNET_ROTATION_MODE="enforce",
            HYBRIDNET_EVENTS_TOPIC_ENDPOINT=sim.info.topic_endpoint,
            HYBRIDNET_EVENTS_TOPIC_KEY=sim.info.topic_key,
        )
        yield Rig(Settings.from_env(), SimControl(sim.info.control_url), sim, spec)


def test_the_http_budget_holds_a_shared_key_set(rig: Rig) -> None:
    assert KEY_SET < HTTP_LRO_SECONDS  # the ratio of the real numbers, kept below
    outcome = rig.rotate(manual=True, lro_timeout=HTTP_LRO_SECONDS * SCALE)
    assert outcome.error is None, outcome.error
    assert outcome.phase == "awaiting-peer" and len(rig.key_writes()) == 1


def test_a_key_set_outliving_the_callers_time_is_not_sent_twice(rig: Rig) -> None:
    """The caller has half the set's time left (say an HTTP request late in its 230 s). Azure's key is the
    new one only once the set succeeds (a read meanwhile returns the old one: arm.py KEY_IN_FORCE), so
    the pass ends without an error and without offering the appliance a key Azure does not use yet; a
    pass while the set still runs waits again; the pass after it verifies the key and goes on."""
    site = rig.spec.sites[0].name
    outcome = rig.rotate(manual=True, lro_timeout=KEY_SET * SCALE / 2)
    conn = rig.sim.sim.store.body_of(ResourceId.parse(CONNECTION))
    assert conn is not None and conn["properties"]["provisioningState"] == "Updating"  # still running
    assert outcome.error is None and outcome.phase == "escrowed", (outcome.phase, outcome.error)
    assert list(outcome.steps) == ["start", "escrow", "apply-running"]
    offered = [
        v for v in rig.sim.sim.vault.versions(secret_name(site)) if (v.tags or {}).get("state") == "pending"
    ]
    assert not offered  # the appliance is not offered a key Azure does not use yet
    meanwhile = rig.rotate(lro_timeout=HTTP_LRO_SECONDS * SCALE)  # the set is still running: no 409 write
    assert meanwhile.error is None and meanwhile.phase == "escrowed", (meanwhile.phase, meanwhile.error)
    assert len(rig.key_writes()) == 1
    assert wait_until(lambda: conn["properties"]["provisioningState"] == "Succeeded", KEY_SET * SCALE * 3)
    applied = rig.rotate(lro_timeout=HTTP_LRO_SECONDS * SCALE)
    assert applied.error is None and applied.phase == "awaiting-peer", (applied.phase, applied.error)
    rig.control.appliance_pickup(APPLIANCE, secret_name(site))
    later = rig.rotate(lro_timeout=HTTP_LRO_SECONDS * SCALE)
    assert later.error is None and later.phase == "completed", (later.phase, later.error)
    assert len(rig.key_writes()) == 1


RESIZE_SCALE = 0.001  # the resize takes 2.1 s, the key set 0.12 s


@pytest.mark.parametrize("rig", [RESIZE_SCALE], indirect=True)
def test_a_rotation_during_a_gateway_resize_waits_for_it(rig: Rig) -> None:
    """A person resizes the VPN gateway (35 min in Azure); a rotation meanwhile gets ARM's 409
    AnotherOperationInProgress for the key set: the rotation reports it, Azure keeps the old key, and the
    run after the resize sets the key once."""
    gateway = f"{RG_ID}/virtualNetworkGateways/hybrid-vpn-gw"
    client = network_client(rig.settings)
    body = client.virtual_network_gateways.get("hybrid-network-rg", "hybrid-vpn-gw")
    body.properties.sku.name = body.properties.sku.tier = "VpnGw2"
    client.virtual_network_gateways.begin_create_or_update("hybrid-network-rg", "hybrid-vpn-gw", body)
    old = rig.sim.sim.physics.key(CONNECTION)
    blocked = rig.rotate(manual=True, lro_timeout=HTTP_LRO_SECONDS * RESIZE_SCALE)
    assert blocked.error and "AnotherOperationInProgress" in blocked.error, blocked.error
    assert rig.sim.sim.physics.key(CONNECTION) == old
    assert rig.key_writes() and all(w["status"] == 409 for w in rig.key_writes())
    resize = duration(ResourceId.parse(gateway), "update") * RESIZE_SCALE
    state = rig.sim.sim.store.body_of(ResourceId.parse(gateway))
    assert state is not None
    assert wait_until(lambda: state["properties"]["provisioningState"] == "Succeeded", resize * 2)
    resumed = rig.rotate(lro_timeout=5)
    assert resumed.error is None and resumed.phase == "awaiting-peer", (resumed.phase, resumed.error)
    assert [w["status"] for w in rig.key_writes()].count(200) == 1
