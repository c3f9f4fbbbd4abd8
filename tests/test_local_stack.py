"""`hybridnet up` (what `make run` runs): which app settings the local host gets, and keys that never
reach the host's log. One real stack (Azurite + simulator + host) in a temporary run directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.local_stack import (
    FOREIGN_CREDENTIALS,
    StackUsageError,
    compose_environment,
    parse_sets,
)
from tests.helpers import call, post, wait_for
from tests.stack import RG_ID, ROOT, SEED_PATH

SIM = {
    "subscriptionId": "sub-of-this-run",
    "armUrl": "https://127.0.0.1:4443",
    "caFile": "/tmp/ca.pem",
    "identityEndpoint": "http://127.0.0.1:4444/msi/token",
    "identityHeader": "header-of-this-run",
    "principalId": "principal-of-this-run",
    "topicEndpoint": "https://127.0.0.1:4443/eventgrid/topics/hybridnet/api/events",
    "topicKey": "topic-key-of-this-run",
    "vaultUrl": "https://127.0.0.1:4443/vault",
}


def _compose(environ: dict[str, str], sets: dict[str, str] | None = None):
    return compose_environment(
        SIM, storage="UseThisRunsAzurite", spec_path=SEED_PATH, environ=environ, sets=sets or {}
    )


def test_environment_overrides_the_sample_defaults_and_set_overrides_the_environment():
    composed = _compose(
        {"HYBRIDNET_DRIFT_MODE": "enforce", "HYBRIDNET_FAILOVER_HOLD_COUNT": "3", "PATH": "/usr/bin"},
        {"HYBRIDNET_FAILOVER_HOLD_COUNT": "2"},
    )
    env = composed.env
    assert env["HYBRIDNET_DRIFT_MODE"] == "enforce"  # was silently reset to the sample's "report"
    assert env["HYBRIDNET_FAILOVER_HOLD_COUNT"] == "2"
    assert env["HYBRIDNET_RECONCILE_SCHEDULE"] == "0 */15 * * * *"  # sample default kept
    assert env["HYBRIDNET_HEALTH_REFRESH_MIN_SECONDS"] == "1"  # the local stack's default
    assert env["PATH"] == "/usr/bin"
    assert [(o.name, o.value, o.source) for o in composed.overrides] == [
        ("HYBRIDNET_DRIFT_MODE", "enforce", "environment"),
        ("HYBRIDNET_FAILOVER_HOLD_COUNT", "2", "--set"),
    ]
    summary = composed.summary()
    assert "HYBRIDNET_DRIFT_MODE='enforce' (environment)" in summary
    assert "HYBRIDNET_FAILOVER_HOLD_COUNT='2' (--set)" in summary


def test_no_override_says_so_and_a_value_equal_to_the_default_is_not_an_override():
    composed = _compose({"HYBRIDNET_DRIFT_MODE": "report"})
    assert composed.overrides == () and "none (sample defaults)" in composed.summary()


def test_the_stack_wiring_wins_over_a_stale_environment_and_foreign_credentials_are_dropped():
    stale = {
        "HYBRIDNET_ARM_ENDPOINT": "https://127.0.0.1:1/dead-simulator",
        "HYBRIDNET_TABLES_CONNECTION_STRING": "DefaultEndpointsProtocol=https;AccountName=elsewhere",
        "HYBRIDNET_EVENTS_TOPIC_KEY": "an-old-topic-key",
        "AZURE_CLIENT_SECRET": "not-the-simulator",
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    }
    composed = _compose(stale)
    env = composed.env
    assert env["HYBRIDNET_ARM_ENDPOINT"] == SIM["armUrl"]
    assert env["AzureWebJobsStorage"] == "UseThisRunsAzurite"
    assert env["HYBRIDNET_EVENTS_TOPIC_KEY"] == SIM["topicKey"]
    assert "HYBRIDNET_TABLES_CONNECTION_STRING" not in env
    assert not set(FOREIGN_CREDENTIALS) & set(env)
    assert composed.ignored == (
        "HYBRIDNET_ARM_ENDPOINT",
        "HYBRIDNET_EVENTS_TOPIC_KEY",
        "HYBRIDNET_TABLES_CONNECTION_STRING",
    )
    assert "an-old-topic-key" not in composed.summary()


def test_a_secret_looking_override_is_listed_without_its_value():
    composed = _compose({"HYBRIDNET_SOME_API_KEY": "s3cr3t-value"})
    summary = composed.summary()
    assert "HYBRIDNET_SOME_API_KEY=(hidden)" in summary and "s3cr3t-value" not in summary
    assert "not a setting hybridnet reads" in summary


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("HYBRIDNET_DRIFT_MODE", "expected NAME=VALUE"),
        ("=enforce", "expected NAME=VALUE"),
        ("HYBRIDNET_DRIFT_MOOD=enforce", "HYBRIDNET_DRIFT_MOOD: not an app setting"),
        ("HYBRIDNET_ARM_ENDPOINT=https://x", "the local stack sets it"),
        ("HYBRIDNET_SPEC_PATH=a.yaml", "use --spec FILE"),
    ],
)
def test_a_bad_set_is_refused_naming_it(item, message):
    with pytest.raises(StackUsageError, match=message.replace("=", ".")):
        parse_sets([item])


def test_set_accepts_known_settings_and_empty_values():
    assert parse_sets(["HYBRIDNET_DRIFT_MODE=enforce", "HYBRIDNET_HEALTH_STALE_SECONDS="]) == {
        "HYBRIDNET_DRIFT_MODE": "enforce",
        "HYBRIDNET_HEALTH_STALE_SECONDS": "",
    }


def _up(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hybridnet_dev.cli", "up", *args],
        cwd=ROOT,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def test_up_refuses_an_unknown_set_before_starting_anything(tmp_path):
    proc = _up(["--run-dir", str(tmp_path), "--set", "HYBRIDNET_DRIFT_MOOD=enforce"], dict(os.environ))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == ""
    assert "HYBRIDNET_DRIFT_MOOD: not an app setting" in err
    assert not (tmp_path / "azurite").exists()


def test_up_refuses_a_bad_value_naming_the_setting_before_starting_anything(tmp_path):
    env = {**os.environ, "HYBRIDNET_FAILOVER_HOLD_COUNT": "2"}
    proc = _up(["--run-dir", str(tmp_path), "--set", "HYBRIDNET_DRIFT_MODE=enfroce"], env)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == ""
    assert "HYBRIDNET_DRIFT_MODE='enfroce' must be one of: report, enforce, enforce-disruptive" in err
    assert not (tmp_path / "azurite").exists()


@dataclass
class RunningStack:
    stack: dict
    run_dir: Path
    stderr: str


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    run_dir = tmp_path_factory.mktemp("run")
    env = {
        **os.environ,
        "HYBRIDNET_DRIFT_MODE": "enforce",
        "HYBRIDNET_ARM_ENDPOINT": "https://127.0.0.1:1/left-over-from-an-old-app-env",
        # No timer fires while the test runs: what the log holds comes from the requests below.
        "HYBRIDNET_RECONCILE_SCHEDULE": "0 0 0 1 1 *",
        "HYBRIDNET_ROTATION_SCHEDULE": "0 0 0 1 1 *",
    }
    proc = _up(
        ["--port", "0", "--run-dir", str(run_dir), "--set", "HYBRIDNET_FAILOVER_HOLD_COUNT=2"],
        env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            _, err = proc.communicate(timeout=30)
            pytest.fail(f"hybridnet up exited with {proc.returncode}: {err[-3000:]}")
        json.loads(line)
        stack = json.loads((run_dir / "stack.json").read_text())
        host = stack["host"]
        base, function_key, master_key = host["baseUrl"], host["functionKey"], host["masterKey"]
        # Traffic that carries every key: health with ?code=, a wrong key, the admin API, reconcile
        # with the master key in the query, an Event Grid delivery (the simulator posts with code=).
        assert call("GET", f"{base}/api/health?code={function_key}&refresh=true").status == 200
        assert call("GET", f"{base}/api/health?code=wrong-{function_key}").status == 401
        reply = post(f"{base}/api/reconcile?site=seed&code={master_key}")
        stack["reconcile"] = (reply.status, reply.json())
        # A person edits a resource in the portal: the simulator delivers the event with code=.
        SimControl(stack["simulator"]["controlUrl"]).patch_resource(
            f"{RG_ID}/localNetworkGateways/hybrid-onprem-lng", {"gatewayIpAddress": "40.50.60.96"}
        )
        wait_for(
            lambda: "Functions.arm_event" in (run_dir / "host.log").read_text(), what="an arm_event call"
        )
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        yield RunningStack(stack=stack, run_dir=run_dir, stderr=err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_up_honours_the_environment_and_set_and_prints_them(up):
    assert "HYBRIDNET_DRIFT_MODE='enforce' (environment)" in up.stderr
    assert "HYBRIDNET_FAILOVER_HOLD_COUNT='2' (--set)" in up.stderr
    assert (
        "ignored from the environment (the stack sets them for this run): HYBRIDNET_ARM_ENDPOINT" in up.stderr
    )
    # The running app really is in enforce mode: a reconcile is queued, not answered as a report.
    status, body = up.stack["reconcile"]
    assert (status, body.get("mode")) == (202, "enforce"), body
    app_env = (up.run_dir / "app.env").read_text().splitlines()
    assert "HYBRIDNET_DRIFT_MODE=enforce" in app_env and "HYBRIDNET_FAILOVER_HOLD_COUNT=2" in app_env
    assert f"HYBRIDNET_ARM_ENDPOINT={up.stack['simulator']['armUrl']}" in app_env


def test_the_host_log_never_contains_a_key(up):
    log = (up.run_dir / "host.log").read_text()
    assert "Functions.health" in log and "Functions.arm_event" in log  # the traffic is in the log
    for name in ("functionKey", "masterKey", "eventGridKey"):
        assert up.stack["host"][name] not in log, name
