"""Shared fixtures: real services on free loopback ports, started by the tests themselves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hybridnet_dev.armsim.runner import SimulatorThread
from hybridnet_dev.azurite import Azurite
from shared.settings import Settings
from tests.stack import point_app_at, seed_spec


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with Azurite() as running:
        yield running


@pytest.fixture(scope="module")
def seed_sim() -> Iterator[SimulatorThread]:
    """A simulator of the seed network, shared by the tests of one module."""
    with SimulatorThread(seed_spec()) as running:
        yield running


@pytest.fixture
def seed_settings(seed_sim: SimulatorThread, azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The app settings pointing at `seed_sim` and Azurite for one test, as the app reads them."""
    point_app_at(monkeypatch, seed_sim.info, storage=azurite.connection_string)
    return Settings.from_env()
