"""ExpressRoute resiliency APIs on an ExpressRoute gateway (azure-mgmt-network 33.1, Microsoft.Network
2025-05-01), all POST long-running operations:

- ``startSiteFailoverTest?peeringLocation=`` / ``stopSiteFailoverTest`` (body
  ``ExpressRouteFailoverStopApiParameters``): a site failover simulation. While it runs, the gateway
  no longer receives the ExpressRoute routes of the circuits at that peering location: learned routes
  and traffic move to whatever else announces the prefixes (here: the VPN).
- ``getFailoverAllTestsDetails?type=&fetchLatest=`` -> ``list[ExpressRouteFailoverTestDetails]``
- ``getFailoverSingleTestDetails?peeringLocation=&failoverTestId=`` -> ``list[ExpressRouteFailoverSingleTestDetails]``
- ``getResiliencyInformation?attemptRefresh=`` -> ``GatewayResiliencyInformation``
- ``getRoutesInformation?attemptRefresh=`` -> ``GatewayRouteSetsInformation``

Sources: the examples in tests/fixtures (VirtualNetworkGateway*Failover*.json, *ResiliencyInformation.json,
*RoutesInformation.json; their published bodies are empty) and the SDK models named above; the
feature: https://learn.microsoft.com/azure/expressroute/resiliency-validation and
https://learn.microsoft.com/azure/expressroute/resiliency-insights.

A test moves Starting -> Running when its start operation completes, Stopping -> Completed when its stop
completes. A stop whose operation fails (fault ``failLro`` on ``/stopSiteFailoverTest``) leaves the test
``StopFailed`` with the routes still withdrawn: the test hangs until a stop succeeds. Operation
durations are the simulator's LRO durations. Error codes marked "sim" are the simulator's choice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hybridnet_dev.armsim.gateway_actions import Prepare, Produce
from hybridnet_dev.armsim.ids import ArmError, ResourceId
from hybridnet_dev.armsim.physics import SESSIONS, Circuit, Physics, _ref_id
from hybridnet_dev.armsim.store import Body, Record

if TYPE_CHECKING:
    from hybridnet_dev.armsim.sim import Simulator

TEST_TYPES = ("SingleSiteFailover", "MultiSiteFailover", "All")
# Test statuses during which the location's routes are withdrawn.
WITHDRAWING = ("Running", "Stopping", "StopFailed")
ACTIVE = ("Starting", *WITHDRAWING)
# Resiliency insights are recomputed at most this often (nextEligibleComputeTime).
RECOMPUTE_AFTER = dt.timedelta(hours=1)
RECENT_TEST = dt.timedelta(days=30)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(when: dt.datetime | None) -> str | None:
    return when.isoformat().replace("+00:00", "Z") if when else None


@dataclass
class FailoverTest:
    guid: str
    gateway: str  # gateway id, lower case
    peering_location: str
    circuits: list[tuple[str, str]]  # (circuit id, connection id)
    redundant: list[Body]
    non_redundant: list[str]
    status: str = "Starting"
    start: dt.datetime = field(default_factory=_now)
    end: dt.datetime | None = None
    successful: bool | None = None
    details: list[Body] = field(default_factory=list)
    last_updated: dt.datetime = field(default_factory=_now)


@dataclass
class _Insights:
    computed: dt.datetime
    body: Body


@dataclass
class Resiliency:
    tests: list[FailoverTest] = field(default_factory=list)
    insights: dict[str, _Insights] = field(default_factory=dict)  # (gateway, kind) -> last computation


def state_of(physics: Physics) -> Resiliency:
    if not isinstance(physics.resiliency, Resiliency):
        physics.resiliency = Resiliency()
    found: Resiliency = physics.resiliency
    return found


def _sync(physics: Physics) -> None:
    physics.tick(force=True)  # traffic so far ran with the old routes
    physics.withdrawn = {
        (t.gateway, t.peering_location.lower()) for t in state_of(physics).tests if t.status in WITHDRAWING
    }


# --- the gateway's circuits -------------------------------------------------------------------------
def _er_gateway(record: Record) -> None:
    gtype = record.body.get("properties", {}).get("gatewayType")
    if gtype != "ExpressRoute":
        raise ArmError(  # code: sim
            400,
            "GatewayTypeNotSupported",
            f"Virtual network gateway {record.rid.name} is of type {gtype}: ExpressRoute resiliency "
            "operations need a gateway of type ExpressRoute.",
        )


def _circuits(sim: Simulator, gateway: Record) -> list[tuple[Circuit, Record]]:
    """(circuit, connection) for every ExpressRoute connection of the gateway to a known circuit."""
    out = []
    for conn in sim.physics._connections_of(gateway):
        props = conn.body.get("properties", {})
        if props.get("connectionType") != "ExpressRoute":
            continue
        circuit = sim.physics.circuit(_ref_id(props.get("peer")))
        if circuit is not None:
            out.append((circuit, conn))
    return out


def _locations(sim: Simulator, gateway: Record) -> dict[str, str]:
    """lower-case peering location -> its spelling, for the gateway's circuits."""
    out: dict[str, str] = {}
    for circuit, _ in _circuits(sim, gateway):
        location = sim.physics.peering_location(circuit)
        if location:
            out.setdefault(location.lower(), location)
    return out


