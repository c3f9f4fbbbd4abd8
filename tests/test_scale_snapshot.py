"""The health snapshot as one Table entity per site plus an index (Azurite): only changed entries are
written, in transactions of at most 100, If-Match their ETags; two writers merge."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableServiceClient

from shared.azure import health_snapshot
from shared.azure.health_snapshot import INDEX_ROW, SITES_PARTITION, read_snapshot, write_snapshot
from shared.report.snapshot import merge


class CountingTransport(RequestsTransport):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.counts: Counter[str] = Counter()

    def send(self, request: Any, **kwargs: Any) -> Any:
        batch = request.method == "POST" and request.url.split("?")[0].endswith("$batch")
        query = request.method == "GET" and "filter" in request.url
        self.counts["batch" if batch else "query" if query else request.method] += 1
        return super().send(request, **kwargs)


def entry(name: str, at: datetime, path: str = "expressroute") -> dict[str, Any]:
    return {"name": name, "observedAt": at.isoformat(), "activePath": path, "connections": {}}


@pytest.fixture
def service(azurite, monkeypatch) -> TableServiceClient:
    # A table of its own per test (the shared Azurite holds other tests' snapshots).
    monkeypatch.setattr(health_snapshot, "HEALTH", f"health{uuid.uuid4().hex[:10]}")
    transport = CountingTransport()
    client = TableServiceClient.from_connection_string(azurite.connection_string, transport=transport)
    client.transport_counts = transport.counts  # type: ignore[attr-defined]
    return client


def poll(service: TableServiceClient, entries: list[dict[str, Any]], at: datetime, known: list[str]) -> dict:
    return write_snapshot(
        service, lambda previous: merge(previous, entries, taken_at=at, source="poll", known=known)
    )


def test_one_entity_per_site_and_a_slice_rewrites_only_its_sites(service):
    names = [f"site-{i:04d}" for i in range(250)]
    t0 = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    counts = service.transport_counts
    poll(service, [entry(n, t0) for n in names], t0, names)
    assert counts["batch"] == 3  # 250 entries + the index in transactions of <= 100

    rows = list(
        service.get_table_client(health_snapshot.HEALTH).query_entities(
            f"PartitionKey eq '{SITES_PARTITION}'"
        )
    )
    assert len(rows) == 251 and {r["RowKey"] for r in rows} == {*names, INDEX_ROW}
    one = next(r for r in rows if r["RowKey"] == "site-0007")
    assert json.loads(one["entry"])["name"] == "site-0007" and one["activePath"] == "expressroute"

    counts.clear()
    t1 = t0 + timedelta(minutes=1)
    poll(service, [entry(n, t1) for n in names[:60]], t1, names)  # a slice of 60 sites
    assert counts == Counter({"batch": 1})  # 60 entries + index: one request, nothing read
    stored = read_snapshot(service).document
    assert stored is not None and len(stored["sites"]) == 250
    assert stored["sites"]["site-0000"]["observedAt"] == t1.isoformat()
    assert stored["sites"]["site-0100"]["observedAt"] == t0.isoformat()
    assert stored["takenAt"] == t1.isoformat()


def test_sites_that_left_the_spec_are_deleted(service):
    t0 = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    poll(service, [entry("a", t0), entry("b", t0)], t0, ["a", "b"])
    poll(service, [entry("a", t0 + timedelta(minutes=1))], t0 + timedelta(minutes=1), ["a"])
    assert set(read_snapshot(service).document["sites"]) == {"a"}


def test_another_instance_writing_in_between_is_merged_not_overwritten(service, azurite):
    t0 = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    poll(service, [entry("a", t0), entry("b", t0)], t0, ["a", "b"])
    other = TableServiceClient.from_connection_string(azurite.connection_string)  # another instance
    t1 = t0 + timedelta(minutes=1)
    poll(other, [entry("b", t1, "vpn")], t1, ["a", "b"])
    # This instance still holds its own last write (b's old ETag): writing only a needs no read; its
    # write of an older b fails If-Match (412), it re-reads, and the merge keeps the newer b.
    poll(service, [entry("a", t1)], t1, ["a", "b"])
    poll(service, [entry("b", t0 + timedelta(seconds=30))], t1, ["a", "b"])  # older than the stored b
    stored = read_snapshot(service).document
    assert stored["sites"]["b"]["activePath"] == "vpn"  # the newer observation survived
    assert stored["sites"]["a"]["observedAt"] == t1.isoformat()


def test_a_reader_reads_the_index_only_while_the_snapshot_is_unchanged(service, azurite):
    t0 = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    writer = TableServiceClient.from_connection_string(azurite.connection_string)  # the poll's instance
    poll(writer, [entry(f"s{i}", t0) for i in range(30)], t0, [f"s{i}" for i in range(30)])
    health_snapshot.health_table(service)  # the table client (its create-if-missing is not a read)
    counts = service.transport_counts
    counts.clear()
    first = read_snapshot(service)
    assert counts == Counter({"query": 1})
    counts.clear()
    assert read_snapshot(service) is first
    assert counts == Counter({"GET": 1})  # the index's point read
    t1 = t0 + timedelta(minutes=1)
    poll(writer, [entry("s3", t1, "vpn")], t1, [f"s{i}" for i in range(30)])
    counts.clear()
    again = read_snapshot(service)
    assert again.document["sites"]["s3"]["activePath"] == "vpn"
    assert counts == Counter({"GET": 1, "query": 1})
