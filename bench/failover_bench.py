"""Failover history benchmark. Real parts: the simulator (HTTPS, real azure-mgmt-network SDK), Azurite,
the local Functions host running function_app (HTTP alert trigger; timer trigger on a short schedule).

1. alert-driven: a status flip in the simulator -> POST /api/alerts (common alert schema) -> the event
   row readable in Azurite (target < 1 s);
2. poll-driven: a status flip -> the timer's next poll -> the row readable (target <= interval + 1 s);
3. the failover poll as the timer runs it (`failover_poll` fired in the local host through the admin
   API, as `func` does) on a network where nothing changes: its time, and its Table Storage requests
   counted at the azure-core transport (target: 1 read per site, no write but the one health snapshot).

    .venv/bin/python -m bench.failover_bench [--rounds 6] [--poll-interval 2] [--sites 10]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableServiceClient

from bench.admin import Executed, fire_function
from bench.many_sites import write_many_sites
from hybridnet_dev.armsim.control import SimControl
from hybridnet_dev.armsim.runner import SimulatorInfo, SimulatorThread
from hybridnet_dev.azurite import Azurite
from hybridnet_dev.funchost.server import LocalHost
from hybridnet_dev.local_stack import FOREIGN_CREDENTIALS, QUIET, app_settings
from shared.azure.failover_store import failover_events
from shared.failover.alerts import site_resource_ids
from shared.settings import Settings
from shared.spec import NetworkSpec
from shared.spec.load import load_spec_file
from shared.spec_source import current_spec

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "examples/seed-network.yaml"
ALERT_SAMPLE = ROOT / "tests/fixtures/alerts/common-alert-schema-sample.json"


def _env(sim: SimulatorInfo, storage: str, spec: Path, **extra: str) -> None:
    for name in FOREIGN_CREDENTIALS:
        os.environ.pop(name, None)
    os.environ.update(
        {
            **app_settings(sim.to_json(), storage=storage, spec_path=spec),
            "HYBRIDNET_ARM_POLLING_INTERVAL": "0.05",
            "HYBRIDNET_RECONCILE_SCHEDULE": QUIET,  # the other timers stay out of the way
            "HYBRIDNET_ROTATION_SCHEDULE": QUIET,
            **extra,
        }
    )


def _wait_for_row(settings: Settings, site: str, count: int, deadline: float) -> float:
    service = TableServiceClient.from_connection_string(settings.tables_connection_string or "")
    while time.monotonic() < deadline:
        if len(failover_events(service, site=site, limit=count + 1)) >= count:
            return time.monotonic()
        time.sleep(0.01)
    raise TimeoutError(f"no row #{count} for site {site}")


def _circuit(site: Any) -> str:
    return str(site.express_route.connection.circuit_id.rstrip("/").rsplit("/", 1)[-1])


def _flip(control: SimControl, circuit: str, down: bool) -> float:
    control.set_circuit(circuit, up=not down)
    return time.monotonic()


def alert_driven(sim: SimulatorInfo, settings: Settings, rounds: int) -> list[float]:
    site = current_spec(settings).sites[0]
    control = SimControl(sim.control_url)
    circuit_id = site_resource_ids(site, settings.subscription_id)[5].lower()
    payload = json.loads(ALERT_SAMPLE.read_text())
    payload["data"]["essentials"]["alertTargetIDs"] = [circuit_id]
    latencies: list[float] = []
    with LocalHost("function_app", app_dir=str(ROOT), port=0, enable_timers=False) as host:
        url = f"{host.info.base_url}/api/alerts?code={host.info.function_key}"

        def post() -> None:
            request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST")
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()

        payload["data"]["essentials"]["monitorCondition"] = "Resolved"
        post()  # baseline
        checked = time.monotonic()
        rows = len(
            failover_events(
                TableServiceClient.from_connection_string(settings.tables_connection_string or ""),
                site=site.name,
            )
        )
        for i in range(rounds):
            # As in production, where a circuit's Fired and Resolved alerts come minutes apart: each flip's
            # alert is the first of its coalescing interval (HYBRIDNET_FAILOVER_ALERT_MIN_SECONDS). Alerts
            # inside one interval share a check that runs when it ends (a burst's cost, not its latency).
            time.sleep(max(0.0, checked + settings.failover_alert_min_seconds - time.monotonic()))
            down = i % 2 == 0
            payload["data"]["essentials"]["monitorCondition"] = "Fired" if down else "Resolved"
            flipped = _flip(control, _circuit(site), down)
            sender = threading.Thread(target=post)
            sender.start()
            readable = _wait_for_row(settings, site.name, rows + i + 1, flipped + 10)
            sender.join()
            checked = time.monotonic()
            latencies.append(readable - flipped)
    return latencies


def poll_driven(sim: SimulatorInfo, settings: Settings, rounds: int, interval: int) -> list[float]:
    site = current_spec(settings).sites[0]
    control = SimControl(sim.control_url)
    latencies: list[float] = []
    service = TableServiceClient.from_connection_string(settings.tables_connection_string or "")
    with LocalHost("function_app", app_dir=str(ROOT), port=0, enable_timers=True):
        time.sleep(interval + 0.5)  # the first poll establishes or confirms the baseline
        rows = len(failover_events(service, site=site.name))
        for i in range(rounds):
            # flip at a random point of the interval, as a real outage would
            time.sleep((i * 0.37 * interval) % interval)
            flipped = _flip(control, _circuit(site), i % 2 == 0)
            readable = _wait_for_row(settings, site.name, rows + i + 1, flipped + interval + 10)
            latencies.append(readable - flipped)
    return latencies


class _TableRequests:
    """Counts the HTTP requests sent to Azurite's table endpoint (the bench itself sends none while it
    counts), at the azure-core transport every Table client uses (observation only: each still goes out)."""

    def __init__(self, table_endpoint: str) -> None:
        self.prefix = table_endpoint.rstrip("/")
        self.counts: Counter[str] = Counter()
        self._original = RequestsTransport.send

    def __enter__(self) -> _TableRequests:
        counter, original = self, self._original

        def send(transport: RequestsTransport, request: Any, **kwargs: Any) -> Any:
            if request.url.startswith(counter.prefix):
                batch = request.method == "POST" and request.url.split("?")[0].endswith("$batch")
                counter.counts["write (batch)" if batch else request.method] += 1
            return original(transport, request, **kwargs)

        RequestsTransport.send = send  # type: ignore[method-assign]
        return self

    def __exit__(self, *_exc: object) -> None:
        RequestsTransport.send = self._original  # type: ignore[method-assign]


def _fire_and_wait(host: LocalHost, function: str) -> float:
    """Fire a timer function through the admin API (as `func` does); seconds until it finished."""
    executed = Executed(function)
    logging.getLogger("hybridnet_dev.funchost.invoke").addHandler(executed)
    try:
        started = time.perf_counter()
        fire_function(host, function)
        if not executed.done.wait(120):
            raise TimeoutError(f"{function} did not finish within 120 s")
        return time.perf_counter() - started
    finally:
        logging.getLogger("hybridnet_dev.funchost.invoke").removeHandler(executed)


def table_ops_per_quiet_poll(settings: Settings, polls: int) -> tuple[int, Counter[str], list[float]]:
    """The failover poll as the timer runs it (`failover_poll` in the local host: every site's check
    and the health snapshot), on a network where nothing changes: Table requests and poll times."""
    sites = len(current_spec(settings).sites)
    table_endpoint = next(
        part.split("=", 1)[1]
        for part in (settings.tables_connection_string or "").split(";")
        if part.startswith("TableEndpoint=")
    )
    logging.getLogger("hybridnet_dev.funchost.invoke").setLevel(logging.INFO)
    with LocalHost("function_app", app_dir=str(ROOT), port=0, enable_timers=False) as host:
        _fire_and_wait(host, "failover_poll")  # warm up: tables, baselines, the hourly retention pass
        _fire_and_wait(host, "failover_poll")
        times = []
        with _TableRequests(table_endpoint) as requests:
            for _ in range(polls):
                times.append(_fire_and_wait(host, "failover_poll"))
    return sites, requests.counts, times


def _spec_with_sites(directory: Path, count: int) -> Path:
    """`count` distinct sites (bench.many_sites), each with its own gateways, connections and circuit."""
    return write_many_sites(directory / f"sites-{count}.yaml", count)


def _summary(values: list[float], what: str = "flips") -> str:
    ms = [v * 1000 for v in values]
    return f"median {statistics.median(ms):.0f} ms, max {max(ms):.0f} ms over {len(ms)} {what}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=6, help="status flips per measurement")
    parser.add_argument("--poll-interval", type=int, default=2, help="seconds between timer polls")
    parser.add_argument("--sites", type=int, default=10, help="sites in the no-change poll measurement")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="failover-bench-") as tmp, Azurite() as azurite:
        seed = NetworkSpec.model_validate(yaml.safe_load(SEED.read_text()))
        with SimulatorThread(seed) as sim:
            _env(sim.info, azurite.connection_string, SEED)
            settings = Settings.from_env()
            alerts = alert_driven(sim.info, settings, args.rounds)
            print(f"alert-driven: flip -> row readable: {_summary(alerts)} (target < 1000 ms)")
        with SimulatorThread(seed) as sim:
            poll_spec = Path(tmp) / "poll.yaml"
            poll_spec.write_text(SEED.read_text().replace("name: seed", "name: pollbench", 1))
            schedule = f"*/{args.poll_interval} * * * * *"
            _env(sim.info, azurite.connection_string, poll_spec, HYBRIDNET_FAILOVER_SCHEDULE=schedule)
            settings = Settings.from_env()
            polls = poll_driven(sim.info, settings, args.rounds, args.poll_interval)
            target = (args.poll_interval + 1) * 1000
            print(
                f"poll-driven (schedule {schedule}): flip -> row readable: {_summary(polls)} "
                f"(target <= {target} ms)"
            )
        many = _spec_with_sites(Path(tmp), args.sites)
        with SimulatorThread(load_spec_file(str(many))) as sim:
            _env(sim.info, azurite.connection_string, many)
            settings = Settings.from_env()
            quiet_polls = 5
            sites, counts, times = table_ops_per_quiet_poll(settings, quiet_polls)
            per_poll = {k: round(v / quiet_polls, 2) for k, v in counts.items()}
            print(
                f"no-change failover_poll (timer function in the host), {sites} site(s) x {quiet_polls} polls: "
                f"Table requests per poll {per_poll}, GET per site per poll "
                f"{counts.get('GET', 0) / (quiet_polls * sites):.2f} (target: 1 read per site, no write but "
                f"the one snapshot write); poll time {_summary(times, 'polls')}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
