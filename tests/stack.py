"""Helpers for tests that run the app against the simulator and Azurite (not a test module)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from azure.mgmt.network import NetworkManagementClient

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorInfo, SimulatorThread
from hybridnet_dev.funchost.server import HostInfo, LocalHost
from hybridnet_dev.local_stack import FOREIGN_CREDENTIALS, app_settings
from shared.spec import NetworkSpec
from tests.helpers import post

ROOT = Path(__file__).resolve().parent.parent
SEED_PATH = ROOT / "examples/seed-network.yaml"
SUB = "00000000-0000-0000-0000-000000000000"
RG_ID = f"/subscriptions/{SUB}/resourceGroups/hybrid-network-rg/providers/Microsoft.Network"
CIRCUIT = "hybrid-er-circuit"
LNG = f"{RG_ID}/localNetworkGateways/hybrid-onprem-lng"
VPN_GATEWAY = f"{RG_ID}/virtualNetworkGateways/hybrid-vpn-gw"
VPN_CONNECTION = f"{RG_ID}/connections/hybrid-vpn-connection"
APPLIANCE = "40.50.60.70"


def seed_spec() -> NetworkSpec:
    return NetworkSpec.model_validate(yaml.safe_load(SEED_PATH.read_text()))


def use_simulator_identity(env: pytest.MonkeyPatch, sim: SimulatorInfo) -> None:
    """DefaultAzureCredential gets its tokens from the simulator's managed-identity endpoint, as an
    Azure Function gets them from the host's."""
    for name in FOREIGN_CREDENTIALS:
        env.delenv(name, raising=False)
    env.setenv("IDENTITY_ENDPOINT", sim.identity_endpoint)
    env.setenv("IDENTITY_HEADER", sim.identity_header)


@contextmanager
def simulator(spec: NetworkSpec | None = None, **options: Any) -> Iterator[SimulatorThread]:
    """A simulator serving ``spec`` (the seed network by default), with DefaultAzureCredential pointed
    at its managed-identity endpoint while it runs."""
    with pytest.MonkeyPatch.context() as mp, SimulatorThread(spec or seed_spec(), **options) as running:
        use_simulator_identity(mp, running.info)
        yield running


def simulator_fixtures(spec: Callable[[], NetworkSpec] = seed_spec, **options: Any) -> tuple[Any, Any]:
    """A test module's fixtures ``sim`` (a simulator serving ``spec()`` for the module, see ``simulator``)
    and ``ctl`` (its control API)."""

    @pytest.fixture(scope="module")
    def sim() -> Iterator[SimulatorThread]:
        with simulator(spec(), **options) as running:
            yield running

    @pytest.fixture(scope="module")
    def ctl(sim: SimulatorThread) -> SimControl:
        return SimControl(sim.info.control_url)

    return sim, ctl


def sdk_client(sim: SimulatorThread, credential: Any, **options: Any) -> NetworkManagementClient:
    """The real azure-mgmt-network SDK against the simulator, polling and backing off quickly."""
    settings: dict[str, Any] = {"polling_interval": 0.05, "retry_backoff_factor": 0.05, **options}
    return NetworkManagementClient(
        credential,
        sim.info.subscription_id,
        base_url=sim.info.arm_url,
        connection_verify=sim.info.ca_file,
        **settings,
    )


def put_fidelity_nsg(control: SimControl, subscription_id: str) -> None:
    """An NSG with one inbound HTTPS rule, for the tests that read back what the seed does not hold."""
    rule = {
        "name": "allow-https",
        "properties": {
            "protocol": "Tcp",
            "sourcePortRange": "*",
            "destinationPortRange": "443",
            "sourceAddressPrefix": "10.10.0.0/16",
            "destinationAddressPrefix": "*",
            "access": "Allow",
            "priority": 130,
            "direction": "Inbound",
        },
    }
    control.put_resource(
        f"/subscriptions/{subscription_id}/resourceGroups/hybrid-network-rg/providers/Microsoft.Network"
        "/networkSecurityGroups/fidelity-nsg",
        {"location": "eastus", "properties": {"securityRules": [rule]}},
    )


