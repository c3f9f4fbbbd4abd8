"""Long-running operations: the status monitor behind ``Azure-AsyncOperation`` and ``Location``.

An operation is InProgress when created and ends when its duration has passed, never sooner: polling
does not hurry it. Durations are Azure's documented ones (``DURATIONS``, one row per resource type)
multiplied by the simulator's time scale (1 = real time; tests and ``make run`` use small values).
Finishing runs the operation's ``complete`` callback, which applies the side effect
(provisioningState Succeeded/Failed, deletion, action result).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from hybridnet_dev.armsim.ids import PROVIDER, ResourceId

Kind = Literal["put", "delete", "action"]
# What an operation does, for its duration: create, update, delete, sharedKey (set or reset), action.
Step = Literal["create", "update", "delete", "sharedKey", "action"]
# complete(failed) -> result body of an action (None for put/delete)
Completion = Callable[[bool], dict[str, Any] | None]

MINUTE = 60.0
# Seconds each operation takes in Azure (time scale 1). Sources:
# - gateways: "Creating a virtual network gateway can take up to 45 minutes to complete"
#   (learn.microsoft.com/azure/vpn-gateway/vpn-gateway-about-vpngateways); a SKU resize or other gateway
#   update re-deploys the gateway VMs: 30-45 minutes (the same docs; /work/shared/design/README.md,
#   "Operation times Azure documents"). ExpressRoute gateways are the same kind of resource (gateway VMs
#   in the GatewaySubnet, learn.microsoft.com/azure/expressroute/expressroute-about-virtual-network-gateways):
#   the same row; no separate ExpressRoute timing was found.
# - connections and their shared key: minutes (design notes; azure-rest-api-specs issue #14473 shows
#   SetSharedKey/ResetSharedKey still processing, 409 AnotherOperationInProgress, after the call returned).
# - local network gateways: about a minute; VNets, subnets, NSGs, public IPs, load balancers: seconds.
# - gateway actions (getLearnedRoutes, getBgpPeerStatus): seconds (POST + 202 + polling).
DURATIONS: dict[str, dict[Step, float]] = {
    "virtualNetworkGateways": {
        "create": 40 * MINUTE,
        "update": 35 * MINUTE,
        "delete": 20 * MINUTE,
        "action": 10.0,
    },
    "connections": {"create": 3 * MINUTE, "update": 2 * MINUTE, "sharedKey": 2 * MINUTE, "delete": MINUTE},
    "localNetworkGateways": {"create": MINUTE, "update": MINUTE, "delete": 30.0},
    "virtualNetworks": {"create": 10.0, "update": 10.0, "delete": 10.0},
    "subnets": {"create": 10.0, "update": 10.0, "delete": 10.0},
    "publicIPAddresses": {"create": 5.0, "update": 5.0, "delete": 5.0},
    "networkSecurityGroups": {"create": 5.0, "update": 5.0, "delete": 5.0},
    "loadBalancers": {"create": 10.0, "update": 10.0, "delete": 10.0},
}
DEFAULT_SECONDS = 10.0
# The scale `SimulatorThread` (the tests) uses by default: a 40-minute gateway create takes 0.48 s, a
# connection update 24 ms; `make run` uses LOCAL_TIME_SCALE (a gateway in under a minute).
TEST_TIME_SCALE = 0.0002
LOCAL_TIME_SCALE = 0.02


def duration(resource: ResourceId, step: Step) -> float:
    """Azure's duration, in seconds at time scale 1, of ``step`` on ``resource``."""
    row = DURATIONS.get(resource.child_type or resource.type, {})
    return row.get(step, row.get("update", DEFAULT_SECONDS))


