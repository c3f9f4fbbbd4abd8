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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridnet_dev.armsim.auth import APP_CLIENT_ID
from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.eventfilters import deployed_filters
from hybridnet_dev.armsim.rbac import load_contract
from hybridnet_dev.azurite import Azurite
from shared.azure.keyvault import secret_name
from shared.settings import Settings, SettingsError
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


# Settings the stack sets itself: they bind the app to this run's simulator, Azurite and spec. A value
# in the environment (say, from an earlier run's app.env) would point the app at a dead simulator, so
# it is ignored, and `--set` refuses them.
STACK_WIRED = (
    "AZURE_SUBSCRIPTION_ID",
    "AzureWebJobsStorage",
    "HYBRIDNET_ARM_ENDPOINT",
    "HYBRIDNET_ARM_CA_BUNDLE",
    "HYBRIDNET_APP_PRINCIPAL_IDS",
    "HYBRIDNET_EVENTS_TOPIC_ENDPOINT",
    "HYBRIDNET_EVENTS_TOPIC_KEY",
    "HYBRIDNET_KEYVAULT_URL",
    "HYBRIDNET_SPEC_PATH",
    "HYBRIDNET_TABLES_ACCOUNT_URL",
    "HYBRIDNET_TABLES_CONNECTION_STRING",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
)
# Defaults of the local stack that differ from the sample's (one person at a terminal, a fast
# simulator): the environment and `--set` override them like any other.
LOCAL_DEFAULTS = {"HYBRIDNET_ARM_POLLING_INTERVAL": "0.2", "HYBRIDNET_HEALTH_REFRESH_MIN_SECONDS": "1"}
# Settings read by the host rather than the app.
HOST_SETTINGS = ("WEBSITE_TIME_ZONE",)
_SECRET_WORDS = ("KEY", "SECRET", "PASSWORD", "CONNECTION_STRING", "TOKEN")


class StackUsageError(ValueError):
    """A `--set` or an override the stack cannot use; the message says which and why."""


@dataclass(frozen=True)
class Override:
    """A setting whose value differs from the local stack's default, and where it came from."""

    name: str
    value: str
    source: str  # "environment" or "--set"

    def describe(self) -> str:
        shown = "(hidden)" if any(word in self.name.upper() for word in _SECRET_WORDS) else repr(self.value)
        known = self.name in sample_settings_names() or self.name in HOST_SETTINGS
        note = "" if known else "  (not a setting hybridnet reads: a typo?)"
        return f"{self.name}={shown} ({self.source}){note}"


@dataclass(frozen=True)
class StackEnvironment:
    """The local host's environment, and what in it differs from the local stack's defaults."""

    env: dict[str, str]
    overrides: tuple[Override, ...]
    ignored: tuple[str, ...]  # names in the environment the stack sets itself

    def summary(self) -> str:
        lines = [f"  {o.describe()}" for o in self.overrides] or ["  none (sample defaults)"]
        text = "settings overridden:\n" + "\n".join(lines)
        if self.ignored:
            text += "\nignored from the environment (the stack sets them for this run): " + ", ".join(
                self.ignored
            )
        return text


def sample_settings_names() -> frozenset[str]:
    values = json.loads((REPO_ROOT / "local.settings.sample.json").read_text())["Values"]
    return frozenset(values)


def parse_sets(items: Sequence[str]) -> dict[str, str]:
    """`--set NAME=VALUE` arguments -> {NAME: VALUE}. Raises StackUsageError naming a malformed item, an
    unknown setting (a typo would otherwise be silently ignored by the app) or one the stack sets."""
    known = sample_settings_names() | set(HOST_SETTINGS)
    parsed: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise StackUsageError(
                f"--set {item!r}: expected NAME=VALUE, e.g. --set HYBRIDNET_DRIFT_MODE=enforce"
            )
        if name in STACK_WIRED:
            hint = " (use --spec FILE)" if name == "HYBRIDNET_SPEC_PATH" else ""
            raise StackUsageError(
                f"--set {name}: the local stack sets it to this run's simulator/Azurite{hint}; it cannot be overridden"
            )
        if name not in known:
            raise StackUsageError(
                f"--set {name}: not an app setting (known: see local.settings.sample.json Values)"
            )
        parsed[name] = value
    return parsed


