"""POST actions on virtual network gateways, one entry per operation (all long-running in Azure).

Each entry validates the request when it arrives (a bad request is a synchronous error, as ARM answers)
and returns ``produce(gateway, failed)``, run when the operation completes, which yields the result
body the operation's Location answers with (and applies any physical effect).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hybridnet_dev.armsim.store import Record

if TYPE_CHECKING:
    from hybridnet_dev.armsim.sim import Simulator

Produce = Callable[[Record, bool], Any]
Prepare = Callable[["Simulator", Record, dict[str, str], Any], Produce]


def _learned_routes(sim: Simulator, record: Record, query: dict[str, str], body: Any) -> Produce:
    def produce(current: Record, failed: bool) -> Any:
        return None if failed else {"value": sim.physics.learned_routes(current)}

    return produce


def _bgp_peer_status(sim: Simulator, record: Record, query: dict[str, str], body: Any) -> Produce:
    peer = query.get("peer")

    def produce(current: Record, failed: bool) -> Any:
        if failed:
            return None
        peers = sim.physics.bgp_peers(current)
        return {"value": [p for p in peers if peer is None or p["neighbor"] == peer]}

    return produce


def _resiliency(name: str) -> Prepare:
    def prepare(sim: Simulator, record: Record, query: dict[str, str], body: Any) -> Produce:
        from hybridnet_dev.armsim.resiliency import PREPARE

        return PREPARE[name](sim, record, query, body)

    return prepare


RESILIENCY = (
    "startSiteFailoverTest",
    "stopSiteFailoverTest",
    "getFailoverAllTestsDetails",
    "getFailoverSingleTestDetails",
    "getResiliencyInformation",
    "getRoutesInformation",
)
GATEWAY_ACTIONS: dict[str, Prepare] = {
    "getLearnedRoutes": _learned_routes,
    "getBgpPeerStatus": _bgp_peer_status,
    **{name: _resiliency(name) for name in RESILIENCY},
}
