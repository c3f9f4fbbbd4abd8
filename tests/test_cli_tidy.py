"""`hybridnet validate` and `hybridnet infra-sites` report a broken spec the same way: the true count of
errors (not the number of lines listed, which stops at MAX_ERRORS_LISTED), then the errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shared import cli
from shared.spec.load import MAX_ERRORS_LISTED
from tests.stack import SEED_PATH

SUBNETS = MAX_ERRORS_LISTED + 50


def test_infra_sites_counts_every_error_as_validate_does(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    document = yaml.safe_load(SEED_PATH.read_text())
    document["sites"][0]["vnet"]["subnets"] = [
        {"name": f"s{i}", "prefix": "not-a-prefix"} for i in range(SUBNETS)
    ]
    spec = tmp_path / "network.yaml"
    spec.write_text(yaml.safe_dump(document))
    out = tmp_path / "sites.json"

    assert cli.main(["validate", str(spec)]) == 1
    validated = capsys.readouterr().err.splitlines()
    assert cli.main(["infra-sites", str(spec), "--out", str(out)]) == 1
    infra = capsys.readouterr().err.splitlines()

    count = int(validated[0].removeprefix(f"{spec}: ").split()[0])
    assert count > SUBNETS - 1  # every bad prefix is counted, not only the listed ones
    assert infra[0] == f"{spec}: {count} error(s); fix the spec first"
    assert infra[1:] == validated[1:] and len(infra) == MAX_ERRORS_LISTED + 2  # listed, then "N more"
    assert not out.exists()  # nothing written
