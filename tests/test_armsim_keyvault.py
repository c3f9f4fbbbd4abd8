"""The simulator's Key Vault secrets subset, driven by the real SecretClient with DefaultAzureCredential
against the simulator's managed-identity endpoint (no special case: verify_challenge_resource stays on)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import jwt
import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient

from hybridnet_dev.armsim.armevents import TENANT_ID
from hybridnet_dev.armsim.auth import APP_CLIENT_ID
from hybridnet_dev.armsim.control import SimControl, SimControlError
from hybridnet_dev.armsim.keyvault import VAULT_RESOURCE, challenge_resource
from hybridnet_dev.armsim.runner import SimulatorThread
from tests.stack import use_simulator_identity

APPLIANCE = "40.50.60.70"
KEY = "Escrowed1Key2For3Ipsec4"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    with pytest.MonkeyPatch.context() as mp, SimulatorThread(None, empty=True) as running:
        use_simulator_identity(mp, running.info)
        yield running


@pytest.fixture()
def ctl(sim: SimulatorThread) -> Iterator[SimControl]:
    control = SimControl(sim.info.control_url)
    control.clear_faults()
    yield control
    control.clear_faults()


@pytest.fixture(scope="module")
def client(sim: SimulatorThread) -> SecretClient:
    return SecretClient(
        sim.info.vault_url,
        DefaultAzureCredential(),
        connection_verify=sim.info.ca_file,
        retry_backoff_factor=0.01,
    )


def test_challenge_resource_is_the_parent_domain() -> None:
    assert challenge_resource("myvault.vault.azure.net") == "https://vault.azure.net"
    assert challenge_resource("127.0.0.1:8443") == "https://0.0.1:8443"
    assert challenge_resource("localhost:8443") == "https://vault.azure.net"


def test_unauthenticated_request_gets_the_challenge(sim: SimulatorThread) -> None:
    url = sim.info.vault_url + "/secrets/anything"
    response = requests.get(url, params={"api-version": "7.5"}, verify=sim.info.ca_file, timeout=5)
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer authorization="https://login.microsoftonline.com/')
    port = sim.info.vault_url.rsplit(":", 1)[1]
    assert f'resource="https://0.0.1:{port}"' in challenge
    assert json.loads(sim.info.to_json_line())["vaultUrl"] == sim.info.vault_url


def test_set_get_versions_and_update(
    client: SecretClient, ctl: SimControl, sim: SimulatorThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    first = client.set_secret(
        "ipsec-dub", KEY, tags={"site": "dub", "state": "pending"}, content_type="text/plain"
    )
    second = client.set_secret("ipsec-dub", KEY + "x")
    assert first.id == f"{sim.info.vault_url}/secrets/ipsec-dub/{first.properties.version}"
    assert len(first.properties.version or "") == 32 and first.properties.version != second.properties.version
    assert first.properties.enabled is True and first.properties.recovery_level == "Recoverable+Purgeable"
    assert first.properties.created_on is not None and first.properties.updated_on is not None

    assert client.get_secret("ipsec-dub").value == KEY + "x"
    old = client.get_secret("ipsec-dub", first.properties.version)
    assert old.value == KEY and old.properties.tags == {"site": "dub", "state": "pending"}
    assert old.properties.content_type == "text/plain"

    updated = client.update_secret_properties(
        "ipsec-dub", first.properties.version, tags={"site": "dub", "state": "active"}, enabled=False
    )
    assert updated.tags == {"site": "dub", "state": "active"} and updated.enabled is False

    versions = sorted(client.list_properties_of_secret_versions("ipsec-dub"), key=lambda p: p.created_on or 0)
    assert {v.version for v in versions} == {first.properties.version, second.properties.version}
    names = [p.name for p in client.list_properties_of_secrets()]
    assert "ipsec-dub" in names

    listed = ctl.vault_secret_versions("ipsec-dub")
    assert [v["version"] for v in listed] == [first.properties.version, second.properties.version]
    assert listed[0]["tags"]["state"] == "active" and "value" not in listed[0]
    assert [v["value"] for v in ctl.vault_secret_versions("ipsec-dub", reveal=True)] == [KEY, KEY + "x"]

    leaks = json.dumps(ctl.requests()) + json.dumps(ctl.state()) + json.dumps(listed)
    assert KEY not in leaks
    assert KEY not in "".join(r.getMessage() for r in caplog.records if r.name.startswith("hybridnet_dev"))


def test_versions_are_paged(client: SecretClient, ctl: SimControl) -> None:
    for n in range(30):
        client.set_secret("paged", f"value{n}")
    assert len(list(client.list_properties_of_secret_versions("paged"))) == 30
    pages = [r for r in ctl.requests() if r["path"] == "/secrets/paged/versions" and r["status"] == 200]
    assert len(pages) >= 2


def test_missing_secret_is_secret_not_found(client: SecretClient) -> None:
    with pytest.raises(ResourceNotFoundError) as err:
        client.get_secret("nope")
    assert err.value.error is not None and err.value.error.code == "SecretNotFound"


def test_faults_apply_to_the_vault(client: SecretClient, ctl: SimControl) -> None:
    client.set_secret("faulty", KEY)
    ctl.add_fault("error", method="GET", path="^/secrets/faulty", status=400, count=1)
    with pytest.raises(HttpResponseError) as err:
        client.get_secret("faulty")
    assert err.value.status_code == 400
    assert client.get_secret("faulty").value == KEY


def test_appliance_picks_up_the_escrowed_key(client: SecretClient, ctl: SimControl) -> None:
    first = client.set_secret("pickup", KEY)
    client.set_secret("pickup", KEY + "2")
    result = ctl.appliance_pickup(APPLIANCE, "pickup", first.properties.version)
    assert result["keyConfigured"] is True and result["version"] == first.properties.version
    assert KEY not in json.dumps(result)
    assert ctl.appliance_pickup(APPLIANCE, "pickup")["version"] != first.properties.version
    client.set_secret("bad-key", "has space")
    with pytest.raises(SimControlError) as err:
        ctl.appliance_pickup(APPLIANCE, "bad-key")
    assert err.value.status == 400 and "has space" not in err.value.body
    with pytest.raises(SimControlError) as missing:
        ctl.appliance_pickup(APPLIANCE, "absent")
    assert missing.value.status == 404


# --- only this simulator's identity, in its tenant, for the vault --------------------------------------
def vault_get(sim: SimulatorThread, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.get(
        sim.info.vault_url + "/secrets",
        params={"api-version": "7.5"},
        headers=headers,
        verify=sim.info.ca_file,
        timeout=5,
    )


def vault_token(sim: SimulatorThread) -> str:
    """A token of the simulator's identity for the vault's challenge resource, as SecretClient gets it."""
    port = sim.info.vault_url.rsplit(":", 1)[1]
    return DefaultAzureCredential().get_token(f"https://0.0.1:{port}/.default").token


@pytest.mark.parametrize(
    ("forge", "prefix"),
    [
        # signed by anyone but this simulator (another simulator, or a hand-made token)
        (
            lambda real: jwt.encode(real, b"not-this-simulators-secret-0123456789", algorithm="HS256"),
            "AKV10046:",
        ),
        (lambda real: jwt.encode(real, None, algorithm="none"), "AKV10046:"),  # unsigned
        (lambda real: "not-a-jwt", "AKV10046:"),
    ],
    ids=["foreign", "unsigned", "malformed"],
)
def test_the_vault_refuses_tokens_it_did_not_issue(sim: SimulatorThread, forge: object, prefix: str) -> None:
    real = jwt.decode(vault_token(sim), options={"verify_signature": False})
    answer = vault_get(sim, forge(real))  # type: ignore[operator]
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "Unauthorized"
    assert answer.json()["error"]["message"].startswith(prefix)
    port = sim.info.vault_url.rsplit(":", 1)[1]
    assert answer.headers["WWW-Authenticate"] == (
        f'Bearer authorization="https://login.microsoftonline.com/{TENANT_ID}", resource="https://0.0.1:{port}"'
    )
    assert vault_get(sim, vault_token(sim)).status_code == 200


def test_the_vault_refuses_expired_foreign_tenant_and_wrong_audience_tokens(sim: SimulatorThread) -> None:
    tokens = sim.sim.tokens
    issue = {"object_id": sim.info.principal_id, "app_id": APP_CLIENT_ID}
    expired, _ = tokens.issue(resource=VAULT_RESOURCE, lifetime=-5, **issue)
    assert vault_get(sim, expired).status_code == 401
    other = "99999999-8888-7777-6666-555555555555"
    foreign, _ = tokens.issue(resource=VAULT_RESOURCE, tenant=other, **issue)
    answer = vault_get(sim, foreign)
    assert answer.status_code == 401 and answer.json()["error"] == {
        "code": "Unauthorized",
        "message": f"AKV10032: Invalid issuer. Expected one of https://sts.windows.net/{TENANT_ID}/, found "
        f"https://sts.windows.net/{other}/.",
    }
    for audience in ("https://management.azure.com/", "https://vault.azure.net/"):  # ARM's; a trailing slash
        wrong, _ = tokens.issue(resource=audience, **issue)
        answer = vault_get(sim, wrong)
        assert answer.status_code == 401 and answer.json()["error"]["message"] == (
            f"AKV10022: Invalid audience. Expected https://vault.azure.net, found: {audience}."
        )
    right, _ = tokens.issue(resource=VAULT_RESOURCE, **issue)
    assert vault_get(sim, right).status_code == 200
