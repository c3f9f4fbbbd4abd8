"""Which rows of some partitions were written since a moment: the health report's change probe.

A row's `Timestamp` is set by Table Storage on every insert, replace or merge, and its ETag changes with
it. So one query per 14 partitions, ``( PartitionKey eq a or ... ) and Timestamp ge <since>`` (or one
for a range of partitions) with only the keys selected, tells which of them got a row written (or rewritten) since `since`: a reader that
remembers what the previous probe returned re-reads only the partitions with a row it has not seen.
Deletions do not show (a reader that must see them re-reads in full now and then).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.azure.table_names import table

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient

# (RowKey, ETag) of each row a probe found, by partition
Marks = dict[str, frozenset[tuple[str, str]]]


def partition_filters(
    partitions: list[str], span: tuple[str, str] | None, *, spare: int = 1
) -> list[tuple[str, dict[str, Any]]]:
    """The $filter clauses (with their parameters) that select `partitions`: with `span` (the lowest
    and highest of them, when few other partitions lie between: the caller knows) one range,
    ``PartitionKey ge @lo and PartitionKey le @hi``; else ``( PartitionKey eq @p0 or ... )`` per
    15 - `spare` partitions (Table Storage allows 15 discrete comparisons in one $filter; `spare` are
    left for the rest of the filter). Rows of other partitions in the range are the caller's to drop."""
    if span is not None:
        return [("PartitionKey ge @lo and PartitionKey le @hi", {"lo": span[0], "hi": span[1]})]
    per_query = 15 - spare
    clauses = []
    for start in range(0, len(partitions), per_query):
        chunk = partitions[start : start + per_query]
        # the SDK substitutes @names between spaces: "( ... )", not "(...)"
        either = " or ".join(f"PartitionKey eq @p{i}" for i in range(len(chunk)))
        clauses.append((f"( {either} )", {f"p{i}": name for i, name in enumerate(chunk)}))
    return clauses


def written_since(
    service: TableServiceClient,
    table_name: str,
    partitions: list[str],
    since: datetime,
    *,
    span: tuple[str, str] | None = None,
    rows_below: str | None = None,
) -> Marks:
    """Per partition, the (RowKey, ETag) of its rows written at or after `since` (server time): one
    query per 14 partitions (or one for the `span`, see partition_filters), keys only. Every partition
    asked for is in the answer, and no other.

    `rows_below`: only rows whose RowKey sorts before it. `Timestamp` is not indexed: Table Storage
    finds the rows written since `since` by reading every row of the partitions, which grows with a
    table that keeps its history (the run log). Where RowKeys are newest first, a bound on them keeps
    that scan to the recent rows (a key range is a seek)."""
    client = table(service, table_name)
    found: dict[str, set[tuple[str, str]]] = {name: set() for name in partitions}
    bound = " and RowKey lt @below" if rows_below is not None else ""
    extra: dict[str, Any] = {"below": rows_below} if rows_below is not None else {}
    for clause, parameters in partition_filters(partitions, span):
        rows = client.query_entities(
            f"{clause}{bound} and Timestamp ge @since",
            parameters={**parameters, **extra, "since": since},
            select=["PartitionKey", "RowKey"],
            results_per_page=1000,
        )
        for row in rows:
            rows_of = found.get(row["PartitionKey"])
            if rows_of is not None:
                rows_of.add((row["RowKey"], str(row.metadata["etag"])))
    return {name: frozenset(rows) for name, rows in found.items()}
