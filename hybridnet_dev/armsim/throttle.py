"""ARM's request throttling: a token bucket per principal and subscription, one for reads, one for writes.

Azure Resource Manager (learn.microsoft.com "Understand how Azure Resource Manager throttles requests",
token bucket algorithm): reads 250 per bucket refilled at 25 per second, writes 200 refilled at 10 per
second (deletes count as writes; so do POST actions here). Every answer carries
``x-ms-ratelimit-remaining-subscription-reads`` (or ``-writes``) with what is left; an empty bucket
answers 429 ``SubscriptionRequestsThrottled`` with ``Retry-After`` (seconds until a token is back).
Tunable (``PUT /_sim/throttle``, ``--throttle``) and switchable off.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from hybridnet_dev.armsim.auth import HeaderError
from hybridnet_dev.armsim.ids import ArmError

READS = (250.0, 25.0)
WRITES = (200.0, 10.0)


@dataclass
class Bucket:
    capacity: float
    rate: float
    tokens: float
    stamp: float = field(default_factory=time.monotonic)

    def take(self, now: float) -> float | None:
        """Take one token: the tokens left, or None when empty."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return None
        self.tokens -= 1
        return self.tokens


class Throttle:
    def __init__(
        self,
        *,
        enabled: bool = True,
        reads: tuple[float, float] = READS,
        writes: tuple[float, float] = WRITES,
    ) -> None:
        self.enabled = enabled
        self.limits = {"reads": reads, "writes": writes}
        self._buckets: dict[tuple[str, str, str], Bucket] = {}
        self._lock = threading.Lock()

    def configure(self, body: Any) -> dict[str, Any]:
        """``{"enabled": bool?, "reads": {"capacity": n, "refillPerSecond": r}?, "writes": {...}?}``; buckets
        restart full."""
        if not isinstance(body, dict) or set(body) - {"enabled", "reads", "writes"}:
            raise ArmError(
                400, "InvalidRequest", 'Body must be {"enabled": bool?, "reads": {...}?, "writes": {...}?}.'
            )
        enabled = body.get("enabled", self.enabled)
        if not isinstance(enabled, bool):
            raise ArmError(400, "InvalidRequest", "'enabled' must be a boolean.")
        limits = dict(self.limits)
        for kind in ("reads", "writes"):
            spec = body.get(kind)
            if spec is None:
                continue
            cap, rate = (
                (spec.get("capacity"), spec.get("refillPerSecond"))
                if isinstance(spec, dict)
                else (None, None)
            )
            if not all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in (cap, rate)):
                raise ArmError(
                    400, "InvalidRequest", f'\'{kind}\' must be {{"capacity": >0, "refillPerSecond": >0}}.'
                )
            limits[kind] = (float(cap), float(rate))  # type: ignore[arg-type]
        with self._lock:
            self.enabled = enabled
            self.limits = limits
            self._buckets.clear()
        return self.describe()

    def describe(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            **{k: {"capacity": c, "refillPerSecond": r} for k, (c, r) in self.limits.items()},
        }

    def take(self, *, principal: str, subscription: str, method: str) -> dict[str, str]:
        """The ratelimit header for this request, or raise the 429."""
        kind = "reads" if method in ("GET", "HEAD") else "writes"
        header = f"x-ms-ratelimit-remaining-subscription-{kind}"
        if not self.enabled:
            return {}
        capacity, rate = self.limits[kind]
        with self._lock:
            key = (principal, subscription.lower(), kind)
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = Bucket(capacity, rate, capacity)
            left = bucket.take(time.monotonic())
            missing = 1 - bucket.tokens
        if left is None:
            wait = max(1, math.ceil(missing / rate))
            operation = "read" if kind == "reads" else "write"
            raise HeaderError(
                429,
                "SubscriptionRequestsThrottled",
                f"Number of '{operation}' requests for subscription '{subscription}' actor '{principal}' exceeded. "
                f"Please try again after '{wait}' seconds after additional tokens are available. Refer to "
                "https://aka.ms/arm-throttling for additional information.",
                {"Retry-After": str(wait), header: "0"},
            )
        return {header: str(int(left))}
