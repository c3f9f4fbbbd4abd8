"""Which rows of some partitions were written since a moment: the health report's change probe.

A row's `Timestamp` is set by Table Storage on every insert, replace or merge, and its ETag changes with
it. So one query per 14 partitions, ``( PartitionKey eq a or ... ) and Timestamp ge <since>`` with only
the keys selected, tells which of them got a row written (or rewritten) since `since`: a reader that
remembers what the previous probe returned re-reads only the partitions with a row it has not seen.
Deletions do not show (a reader that must see them re-reads in full now and then).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from shared.azure.table_names import table

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient

# Table Storage allows at most 15 discrete comparisons in one $filter: 14 partitions plus the Timestamp.
PARTITIONS_PER_QUERY = 14

# (RowKey, ETag) of each row a probe found, by partition
Marks = dict[str, frozenset[tuple[str, str]]]


def written_since(
    service: TableServiceClient, table_name: str, partitions: list[str], since: datetime
) -> Marks:
    """Per partition, the (RowKey, ETag) of its rows written at or after `since` (server time): one
    query per 14 partitions, keys only. Every partition asked for is in the answer."""
    client = table(service, table_name)
    found: dict[str, set[tuple[str, str]]] = {name: set() for name in partitions}
    for start in range(0, len(partitions), PARTITIONS_PER_QUERY):
        chunk = partitions[start : start + PARTITIONS_PER_QUERY]
        parameters: dict[str, object] = {f"p{i}": name for i, name in enumerate(chunk)}
        parameters["since"] = since
        # the SDK substitutes @names between spaces: "( ... )", not "(...)"
        either = " or ".join(f"PartitionKey eq @p{i}" for i in range(len(chunk)))
        rows = client.query_entities(
            f"( {either} ) and Timestamp ge @since",
            parameters=parameters,
            select=["PartitionKey", "RowKey"],
            results_per_page=1000,
        )
        for row in rows:
            found.setdefault(row["PartitionKey"], set()).add((row["RowKey"], str(row.metadata["etag"])))
    return {name: frozenset(rows) for name, rows in found.items()}
