"""One Azure client factory (issue 12, item 11): every adapter gets its clients from shared.azure.clients,
so all of them send `hybridnet/<version>` and share the transport, retry and timeout policy. Checked in
the source (no SDK constructor anywhere else in the deployed code) and on the wire (the simulator's
request log and a real Azurite round trip)."""

from __future__ import annotations

import ast
import inspect
import tomllib
from pathlib import Path
from typing import Any

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorThread
from shared.azure import clients
from shared.azure.arm import network_client
from shared.azure.cloudevents_out import publish
from shared.azure.keyvault import KeyEscrow
from shared.azure.tables import table_service
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FACTORY = ROOT / "shared" / "azure" / "clients.py"


def _sdk_constructors() -> set[str]:
    """Every client, credential and transport class the deployed SDKs export, plus their alternative
    constructors."""
    import azure.core.credentials
    import azure.core.pipeline.transport
    import azure.data.tables
    import azure.eventgrid
    import azure.identity
    import azure.keyvault.secrets
    import azure.mgmt.network

    # azure.core.pipeline.transport exports its transports lazily (module __getattr__).
    names = {"from_connection_string", "from_account_url", "Session", "RequestsTransport", "AioHttpTransport"}
    for module in (
        azure.core.credentials,
        azure.core.pipeline.transport,
        azure.data.tables,
        azure.eventgrid,
        azure.identity,
        azure.keyvault.secrets,
        azure.mgmt.network,
    ):
        names.update(
            name
            for name, value in vars(module).items()
            if inspect.isclass(value) and name.endswith(("Client", "Credential", "Transport"))
        )
    return names


def _constructor_calls(path: Path, names: set[str]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if name in names:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}(...)")
    return found


def test_no_sdk_client_is_built_outside_the_factory() -> None:
    names = _sdk_constructors()
    assert {
        "NetworkManagementClient",
        "TableServiceClient",
        "SecretClient",
        "EventGridPublisherClient",
    } <= names
    assert {"DefaultAzureCredential", "RequestsTransport"} <= names
    deployed = [ROOT / "function_app.py", *sorted((ROOT / "shared").rglob("*.py"))]
    outside = [hit for path in deployed if path != FACTORY for hit in _constructor_calls(path, names)]
    assert outside == []
    assert _constructor_calls(FACTORY, names)  # the scan does see constructor calls where they are


def test_the_user_agent_carries_the_project_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert clients.USER_AGENT == f"hybridnet/{project['version']}"


def _agents(ctl: SimControl, path_part: str) -> set[str]:
    return {r.get("userAgent", "") for r in ctl.requests() if path_part in r["path"]}


def test_arm_key_vault_and_event_grid_requests_carry_the_user_agent(
    seed_sim: SimulatorThread, seed_settings: Settings
) -> None:
    ctl = SimControl(seed_sim.info.control_url)
    ctl.clear_requests()

    list(network_client(seed_settings).virtual_networks.list("hybrid-network-rg"))
    escrow = KeyEscrow(seed_sim.info.vault_url, seed_settings.arm_ca_bundle, seed_settings.arm_retry_total)
    escrow.versions("ipsec-clients-test")
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": "clients-test-1",
        "source": "/hybridnet/test",
        "type": "Hybridnet.Test",
        "data": {},
    }
    assert publish(seed_settings, event, what="test event") is True

    for part in ("/virtualNetworks", "/secrets/ipsec-clients-test", "/eventgrid/topics/"):
        agents = _agents(ctl, part)
        assert agents, f"no request to {part} in the simulator's log"
        assert all(agent.startswith(f"{clients.USER_AGENT} ") for agent in agents), (part, agents)


def test_table_requests_carry_the_user_agent(seed_settings: Settings) -> None:
    seen: list[str] = []

    def hook(request: Any) -> None:
        seen.append(request.http_request.headers.get("User-Agent", ""))

    service = table_service(seed_settings)
    service.create_table_if_not_exists("clientsUserAgent", raw_request_hook=hook)
    list(service.list_tables(raw_request_hook=hook))
    assert len(seen) >= 2
    assert all(agent.startswith(f"{clients.USER_AGENT} ") for agent in seen), seen


def test_one_client_per_setting_and_one_credential() -> None:
    assert clients.table_service_from_connection_string("UseDevelopmentStorage=true") is (
        clients.table_service_from_connection_string("UseDevelopmentStorage=true")
    )
    assert clients.credential() is clients.credential()