def _location(sim: Simulator, gateway: Record, query: dict[str, str]) -> str:
    wanted = query.get("peeringLocation")
    if not wanted:
        raise ArmError(400, "MissingRequiredParameter", "The query parameter 'peeringLocation' is required.")
    known = _locations(sim, gateway)
    if wanted.lower() not in known:
        raise ArmError(  # code: sim
            400,
            "InvalidPeeringLocation",
            f"Peering location '{wanted}' has no circuit connected to gateway {gateway.rid.name}; "
            f"its peering locations: {', '.join(known.values()) or 'none'}.",
        )
    return known[wanted.lower()]


def _route_sources(sim: Simulator, gateway: Record) -> dict[str, dict[str, list[tuple[Circuit, list[str]]]]]:
    """prefix -> peering location -> [(circuit, sessions that carry the prefix)], ignoring withdrawals
    (what the gateway receives when no test runs)."""
    out: dict[str, dict[str, list[tuple[Circuit, list[str]]]]] = {}
    for circuit, conn in _circuits(sim, gateway):
        if sim.physics._status(conn) != "Connected":
            continue
        sessions = [s for s in SESSIONS if sim.physics.session_up(circuit, s)]
        if not sessions:
            continue
        location = sim.physics.peering_location(circuit)
        for prefix in circuit.prefixes:
            out.setdefault(prefix, {}).setdefault(location, []).append((circuit, sessions))
    return out


def _redundancy(sim: Simulator, gateway: Record, location: str) -> tuple[list[Body], list[str]]:
    redundant: dict[tuple[str, ...], list[str]] = {}
    non_redundant: list[str] = []
    for prefix, by_location in _route_sources(sim, gateway).items():
        if location not in by_location:
            continue
        others = sorted(loc for loc in by_location if loc != location)
        if others:
            redundant.setdefault((location, *others), []).append(prefix)
        else:
            non_redundant.append(prefix)
    return [{"peeringLocations": list(k), "routes": v} for k, v in redundant.items()], non_redundant


def _tests_of(sim: Simulator, gateway: Record) -> list[FailoverTest]:
    return [t for t in state_of(sim.physics).tests if t.gateway == gateway.rid.key]


def _active(sim: Simulator, gateway: Record, location: str) -> FailoverTest | None:
    for test in _tests_of(sim, gateway):
        if test.peering_location.lower() == location.lower() and test.status in ACTIVE:
            return test
    return None


