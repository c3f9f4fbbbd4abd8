"""Shared fixtures: real services on free loopback ports, started by the tests themselves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hybridnet_dev.azurite import Azurite


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with Azurite() as running:
        yield running