def point_app_at(
    env: pytest.MonkeyPatch,
    sim: SimulatorInfo,
    *,
    storage: str | None = None,
    spec_path: Path = SEED_PATH,
    **settings: str,
) -> None:
    """Set the app settings exactly as `make run` does, so production code paths run unchanged."""
    for name in FOREIGN_CREDENTIALS:
        env.delenv(name, raising=False)
    values = {
        **app_settings(sim.to_json(), storage=storage or "", spec_path=spec_path),
        "HYBRIDNET_ARM_POLLING_INTERVAL": "0.05",
        "HYBRIDNET_ARM_RETRY_TOTAL": "3",
        **settings,
    }
    if not storage:
        values.pop("AzureWebJobsStorage")
    for name, value in values.items():
        env.setenv(name, value)


@dataclass(frozen=True)
class AppOnSimulator:
    """A running simulator and the app settings pointing at it (`env` undoes them at the end)."""

    sim: SimulatorInfo
    control: SimControl
    env: pytest.MonkeyPatch


@contextmanager
def app_on_simulator(
    *,
    storage: str | None,
    spec: NetworkSpec | None = None,
    empty: bool = False,
    spec_path: Path = SEED_PATH,
    **settings: str,
) -> Iterator[AppOnSimulator]:
    """The one stack setup: a simulator seeded with `spec` (the seed network; `empty`: none of it
    deployed) and the app settings of `point_app_at` for as long as the block runs."""
    with SimulatorThread(spec or seed_spec(), empty=empty) as sim, pytest.MonkeyPatch.context() as env:
        point_app_at(env, sim.info, storage=storage, spec_path=spec_path, **settings)
        yield AppOnSimulator(sim.info, SimControl(sim.info.control_url), env)


def put_rogue_connection(control: SimControl) -> str:
    """Someone else's IPsec connection on the seed network's VPN gateway (not in the spec); its id."""
    rogue = f"{RG_ID}/connections/rogue-tunnel"
    control.put_resource(
        rogue,
        {
            "location": "eastus",
            "properties": {
                "connectionType": "IPsec",
                "virtualNetworkGateway1": {"id": VPN_GATEWAY},
                "localNetworkGateway2": {"id": LNG},
                "sharedKey": "rogue0key",
            },
        },
    )
    return rogue


def app_host() -> LocalHost:
    """function_app on the local Functions host, as `make run` serves it; timers fire only on request
    (`fire_function`)."""
    return LocalHost("function_app", app_dir=str(ROOT), port=0, enable_timers=False)


def arm_event_webhook(host: HostInfo) -> str:
    """Where Event Grid delivers ARM events: the `arm_event` trigger's webhook, with its key."""
    return f"{host.base_url}/runtime/webhooks/eventgrid?functionName=arm_event&code={host.eventgrid_key}"


def deliver_arm_events(host: HostInfo, events: list[dict[str, Any]]) -> int:
    """Deliver `events` (Event Grid schema) as Event Grid does; the status the host answered."""
    return post(arm_event_webhook(host), events, headers={"aeg-event-type": "Notification"}).status


def fire_function(host: HostInfo, name: str) -> None:
    """Run a non-HTTP function now through the host's admin endpoint, as the portal's "Test/Run" does."""
    reply = post(f"{host.base_url}/admin/functions/{name}", {"input": ""}, key=host.master_key)
    assert reply.status == 202, reply


def arm_call(
    info: SimulatorInfo,
    credential: Any,
    method: str,
    path: str = "",
    body: Any = None,
    *,
    url: str | None = None,
    api_version: str = "2025-05-01",
) -> requests.Response:
    """One plain ARM request to the simulator with `credential`'s token: `path` under its ARM URL (with
    `api_version`), or a whole `url` as ARM handed it out (an operation's status URL)."""
    token = credential.get_token("https://management.azure.com/.default").token
    return requests.request(
        method,
        url or info.arm_url + path,
        params=None if url else {"api-version": api_version},
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        verify=info.ca_file,
        timeout=10,
    )
