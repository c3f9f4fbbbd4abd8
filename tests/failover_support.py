"""Helpers for the failover tests and benchmark (not a test module): a site with a unique name per test
(so tests share one Azurite), a recorded failover event row, and a TableServiceClient whose HTTP transport counts requests and
injects faults in front of a real Azurite."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from azure.core.exceptions import ServiceResponseError
from azure.core.pipeline.transport import RequestsTransport, RequestsTransportResponse
from azure.data.tables import TableServiceClient

from tests.stack import SEED_PATH


def unique_spec(tmp_path: Path) -> tuple[Path, str]:
    """The seed spec with its site renamed `seed-<random>`: one failover partition per test."""
    name = f"seed{uuid.uuid4().hex[:8]}"
    data = yaml.safe_load(SEED_PATH.read_text())
    data["sites"][0]["name"] = name
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, name


def event_row(
    *, at: datetime, event_id: str, kind: str = "failover", evidence: dict[str, int] | None = None
) -> dict[str, Any]:
    """A failover event of site `seed` as the failover store records it, detected by the poll at `at`:
    a failover goes from ExpressRoute to the VPN, a failback the other way."""
    from_path, to_path = ("expressroute", "vpn") if kind == "failover" else ("vpn", "expressroute")
    return {
        "site": "seed",
        "eventId": event_id,
        "kind": kind,
        "fromPath": from_path,
        "toPath": to_path,
        "backupUp": True,
        "startedAt": at.isoformat(),
        "detectedAt": at.isoformat(),
        "detectedBy": "poll",
        "expressRouteStatus": "NotConnected",
        "vpnStatus": "Connected",
        "durationSeconds": None,
        "evidence": dict(evidence or {}),
        "detail": "",
    }


def _is_batch(request: Any) -> bool:
    return request.method == "POST" and request.url.split("?")[0].endswith("$batch")


class FaultyTransport(RequestsTransport):
    """A real transport to Azurite that counts requests and, for entity-group transactions (POST
    $batch), plays a queue of faults, one per request:

    - "503-before": answers 503 without sending (nothing reaches Azurite);
    - "503-after": sends (Azurite commits), then reports 503 instead of the real answer;
    - "timeout-before": raises a read timeout without sending;
    - "timeout-after": sends (Azurite commits), then raises a read timeout (the answer is lost).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.faults: list[str] = []
        self.counts: Counter[str] = Counter()
        self.injected: list[str] = []
        self._lock = threading.Lock()

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()

    def send(self, request: Any, **kwargs: Any) -> Any:
        batch = _is_batch(request)
        with self._lock:
            self.counts["batch" if batch else request.method] += 1
            fault = self.faults.pop(0) if batch and self.faults else None
            if fault:
                self.injected.append(fault)
        if fault == "timeout-before":
            raise ServiceResponseError("injected: read timed out (request never sent)")
        if fault == "503-before":
            import requests

            fake = requests.Response()
            fake.status_code = 503
            fake._content = b""
            fake.headers["Content-Length"] = "0"
            fake.request = None  # type: ignore[assignment]
            return RequestsTransportResponse(request, fake, self.connection_config.data_block_size)
        response = super().send(request, **kwargs)
        if fault == "timeout-after":
            raise ServiceResponseError("injected: read timed out (Azurite had committed)")
        if fault == "503-after":
            response.status_code = 503
        return response


def faulty_tables(connection_string: str) -> tuple[TableServiceClient, FaultyTransport]:
    transport = FaultyTransport()
    service = TableServiceClient.from_connection_string(
        connection_string, transport=transport, retry_backoff_factor=0.01, retry_total=3
    )
    return service, transport
