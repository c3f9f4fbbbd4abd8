"""``python -m hybridnet_dev.armsim`` prints one JSON line when ready and stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def test_cli_prints_info_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hybridnet_dev.armsim",
            "--spec",
            "examples/seed-network.yaml",
            "--page-size",
            "2",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert set(info) == {
            "armUrl",
            "caFile",
            "controlUrl",
            "subscriptionId",
            "identityEndpoint",
            "identityHeader",
            "principalId",
            "topicEndpoint",
            "topicKey",
            "vaultUrl",
        }
        assert info["armUrl"].startswith("https://127.0.0.1:")
        assert Path(info["caFile"]).is_file()
        state = requests.get(info["controlUrl"] + "/_sim/state", timeout=5).json()
        assert state["circuits"][0]["name"] == "hybrid-er-circuit"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout.read() == ""  # exactly one line on stdout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
