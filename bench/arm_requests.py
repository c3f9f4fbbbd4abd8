"""The simulator's request log, counted by kind, as the drill and route-truth benchmarks report it (not a
benchmark)."""

from __future__ import annotations

from collections import Counter
from typing import Any


def classify_arm_requests(
    requests: list[dict[str, Any]], actions: tuple[str, ...] | None = None
) -> Counter[str]:
    """Network requests by kind: POST actions as writes (only those in ``actions``, lower case, where it is
    given, labelled in lower case), LRO status/result polls and resource GETs as reads, anything else as
    other."""
    counts: Counter[str] = Counter()
    for r in requests:
        path = r["path"].lower()
        if "/providers/microsoft.network/" not in path and "/operations/" not in path:
            continue
        action = path.rsplit("/", 1)[-1] if actions is not None else r["path"].rsplit("/", 1)[-1]
        if r["method"] == "POST" and (actions is None or action in actions):
            counts["writes (POST " + action + ")"] += 1
        elif r["method"] == "GET" and ("/operations/" in path or "/operationresults/" in path):
            counts["reads (LRO status/result polls)"] += 1
        elif r["method"] == "GET":
            counts["reads (resource GETs)"] += 1
        else:
            counts[f"other {r['method']}"] += 1
    return counts
