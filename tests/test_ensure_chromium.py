"""`make test` on a fresh machine: Chromium (for the headless health page test) is checked first,
installed from Debian's package when this user can, and otherwise `make test` stops saying what to run.

The script's decisions are exercised with a PATH holding only stand-ins for `id`, `apt-get`, `sudo` and
`chromium` (installing a browser for real is not something a test may do)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.stack import ROOT

SCRIPT = ROOT / ".ci" / "ensure-chromium"
BASH = "/bin/bash"


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!{BASH}\n{body}\n")
    path.chmod(0o755)


def _run(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BASH, str(SCRIPT)], env={"PATH": str(folder)}, capture_output=True, text=True, timeout=30
    )


@pytest.fixture()
def bin_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    return folder


def _apt_get_that_installs_chromium(folder: Path, log: Path) -> None:
    _stub(
        folder,
        "apt-get",
        f'echo "$*" >> {log}\n'
        f'if [ "$1" = install ]; then printf "#!{BASH}\\n" > {folder}/chromium; /bin/chmod +x {folder}/chromium; fi',
    )


@pytest.fixture()
def apt_log(bin_dir: Path, tmp_path: Path) -> Path:
    """An `apt-get` stand-in that installs a `chromium` stand-in; the file its calls are logged to."""
    log = tmp_path / "apt.log"
    _apt_get_that_installs_chromium(bin_dir, log)
    return log


def test_make_test_checks_chromium_before_the_suite():
    dry = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    lines = dry.stdout.splitlines()
    assert ".ci/ensure-chromium" in lines, dry.stdout
    assert lines.index(".ci/ensure-chromium") < lines.index(".venv/bin/pytest")


def test_present_chromium_needs_nothing(bin_dir, apt_log):
    _stub(bin_dir, "chromium", "exit 0")
    done = _run(bin_dir)
    assert done.returncode == 0, done.stderr
    assert not apt_log.exists()


def test_root_with_apt_installs_the_debian_package(bin_dir, apt_log):
    _stub(bin_dir, "id", "echo 0")
    done = _run(bin_dir)
    assert done.returncode == 0, done.stderr
    assert apt_log.read_text().splitlines() == ["update -q", "install -y -q chromium"]
    assert "installing the Debian package" in done.stderr


def test_passwordless_sudo_with_apt_installs_it_too(bin_dir, apt_log):
    _stub(bin_dir, "id", "echo 1000")
    _stub(
        bin_dir,
        "sudo",
        f'[ "$1" = -n ] && shift; [ "$1" = true ] && exit 0; echo "sudo $*" >> {apt_log}; "$@"',
    )
    done = _run(bin_dir)
    assert done.returncode == 0, done.stderr
    assert apt_log.read_text().splitlines() == [
        "sudo apt-get update -q",
        "update -q",
        "sudo apt-get install -y -q chromium",
        "install -y -q chromium",
    ]


def test_without_root_it_fails_and_says_exactly_what_to_run(bin_dir, apt_log):
    _stub(bin_dir, "id", "echo 1000")
    _stub(bin_dir, "sudo", "exit 1")  # a password would be needed
    done = _run(bin_dir)
    assert done.returncode == 1
    assert "sudo apt-get update && sudo apt-get install -y chromium" in done.stderr
    assert not apt_log.exists()


def test_without_apt_it_fails_and_says_what_to_run(bin_dir):
    _stub(bin_dir, "id", "echo 0")
    done = _run(bin_dir)
    assert done.returncode == 1
    assert "sudo apt-get install -y chromium" in done.stderr and "chromium-browser" in done.stderr
