"""`hybridnet up` (what `make run` runs): Azurite, the Azure simulator seeded from a spec, and the
local Functions host serving function_app.app against them — the whole app on a simulated hybrid
network, with the production code paths (DefaultAzureCredential, the real SDKs)."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.azurite import Azurite
from shared.azure.keyvault import secret_name
from shared.spec import NetworkSpec
from shared.spec.load import SpecError, load_spec_file

REPO_ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = REPO_ROOT / ".run"


def _start_json_process(
    command: list[str], env: dict[str, str], log_path: Path, what: str
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start a child that prints one JSON line when ready; its stderr goes to a log file."""
    log = open(log_path, "a")
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    log.close()
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=5)
        raise SystemExit(f"{what} exited with code {process.returncode} before it was ready; see {log_path}")
    return process, json.loads(line)


def sample_settings() -> dict[str, str]:
    """The non-empty Values of local.settings.sample.json: the documented defaults of every app setting."""
    values = json.loads((REPO_ROOT / "local.settings.sample.json").read_text())["Values"]
    return {name: str(value) for name, value in values.items() if str(value)}


# Credentials that would make DefaultAzureCredential use something other than the managed identity.
FOREIGN_CREDENTIALS = (
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_USERNAME",
    "AZURE_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
)
QUIET = "0 0 0 1 1 *"  # a timer schedule that does not fire while a test or benchmark runs


def app_settings(sim: dict[str, str], *, storage: str, spec_path: str | Path) -> dict[str, str]:
    """The app settings that run the app against a simulator (its ready-line JSON) and Azurite, with
    the production code paths: managed identity from the simulator's endpoint, the real SDKs."""
    return {
        **sample_settings(),
        "AZURE_SUBSCRIPTION_ID": sim["subscriptionId"],
        "HYBRIDNET_ARM_ENDPOINT": sim["armUrl"],
        "HYBRIDNET_ARM_CA_BUNDLE": sim["caFile"],
        "HYBRIDNET_ARM_POLLING_INTERVAL": "0.2",
        "IDENTITY_ENDPOINT": sim["identityEndpoint"],
        "IDENTITY_HEADER": sim["identityHeader"],
        "HYBRIDNET_SPEC_PATH": os.path.abspath(spec_path),
        "AzureWebJobsStorage": storage,
        # The simulator's managed identity is the app's own: its writes never re-trigger drift.
        "HYBRIDNET_APP_PRINCIPAL_IDS": sim["principalId"],
        "HYBRIDNET_EVENTS_TOPIC_ENDPOINT": sim["topicEndpoint"],
        "HYBRIDNET_EVENTS_TOPIC_KEY": sim["topicKey"],
        "HYBRIDNET_KEYVAULT_URL": sim["vaultUrl"],
    }


APPLIANCE_PICKUP_DELAY = 15.0  # seconds between a new key in Key Vault and the appliance using it