# --- operations -------------------------------------------------------------------------------------
def _start(sim: Simulator, record: Record, query: dict[str, str], body: Any) -> Produce:
    _er_gateway(record)
    location = _location(sim, record, query)
    running = _active(sim, record, location)
    if running is not None:
        raise ArmError(  # code: sim
            409,
            "FailoverTestAlreadyInProgress",
            f"A site failover test ({running.guid}) is "
            f"already {running.status} for peering location '{location}'; stop it first.",
        )
    redundant, non_redundant = _redundancy(sim, record, location)
    circuits = [
        (circuit.id, str(conn.rid))
        for circuit, conn in _circuits(sim, record)
        if sim.physics.peering_location(circuit).lower() == location.lower()
    ]
    test = FailoverTest(str(uuid.uuid4()), record.rid.key, location, circuits, redundant, non_redundant)
    state_of(sim.physics).tests.append(test)

    def produce(current: Record, failed: bool) -> Any:
        test.status = "StartFailed" if failed else "Running"
        test.last_updated = _now()
        if failed:
            test.end = test.last_updated
        _sync(sim.physics)
        return None if failed else test.guid

    return produce


def _stop_parameters(body: Any) -> tuple[str, bool, list[Body]]:
    usage = (
        'The body must be ExpressRouteFailoverStopApiParameters: {"peeringLocation": str, '
        '"wasSimulationSuccessful": bool, "details": [{"failoverConnectionName": str, '
        '"failoverLocation": str, "isVerified": bool}]}.'
    )
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestFormat", usage)
    location = body.get("peeringLocation")
    if not isinstance(location, str) or not location:
        raise ArmError(400, "InvalidRequestFormat", "'peeringLocation' is required. " + usage)
    successful = body.get("wasSimulationSuccessful")
    if not isinstance(successful, bool):
        raise ArmError(400, "InvalidRequestFormat", "'wasSimulationSuccessful' must be a boolean. " + usage)
    details = body.get("details", [])
    if not isinstance(details, list):
        raise ArmError(400, "InvalidRequestFormat", "'details' must be a list. " + usage)
    clean: list[Body] = []
    for i, item in enumerate(details):
        if not isinstance(item, dict):
            raise ArmError(400, "InvalidRequestFormat", f"'details[{i}]' must be an object. " + usage)
        for key, kind in (("failoverConnectionName", str), ("failoverLocation", str), ("isVerified", bool)):
            if key in item and not isinstance(item[key], kind):
                raise ArmError(
                    400, "InvalidRequestFormat", f"'details[{i}].{key}' must be a {kind.__name__}. " + usage
                )
        clean.append(
            {k: item[k] for k in ("failoverConnectionName", "failoverLocation", "isVerified") if k in item}
        )
    return location, successful, clean


def _stop(sim: Simulator, record: Record, query: dict[str, str], body: Any) -> Produce:
    _er_gateway(record)
    location, successful, details = _stop_parameters(body)
    location = _location(sim, record, {"peeringLocation": location})
    test = _active(sim, record, location)
    if test is None or test.status not in ("Running", "StopFailed"):
        state = f"is {test.status}" if test else "is not running"
        raise ArmError(  # code: sim
            409 if test else 400,
            "FailoverTestNotRunning",
            f"The site failover test for peering location '{location}' {state}; only a Running test can be stopped.",
        )
    test.status = "Stopping"
    test.last_updated = _now()

    def produce(current: Record, failed: bool) -> Any:
        test.last_updated = _now()
        if failed:
            test.status = "StopFailed"  # the routes stay withdrawn: the test hangs until a stop succeeds
        else:
            test.status, test.end = "Completed", test.last_updated
            test.successful, test.details = successful, details
        _sync(sim.physics)
        return None if failed else ""

    return produce