# --- when to poll: Retry-After ---------------------------------------------------------------------------
# ARM tells the client when to poll an asynchronous operation: the 201/202 (or 200 with
# Azure-AsyncOperation) that starts it and each answer of its status or result URI while it runs carry
# `Retry-After`, "the number of seconds to wait before checking the status of the asynchronous operation"
# (learn.microsoft.com/azure/azure-resource-manager/management/async-operations). Microsoft.Network asks for
# 10 s: a network interface PUT answered 200 + Azure-AsyncOperation + `Retry-After: 10` (Azure/azure-powershell
# #14460, api-version 2020-08-01), public IP, VNet and load balancer PUTs 201 + `retry-after: 10` in Azure
# xplat-cli test recordings (api-version 2014-12-01-preview); an InProgress status GET carries it too
# (Azure/azure-powershell#20530, .../Microsoft.Network/locations/{region}/operations/{id}). azure-core's LRO
# poller (LROBasePolling, ARMPolling) sleeps what the last answer asked (`_extract_delay` ->
# `get_retry_after`), and the client's `polling_interval` only when an answer has none.
# One row per resource type (and step) where Azure asks for something else; none is known for the types
# simulated here. (Virtual WAN's point-to-site gateways were seen answering status polls with 100-160 s,
# #20530: a different resource type, not simulated; no such observation exists for virtualNetworkGateways.)
RETRY_AFTER: dict[str, dict[Step, float]] = {}
DEFAULT_RETRY_AFTER = 10.0
# The scaled interval never goes below this many milliseconds of real time. A floor is needed: azure-core
# takes a delay of 0 for none and falls back to the client's polling_interval (`_extract_delay`), and at the
# tests' scale (0.0002) 10 s is 2 ms, which would have the SDK's poller (in the tests' process, with the
# simulator's thread under one GIL, on two cores) poll back to back. It stays at a few ms so that the polls
# per operation come as close to Azure's as the machine allows (a poll's own round trip is ~8 ms here).
# What polling that fast on a compressed clock costs: ARM's read throttle (throttle.READS: 250 + 25/s per
# principal) and the app's read budget (shared/azure/budget.py: 200 + 20/s) run on the real clock, not the
# scaled one. In Azure a 35-minute gateway update polled every 10 s is 210 reads over 35 minutes (0.1
# reads/s); at 0.0002 it is over in 0.42 s, polled ~45 times (5 ms + the round trip): ~100 reads/s while it
# runs, a far heavier real-time load on both buckets than Azure's (harsher, never kinder). Measured on the
# whole suite (971 tests): no test draws a 429 it did not draw before (only the throttle tests do), the run
# time is unchanged (343 s against 349 s with the tests' 50 ms polling_interval and no Retry-After) and so
# is the time the app's read budget waits.
# The trade-off, in Azure's time: where 10 s scales below the floor (a scale under 0.0005: the tests')
# a long operation gets fewer polls than Azure's duration / Retry-After (a gateway update at 0.0002: ~45,
# not 210) and its end is seen up to (floor + round trip) / scale late (~65 s of Azure's time at 0.0002,
# not 10 s): less kind to the app than Azure (it learns of an end later), never kinder. `make run` (0.02:
# 200 ms) and bench/scale_bench.py (1: 10 s) are above the floor: there the polls per operation are Azure's.
RETRY_AFTER_FLOOR_MS = 5


def retry_after(resource: ResourceId, step: Step) -> float:
    """The ``Retry-After`` Azure sends, in seconds at time scale 1, with ``step`` on ``resource``."""
    row = RETRY_AFTER.get(resource.child_type or resource.type, {})
    return row.get(step, DEFAULT_RETRY_AFTER)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Operation:
    id: str
    kind: Kind
    resource: ResourceId
    region: str
    fail: bool
    complete: Completion
    status: str = "InProgress"
    polls: int = 0
    start_time: str = field(default_factory=_now)
    end_time: str | None = None
    result: dict[str, Any] | None = None
    ends_at: float = 0.0  # time.monotonic() when it finishes
    step: Step = "update"
    started_by: str = ""  # object id of the identity whose request started it (who may poll it)

    def status_path(self) -> str:
        return f"/subscriptions/{self.resource.subscription}/providers/{PROVIDER}/locations/{self.region}/operations/{self.id}"

    def result_path(self) -> str:
        return (
            f"/subscriptions/{self.resource.subscription}/providers/{PROVIDER}"
            f"/locations/{self.region}/operationResults/{self.id}"
        )

    def status_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.status_path(), "name": self.id, "status": self.status}
        body["startTime"] = self.start_time
        if self.end_time:
            body["endTime"] = self.end_time
        if self.status == "Failed":
            body["error"] = {
                "code": "InternalServerError",
                "message": f"An error occurred while processing the operation on '{self.resource}'.",
            }
        return body