def _fire(host_info: dict[str, Any], function: str) -> None:
    """Run a timer function now, through the host's admin endpoint (as `func` does)."""
    request = urllib.request.Request(
        f"{host_info['baseUrl']}/admin/functions/{function}",
        data=b'{"input": ""}',
        method="POST",
        headers={"x-functions-key": host_info["masterKey"], "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30):
        pass


def _circuit_names(spec: NetworkSpec) -> list[str]:
    return sorted(
        {site.express_route.connection.circuit_id.rstrip("/").split("/")[-1] for site in spec.sites}
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hybridnet up", description=__doc__)
    parser.add_argument("--spec", default=str(REPO_ROOT / "examples/seed-network.yaml"))
    parser.add_argument("--port", type=int, default=7071, help="the local Functions host's port")
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="keep Azurite's data from the last run (by default it is cleared: the simulated network starts afresh)",
    )
    args = parser.parse_args(argv)

    try:
        spec = load_spec_file(args.spec)
    except SpecError as exc:
        print(f"hybridnet up: {exc}", file=sys.stderr)
        return 1
    RUN_DIR.mkdir(exist_ok=True)
    if not args.keep_data:
        # Records of a previous simulated network (failovers, runs, rotations) would describe a
        # network that no longer exists: the simulator starts from the spec every time.
        shutil.rmtree(RUN_DIR / "azurite", ignore_errors=True)
    children: list[subprocess.Popen[str]] = []
    azurite = Azurite(str(RUN_DIR / "azurite")).start()
    try:
        env = {**sample_settings(), **os.environ}
        sim, sim_info = _start_json_process(
            [sys.executable, "-m", "hybridnet_dev.armsim", "--spec", args.spec],
            env,
            RUN_DIR / "simulator.log",
            "the Azure simulator",
        )
        children.append(sim)
        env.update(app_settings(sim_info, storage=azurite.connection_string, spec_path=args.spec))
        # One person at a terminal: a refresh right after flipping the circuit shows it.
        env["HYBRIDNET_HEALTH_REFRESH_MIN_SECONDS"] = os.environ.get(
            "HYBRIDNET_HEALTH_REFRESH_MIN_SECONDS", "1"
        )
        host, host_info = _start_json_process(
            [
                sys.executable,
                "-m",
                "hybridnet_dev.funchost",
                "--app-dir",
                str(REPO_ROOT),
                "--port",
                str(args.port),
            ],
            env,
            RUN_DIR / "host.log",
            "the local Functions host",
        )
        children.append(host)
        control = SimControl(sim_info["controlUrl"])
        # Resource changes in the simulated network reach the app as Event Grid deliveries do in Azure.
        control.subscribe_events(
            f"{host_info['baseUrl']}/runtime/webhooks/eventgrid?functionName=arm_event&code={host_info['eventGridKey']}"
        )
        # Each simulated appliance is run by "on-premises automation" that takes new keys from Key Vault.
        for site in spec.sites:
            control.appliance_follow(
                site.on_premises.appliance_ip, secret_name(site.name), APPLIANCE_PICKUP_DELAY
            )
        _fire(host_info, "failover_poll")  # a first snapshot now, not at the next minute
        health_url = f"{host_info['baseUrl']}/api/health?code={host_info['functionKey']}"
        stack = {
            "health": health_url,
            "host": host_info,
            "simulator": sim_info,
            "azurite": azurite.connection_string,
        }
        (RUN_DIR / "stack.json").write_text(json.dumps(stack, indent=2))
        # The same settings for the CLI in another terminal: `set -a; . .run/app.env; set +a`.
        app_env = {
            k: v
            for k, v in env.items()
            if k in sample_settings() or k.startswith(("HYBRIDNET_", "IDENTITY_"))
        }
        (RUN_DIR / "app.env").write_text(
            "".join(f"{k}={shlex.quote(v)}\n" for k, v in sorted(app_env.items()))
        )
        print(json.dumps({"healthUrl": health_url, "controlUrl": sim_info["controlUrl"]}), flush=True)
        circuits = "\n".join(
            f"  circuit down:  curl -X PUT -d '{{\"up\": false}}' {sim_info['controlUrl']}/_sim/circuits/{name}"
            for name in _circuit_names(spec)
        )
        print(
            f"\nhybridnet is running on the simulated network from {args.spec}.\n"
            f"  health:        curl '{health_url}'\n{circuits}\n"
            f"  CLI:           set -a; . {RUN_DIR}/app.env; set +a; .venv/bin/hybridnet plan\n"
            f"  logs:          {RUN_DIR}/*.log   details: {RUN_DIR}/stack.json\n"
            "Ctrl-C stops everything.",
            file=sys.stderr,
            flush=True,
        )
        stop = False

        def _stop(_signum: int, _frame: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        while not stop and all(child.poll() is None for child in children):
            time.sleep(0.2)
        failed = [child for child in children if child.poll() not in (None, 0)]
        return 1 if failed else 0
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
        azurite.stop()