def _test_details(sim: Simulator, test: FailoverTest) -> Body:
    circuits, connections = [], []
    for circuit_id, conn_id in test.circuits:
        conn_name = conn_id.rstrip("/").rsplit("/", 1)[-1]
        circuits.append(
            {"nrpResourceUri": circuit_id, "name": circuit_id.rsplit("/", 1)[-1], "connectionName": conn_name}
        )
        record = sim.store.get(ResourceId.parse(conn_id))
        connected = record is not None and sim.physics._status(record) == "Connected"
        connections.append(
            {
                "nrpResourceUri": conn_id,
                "name": conn_name,
                "status": "Connected" if connected else "Disconnected",
                "lastUpdatedTime": _iso(test.last_updated),
            }
        )
    return {
        "peeringLocation": test.peering_location,
        "circuits": circuits,
        "status": test.status,
        "startTime": _iso(test.start),
        "endTime": _iso(test.end),
        "connections": connections,
        "testGuid": test.guid,
        "testType": "SingleSiteFailover",
        "issues": [],
    }


def _bool_query(query: dict[str, str], name: str, *, required: bool) -> bool | None:
    value = query.get(name)
    if value is None:
        if required:
            raise ArmError(400, "MissingRequiredParameter", f"The query parameter '{name}' is required.")
        return None
    if value.lower() not in ("true", "false"):
        raise ArmError(
            400, "InvalidParameter", f"The query parameter '{name}' must be true or false, not '{value}'."
        )
    return value.lower() == "true"


def _all_details(sim: Simulator, record: Record, query: dict[str, str], body: Any) -> Produce:
    _er_gateway(record)
    test_type = query.get("type")
    if test_type is None:
        raise ArmError(400, "MissingRequiredParameter", "The query parameter 'type' is required.")
    if test_type not in TEST_TYPES:
        raise ArmError(
            400,
            "InvalidParameter",
            f"The query parameter 'type' must be one of {', '.join(TEST_TYPES)}, not '{test_type}'.",
        )
    latest = _bool_query(query, "fetchLatest", required=True)

    def produce(current: Record, failed: bool) -> Any:
        if failed:
            return None
        if test_type == "MultiSiteFailover":
            return []  # the simulator runs single-site tests only
        out: list[Body] = []
        tests = _tests_of(sim, current)
        for key, location in _locations(sim, current).items():
            mine = [t for t in tests if t.peering_location.lower() == key]
            if latest:
                mine = mine[-1:]
            if not mine:  # never tested: the location is listed, NotStarted
                circuits = [
                    {"nrpResourceUri": c.id, "name": c.name, "connectionName": conn.rid.name}
                    for c, conn in _circuits(sim, current)
                    if sim.physics.peering_location(c).lower() == key
                ]
                out.append(
                    {
                        "peeringLocation": location,
                        "circuits": circuits,
                        "status": "NotStarted",
                        "connections": [],
                        "testType": "SingleSiteFailover",
                        "issues": [],
                    }
                )
            out += [_test_details(sim, t) for t in mine]
        return out

    return produce


def _single_details(sim: Simulator, record: Record, query: dict[str, str], body: Any) -> Produce:
    _er_gateway(record)
    location = _location(sim, record, query)
    guid = query.get("failoverTestId")
    if not guid:
        raise ArmError(400, "MissingRequiredParameter", "The query parameter 'failoverTestId' is required.")
    test = next(
        (
            t
            for t in _tests_of(sim, record)
            if t.guid.lower() == guid.lower() and t.peering_location.lower() == location.lower()
        ),
        None,
    )
    if test is None:
        raise ArmError(  # code: sim
            404,
            "FailoverTestNotFound",
            f"No site failover test '{guid}' for peering location '{location}' on gateway {record.rid.name}.",
        )

    def produce(current: Record, failed: bool) -> Any:
        if failed:
            return None
        return [
            {
                "peeringLocation": test.peering_location,
                "status": test.status,
                "startTimeUtc": _iso(test.start),
                "endTimeUtc": _iso(test.end),
                "redundantRoutes": test.redundant,
                "nonRedundantRoutes": test.non_redundant,
                "wasSimulationSuccessful": bool(test.successful),
                "failoverConnectionDetails": test.details,
            }
        ]

    return produce


