"""Helpers for the end-to-end drill and route-truth tests (not a test module): a fake clock, one seed site
with a unique name and the given on-premises prefixes on its own simulator, and the app pointed at it and
at a real Azurite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorInfo, SimulatorThread
from shared.settings import Settings
from shared.spec import NetworkSpec, Site
from shared.spec_source import current_spec
from tests.failover_support import SEED_PATH
from tests.stack import point_app_at

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
SECOND_PREFIX = "10.30.0.0/16"


class Clock:
    """Starts at T0; moves only when told (``advance``) or when slept on (5 s a sleep)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 60) -> None:
        self.now += timedelta(seconds=seconds)

    def sleep(self, _seconds: float) -> None:
        self.now += timedelta(seconds=5)


@dataclass
class SiteNet:
    settings: Settings
    site: Site
    control: SimControl
    info: SimulatorInfo
    clock: Clock

    def rid(self, kind: str, name: str) -> str:
        return (
            f"/subscriptions/{self.info.subscription_id}/resourceGroups/{self.site.resource_group}"
            f"/providers/Microsoft.Network/{kind}/{name}"
        )


def site_spec(
    tmp_path: Path, *, name: str, prefixes: list[str], window: dict[str, Any] | None = None
) -> tuple[Path, NetworkSpec]:
    """The seed spec, its site named ``<name><time>`` with these on-premises prefixes (and maintenance
    window), written to ``tmp_path/spec.yaml``."""
    data = yaml.safe_load(SEED_PATH.read_text())
    site = data["sites"][0]
    site["name"] = f"{name}{datetime.now().strftime('%H%M%S%f')}"
    site["onPremises"]["addressSpace"] = prefixes
    if window is not None:
        site["maintenanceWindow"] = window
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, NetworkSpec.model_validate(data)


@contextmanager
def site_on_simulator(
    azurite: Any, path: Path, spec: NetworkSpec, **app_settings: str
) -> Iterator[tuple[Settings, Site, SimControl, SimulatorInfo]]:
    """A simulator serving ``spec``, the app pointed at it and at Azurite with these settings: the app's
    settings, its first site, the simulator's control and info."""
    with SimulatorThread(spec) as sim, pytest.MonkeyPatch.context() as env:
        point_app_at(env, sim.info, storage=azurite.connection_string, spec_path=path, **app_settings)
        settings = Settings.from_env()
        yield settings, current_spec(settings).sites[0], SimControl(sim.info.control_url), sim.info


def net_fixtures(make: Callable[[Any, Path, list[str]], Iterator[Any]]) -> tuple[Any, Any]:
    """The fixtures ``net`` (the seed's on-premises prefix) and ``net2`` (and SECOND_PREFIX), each a
    fresh site made by ``make(azurite, tmp_path, prefixes)``."""

    @pytest.fixture
    def net(azurite: Any, tmp_path: Path) -> Iterator[Any]:
        yield from make(azurite, tmp_path, ["10.10.0.0/16"])

    @pytest.fixture
    def net2(azurite: Any, tmp_path: Path) -> Iterator[Any]:
        yield from make(azurite, tmp_path, ["10.10.0.0/16", SECOND_PREFIX])

    return net, net2