class Operations:
    """``time_scale`` multiplies every duration (1 = Azure's real times)."""

    def __init__(self, *, time_scale: float = 1.0) -> None:
        if not time_scale > 0:
            raise ValueError(f"the time scale must be a positive number, not {time_scale!r}")
        self._ops: dict[str, Operation] = {}
        self.time_scale = time_scale

    def seconds(self, resource: ResourceId, step: Step) -> float:
        """How long ``step`` on ``resource`` takes at this simulator's time scale."""
        return duration(resource, step) * self.time_scale

    def retry_after_ms(self, op: Operation) -> int:
        """When to poll ``op`` next: Azure's Retry-After at this time scale, in whole milliseconds, never
        below RETRY_AFTER_FLOOR_MS."""
        scaled = retry_after(op.resource, op.step) * self.time_scale
        return max(RETRY_AFTER_FLOOR_MS, round(scaled * 1000))

    def retry_after_headers(self, op: Operation) -> dict[str, str]:
        """The headers that ask the client to wait before polling ``op``: ``Retry-After`` is whole seconds
        (RFC 9110 section 10.2.3), which cannot say a scaled 200 ms. ARM sends ``Retry-After`` only;
        ``retry-after-ms`` is the simulator's way to carry a scaled value (azure-core reads it:
        azure/core/pipeline/policies/_utils.py ``get_retry_after``, milliseconds). ``Retry-After`` goes along only when the value is whole seconds (time scale 1:
        ``Retry-After: 10`` and ``retry-after-ms: 10000``): azure-core reads ``Retry-After`` first, and a
        rounded ``Retry-After: 0`` would make it fall back to the client's polling_interval (a 0 delay is
        "none" to ``_extract_delay``), a rounded-up ``1`` would poll 5 times slower than asked."""
        ms = self.retry_after_ms(op)
        headers = {"retry-after-ms": str(ms)}
        if ms % 1000 == 0:
            headers["Retry-After"] = str(ms // 1000)
        return headers

    def start(
        self,
        kind: Kind,
        resource: ResourceId,
        region: str,
        fail: bool,
        complete: Completion,
        *,
        step: Step | None = None,
        started_by: str = "",
    ) -> Operation:
        step = step or ("delete" if kind == "delete" else "action" if kind == "action" else "update")
        delay = self.seconds(resource, step)
        op = Operation(
            str(uuid.uuid4()),
            kind,
            resource,
            region.replace(" ", "").lower() or "eastus",
            fail,
            complete,
            ends_at=time.monotonic() + delay,
            step=step,
            started_by=started_by,
        )
        self._ops[op.id] = op
        try:
            asyncio.get_running_loop().call_later(delay, self.finish, op)
        except RuntimeError:  # no loop (direct use in a unit test): finished when polled after its time
            pass
        return op

    def get(self, op_id: str) -> Operation | None:
        """The operation, without counting a poll (ARM's authorization looks it up before the poll)."""
        return self._ops.get(op_id)

    def poll(self, op_id: str) -> Operation | None:
        op = self._ops.get(op_id)
        if op is None:
            return None
        op.polls += 1
        if op.status == "InProgress" and time.monotonic() >= op.ends_at:
            self.finish(op)
        return op

    def finish(self, op: Operation) -> None:
        if op.status != "InProgress":
            return
        op.status = "Failed" if op.fail else "Succeeded"
        op.end_time = _now()
        op.result = op.complete(op.fail)

    def busy(self, *resources: ResourceId) -> Operation | None:
        """A write in progress on any of ``resources``, on a child of one, or on the parent of one (a
        subnet write holds its VNet, as ARM's "this or dependent resource")."""
        keys = {r.key for r in resources} | {r.parent.key for r in resources}
        for op in self._ops.values():
            if op.status != "InProgress" or op.kind == "action":
                continue
            if op.resource.key in keys or op.resource.parent.key in keys:
                return op
        return None

    def in_progress(self) -> int:
        return sum(1 for op in self._ops.values() if op.status == "InProgress")