# --- resiliency insights ----------------------------------------------------------------------------
def _vpn_backup(sim: Simulator, gateway: Record) -> bool:
    """A VPN gateway in the same VNet with a Connected connection (the site-to-site backup)."""
    vnet = sim.physics._vnet_key(gateway.body)
    for other in sim.store.list("virtualNetworkGateways"):
        if (
            other.body.get("properties", {}).get("gatewayType") != "Vpn"
            or sim.physics._vnet_key(other.body) != vnet
        ):
            continue
        if any(sim.physics._status(c) == "Connected" for c in sim.physics._connections_of(other)):
            return True
    return False


def _route_resilience(sim: Simulator, gateway: Record) -> float:
    """Half for peering-location redundancy (two locations or more), half for both BGP sessions up."""
    circuits = _circuits(sim, gateway)
    locations = min(len(_locations(sim, gateway)), 2) / 2
    sessions = sum(sim.physics.session_up(c, s) for c, _ in circuits for s in SESSIONS)
    return (locations + sessions / max(1, len(SESSIONS) * len(circuits))) / 2


def _zone_redundant(sim: Simulator, gateway: Record) -> float:
    sku = str((gateway.body.get("properties", {}).get("sku") or {}).get("name", ""))
    return float(sku.endswith("AZ") or sku == "ErGwScale")


def _validated(sim: Simulator, gateway: Record) -> float:
    recent = [
        t
        for t in _tests_of(sim, gateway)
        if t.status == "Completed" and t.successful and t.end and _now() - t.end < RECENT_TEST
    ]
    return min(len({t.peering_location.lower() for t in recent}) / max(1, len(_locations(sim, gateway))), 1.0)


# The resiliency index's factors (https://learn.microsoft.com/azure/expressroute/resiliency-insights:
# "route resilience, zone-redundant gateway usage, advisory recommendations, and resiliency validation
# tests"); weights sum to 100, so the overall score is a percentage.
# name, max score, check(sim, gateway) -> fraction achieved, recommendation (title, text, action, link)
RESILIENCY_COMPONENTS: list[tuple[str, int, Any, tuple[str, str, str, str]]] = [
    (
        "Route resilience",
        40,
        _route_resilience,
        (
            "Receive every route from two peering locations over both BGP sessions",
            "The gateway learns its on-premises routes from one peering location, or over one BGP session "
            "only: a site or device failure disconnects it.",
            "Connect a second circuit in another peering location and bring up both BGP sessions.",
            "https://learn.microsoft.com/azure/expressroute/designing-for-high-availability-with-expressroute",
        ),
    ),
    (
        "Zone-redundant gateway",
        20,
        _zone_redundant,
        (
            "Use a zone-redundant gateway SKU",
            "The ExpressRoute gateway is not zone-redundant.",
            "Migrate the gateway to an AZ SKU (ErGw1AZ, ErGw2AZ, ErGw3AZ) or ErGwScale.",
            "https://learn.microsoft.com/azure/expressroute/expressroute-about-virtual-network-gateways",
        ),
    ),
    (
        "Advisory recommendations",
        20,
        lambda sim, gw: float(_vpn_backup(sim, gw)),
        (
            "Configure a site-to-site VPN as backup",
            "No connected site-to-site VPN backs up the ExpressRoute connections of this virtual network.",
            "Create a VPN gateway and a connection to the on-premises VPN device.",
            "https://learn.microsoft.com/azure/expressroute/use-s2s-vpn-as-backup-for-expressroute-privatepeering",
        ),
    ),
    (
        "Resiliency validation",
        20,
        _validated,
        (
            "Run a site failover simulation for each peering location",
            "A peering location has had no successful site failover simulation in the last 30 days.",
            "Start a site failover test for the peering location and verify the failover path.",
            "https://learn.microsoft.com/azure/expressroute/resiliency-validation",
        ),
    ),
]