def compose_environment(
    sim: dict[str, str],
    *,
    storage: str,
    spec_path: str | Path,
    environ: Mapping[str, str],
    sets: dict[str, str],
) -> StackEnvironment:
    """The host's environment, lowest precedence first: the sample's defaults, the local stack's
    defaults, `HYBRIDNET_*` (and WEBSITE_TIME_ZONE) variables of `environ`, `--set`; the settings that
    bind the app to this run's simulator and Azurite always come from the stack. Credentials that
    would take DefaultAzureCredential away from the simulator's managed identity are dropped."""
    defaults = {**app_settings(sim, storage=storage, spec_path=spec_path), **LOCAL_DEFAULTS}
    wired = {name: defaults[name] for name in STACK_WIRED if name in defaults}
    env = {k: v for k, v in environ.items() if k not in FOREIGN_CREDENTIALS and k not in STACK_WIRED}
    env.update(defaults)
    for name in STACK_WIRED:
        if name not in wired:
            env.pop(name, None)
    overrides: list[Override] = []
    ignored: list[str] = []
    from_environment = {k: v for k, v in environ.items() if k.startswith("HYBRIDNET_") or k in HOST_SETTINGS}
    for source, values in (("environment", from_environment), ("--set", sets)):
        for name, value in sorted(values.items()):
            if name in STACK_WIRED:
                same_spec = name == "HYBRIDNET_SPEC_PATH" and os.path.abspath(value) == wired.get(name)
                if value != wired.get(name, "") and not same_spec:
                    ignored.append(name)
                continue
            env[name] = value
            overrides = [o for o in overrides if o.name != name]
            if value != defaults.get(name, ""):
                overrides.append(Override(name, value, source))
    return StackEnvironment(env=env, overrides=tuple(overrides), ignored=tuple(sorted(set(ignored))))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hybridnet up",
        description=__doc__,
        epilog=(
            "App settings: the sample's defaults (local.settings.sample.json), overridden by HYBRIDNET_* "
            "variables of the environment, overridden by --set. The settings that point the app at this "
            "run's simulator and Azurite are always the stack's."
        ),
    )
    parser.add_argument(
        "--spec",
        default=None,
        help="the desired-state spec the simulated network is seeded from "
        "(default: $HYBRIDNET_SPEC_PATH, else examples/seed-network.yaml)",
    )
    parser.add_argument(
        "--port", type=int, default=7071, help="the local Functions host's port (0: a free one)"
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an app setting for this run, e.g. --set HYBRIDNET_DRIFT_MODE=enforce (repeatable)",
    )
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="keep Azurite's data from the last run (by default it is cleared: the simulated network starts afresh)",
    )
    parser.add_argument(
        "--run-dir",
        default=str(RUN_DIR),
        help="where logs, Azurite's data, stack.json and app.env go (default: .run in the checkout)",
    )
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir).resolve()

    try:
        sets = parse_sets(args.sets)
    except StackUsageError as exc:
        print(f"hybridnet up: {exc}", file=sys.stderr)
        return 2
    spec_path = (
        args.spec or os.environ.get("HYBRIDNET_SPEC_PATH") or str(REPO_ROOT / "examples/seed-network.yaml")
    )
    try:
        spec = load_spec_file(spec_path)
    except SpecError as exc:
        print(f"hybridnet up: {exc}", file=sys.stderr)
        return 1
    # The overrides are checked before anything starts; what the simulator provides is a placeholder
    # here (checked again with the real values before the host starts).
    placeholder = {key: "https://127.0.0.1" for key in ("armUrl", "topicEndpoint", "vaultUrl")}
    placeholder.update(
        {"caFile": str(Path(spec_path).resolve()), "topicKey": "placeholder", "subscriptionId": "placeholder"}
    )
    try:
        Settings.from_env(
            compose_environment(
                {**placeholder, "identityEndpoint": "", "identityHeader": "", "principalId": ""},
                storage="UseDevelopmentStorage=true",
                spec_path=spec_path,
                environ=os.environ,
                sets=sets,
            ).env
        )
    except SettingsError as exc:
        print(f"hybridnet up: {exc}", file=sys.stderr)
        return 2
    run_dir.mkdir(parents=True, exist_ok=True)
    if not args.keep_data:
        # Records of a previous simulated network (failovers, runs, rotations) would describe a
        # network that no longer exists: the simulator starts from the spec every time.
        shutil.rmtree(run_dir / "azurite", ignore_errors=True)
    children: list[subprocess.Popen[str]] = []
    azurite = Azurite(str(run_dir / "azurite")).start()
    try:
        sim_env = {k: v for k, v in os.environ.items() if k not in FOREIGN_CREDENTIALS}
        sim, sim_info = _start_json_process(
            [sys.executable, "-m", "hybridnet_dev.armsim", "--spec", spec_path],
            sim_env,
            run_dir / "simulator.log",
            "the Azure simulator",
        )
        children.append(sim)
        composed = compose_environment(
            sim_info, storage=azurite.connection_string, spec_path=spec_path, environ=os.environ, sets=sets
        )
        env = composed.env
        try:
            Settings.from_env(env)
        except SettingsError as exc:
            print(f"hybridnet up: {exc}", file=sys.stderr)
            return 2
        print(composed.summary(), file=sys.stderr, flush=True)
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
            run_dir / "host.log",
            "the local Functions host",
        )
        children.append(host)
        control = SimControl(sim_info["controlUrl"])
        # Resource changes in the simulated network reach the app as Event Grid deliveries do in Azure.
        # Filtered as the deployment filters (infra/app-contract.json, read by infra/modules/site.bicep).
        contract = load_contract()
        control.subscribe_events(
            f"{host_info['baseUrl']}/runtime/webhooks/eventgrid?functionName=arm_event&code={host_info['eventGridKey']}",
            includedEventTypes=contract["includedEventTypes"],
            advancedFilters=deployed_filters(contract, client_id=APP_CLIENT_ID),
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
            "overrides": {o.name: o.source for o in composed.overrides},
        }
        (run_dir / "stack.json").write_text(json.dumps(stack, indent=2))
        # The same settings for the CLI in another terminal: `set -a; . .run/app.env; set +a`.
        names = sample_settings_names()
        app_env = {k: v for k, v in env.items() if k in names or k.startswith(("HYBRIDNET_", "IDENTITY_"))}
        (run_dir / "app.env").write_text(
            "".join(f"{k}={shlex.quote(v)}\n" for k, v in sorted(app_env.items()))
        )
        print(json.dumps({"healthUrl": health_url, "controlUrl": sim_info["controlUrl"]}), flush=True)
        circuits = "\n".join(
            f"  circuit down:  curl -X PUT -d '{{\"up\": false}}' {sim_info['controlUrl']}/_sim/circuits/{name}"
            for name in _circuit_names(spec)
        )
        print(
            f"\nhybridnet is running on the simulated network from {spec_path}"
            f" (drift mode {env.get('HYBRIDNET_DRIFT_MODE', 'report')}).\n"
            f"  health:        curl '{health_url}'\n{circuits}\n"
            f"  CLI:           set -a; . {run_dir}/app.env; set +a; .venv/bin/hybridnet plan\n"
            f"  logs:          {run_dir}/*.log   details: {run_dir}/stack.json\n"
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