def _cached(sim: Simulator, record: Record, kind: str, refresh: bool | None, compute: Any) -> Body:
    state = state_of(sim.physics)
    key = f"{record.rid.key}|{kind}"
    now = _now()
    last = state.insights.get(key)
    if last is None or (refresh and now >= last.computed + RECOMPUTE_AFTER):
        previous = last.body if last else None
        last = state.insights[key] = _Insights(now, compute(now, previous))
    return last.body


def _resiliency_body(sim: Simulator, gateway: Record, now: dt.datetime, previous: Body | None) -> Body:
    components, total, gain_min, gain_max = [], 0, None, 0
    for name, maximum, check, (title, text, action, link) in RESILIENCY_COMPONENTS:
        score = round(maximum * float(check(sim, gateway)))
        total += score
        recommendations = []
        if score < maximum:
            gain = maximum - score
            gain_max += gain
            gain_min = gain if gain_min is None else min(gain_min, gain)
            recommendations.append(
                {
                    "recommendationTitle": title,
                    "recommendationId": str(uuid.uuid5(uuid.NAMESPACE_URL, link)),
                    "severity": "High" if maximum >= 40 else "Medium",
                    "recommendationText": text,
                    "callToActionText": action,
                    "callToActionLink": link,
                }
            )
        components.append(
            {
                "name": name,
                "currentScore": str(score),
                "maxScore": str(maximum),
                "recommendations": recommendations,
            }
        )
    before = int(previous["overallScore"]) if previous else total
    return {
        "overallScore": str(total),
        "scoreChange": str(total - before),
        "minScoreFromRecommendations": str(gain_min or 0),
        "maxScoreFromRecommendations": str(gain_max),
        "lastComputedTime": _iso(now),
        "nextEligibleComputeTime": _iso(now + RECOMPUTE_AFTER),
        "components": components,
    }


def _routes_body(sim: Simulator, gateway: Record, now: dt.datetime, previous: Body | None) -> Body:
    sets: dict[tuple[str, ...], dict[str, list[Body]]] = {}
    metadata: dict[str, Body] = {}
    for prefix, by_location in _route_sources(sim, gateway).items():
        details = []
        for location, sources in by_location.items():
            for circuit, sessions in sources:
                details.append(
                    {
                        "circuit": circuit.name,
                        "pri": "Active" if "primary" in sessions else "Passive",
                        "sec": "Active" if "secondary" in sessions else "Passive",
                    }
                )
                metadata[circuit.name] = {"name": circuit.name, "link": circuit.id, "location": location}
        sets.setdefault(tuple(sorted(by_location)), {})[prefix] = details
    route_sets = [
        {"name": f"RouteSet{i}", "locations": list(locations), "details": details}
        for i, (locations, details) in enumerate(sorted(sets.items()), start=1)
    ]
    version = int(previous["routeSetVersion"]) + 1 if previous else 1
    return {
        "lastComputedTime": _iso(now),
        "nextEligibleComputeTime": _iso(now + RECOMPUTE_AFTER),
        "routeSetVersion": str(version),
        "routeSets": route_sets,
        "circuitsMetadataMap": metadata,
    }


def _insights(kind: str, build: Any) -> Prepare:
    def prepare(sim: Simulator, record: Record, query: dict[str, str], body: Any) -> Produce:
        _er_gateway(record)
        refresh = _bool_query(query, "attemptRefresh", required=False)

        def produce(current: Record, failed: bool) -> Any:
            if failed:
                return None
            return _cached(sim, current, kind, refresh, lambda now, prev: build(sim, current, now, prev))

        return produce

    return prepare


PREPARE: dict[str, Prepare] = {
    "startSiteFailoverTest": _start,
    "stopSiteFailoverTest": _stop,
    "getFailoverAllTestsDetails": _all_details,
    "getFailoverSingleTestDetails": _single_details,
    "getResiliencyInformation": _insights("resiliency", _resiliency_body),
    "getRoutesInformation": _insights("routes", _routes_body),
}
