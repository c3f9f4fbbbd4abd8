"""Route truth: which connection carries each on-premises prefix. Pure: no I/O, no Azure SDK.

Inputs are what Azure reports, as plain data: each gateway's learned routes (`getLearnedRoutes`:
network, nextHop, sourcePeer, origin `EBgp` for BGP-learned or `Network` for static/local, asPath,
weight), its BGP peers (`getBgpPeerStatus`: neighbor, asn, state `Connected`/`Idle`/...,
routesReceived), and per VPN connection its local network gateway (public IP, BGP peering address,
static prefixes). No module here assumes one connection per path: a site may have several circuit
connections and several site-to-site connections.

Selection, as Azure documents it
(https://learn.microsoft.com/azure/expressroute/expressroute-routing and
https://learn.microsoft.com/azure/vpn-gateway/site-to-site-vpn-private-peering): longest prefix match
first; on equal prefixes ExpressRoute is preferred over a site-to-site VPN. So a VPN route MORE
specific than ExpressRoute's pulls that range onto the internet path (backup-preferred).

Rows of the per-prefix table: every declared on-premises prefix, plus every learned route strictly
inside one (a more specific route decides its own range). Per row: the carrier (the connection of the
best route covering it), the alternative (the best route of the other path, else of another
connection), and a state: `primary` (ExpressRoute carries), `backup` (the VPN carries, ExpressRoute has
no route for it), `backup-preferred` (the VPN carries although ExpressRoute has a route for it), or
`unreachable` (no path).

Redundancy of the private peering: an ExpressRoute gateway peers with the two Microsoft edge routers
(primary and secondary link) of each circuit. `redundant` when every session is Connected (at least
two), `not-redundant` when some but not all are, `down` when none is, `unknown` when unread.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

EXPRESSROUTE = "expressroute"
VPN = "vpn"
PATHS = (EXPRESSROUTE, VPN)
CONNECTED = "Connected"
MICROSOFT_ASN = 12076  # the ASN of the Microsoft edge routers an ExpressRoute gateway peers with

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RouteDataError(ValueError):
    """A route or prefix that cannot be parsed; the message names it."""


def _net(prefix: str, what: str) -> Network:
    try:
        return ipaddress.ip_network(prefix.strip(), strict=False)
    except (ValueError, AttributeError):
        raise RouteDataError(f"{what}: {prefix!r} is not an IP prefix") from None


@dataclass(frozen=True)
class LearnedRoute:
    network: str
    next_hop: str = ""
    source_peer: str = ""
    origin: str = ""
    as_path: str = ""
    weight: int | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> LearnedRoute:
        """A `GatewayRoute` as ARM returns it (camelCase keys)."""
        weight = body.get("weight")
        return cls(
            network=str(body.get("network") or ""),
            next_hop=str(body.get("nextHop") or ""),
            source_peer=str(body.get("sourcePeer") or ""),
            origin=str(body.get("origin") or ""),
            as_path=str(body.get("asPath") or ""),
            weight=int(weight) if isinstance(weight, int | float) else None,
        )


@dataclass(frozen=True)
class BgpPeer:
    neighbor: str
    state: str
    asn: int | None = None
    routes_received: int | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> BgpPeer:
        asn, received = body.get("asn"), body.get("routesReceived")
        return cls(
            neighbor=str(body.get("neighbor") or ""),
            state=str(body.get("state") or "Unknown"),
            asn=int(asn) if isinstance(asn, int | float) else None,
            routes_received=int(received) if isinstance(received, int | float) else None,
        )


@dataclass(frozen=True)
class Connection:
    """One connection of a site. For a VPN connection `peer_addresses` are the addresses its routes come
    from (the local network gateway's public IP and BGP peering address) and `static_prefixes` the
    local network gateway's address space. An ExpressRoute connection's routes come from the Microsoft
    edge routers; `peer_addresses` may name them (empty: any route of its gateway)."""

    name: str
    path: str  # EXPRESSROUTE | VPN
    gateway: str
    status: str | None
    peer_addresses: tuple[str, ...] = ()
    static_prefixes: tuple[str, ...] = ()

    @property
    def connected(self) -> bool:
        return self.status == CONNECTED


@dataclass(frozen=True)
class GatewayReading:
    """What one gateway reported; None for a list that could not be read (`error` says why)."""

    gateway: str
    path: str
    routes: tuple[LearnedRoute, ...] | None = None
    peers: tuple[BgpPeer, ...] | None = None
    error: str | None = None


@dataclass(frozen=True)
class Candidate:
    network: str
    prefixlen: int
    path: str
    connection: str
    origin: str

    def to_json(self) -> dict[str, Any]:
        return {
            "prefix": self.network,
            "path": self.path,
            "connection": self.connection,
            "origin": self.origin,
        }


@dataclass(frozen=True)
class PrefixRow:
    prefix: str
    declared: bool
    state: str  # primary | backup | backup-preferred | unreachable
    carried_by: Candidate | None
    alternative: Candidate | None

    def to_json(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "declared": self.declared,
            "state": self.state,
            "carriedBy": self.carried_by.to_json() if self.carried_by else None,
            "alternative": self.alternative.to_json() if self.alternative else None,
        }


@dataclass(frozen=True)
class Redundancy:
    gateway: str
    state: str  # redundant | not-redundant | down | unknown
    connected: int
    total: int
    sessions: tuple[tuple[str, str], ...] = ()  # (neighbor, state)

    def to_json(self) -> dict[str, Any]:
        return {
            "gateway": self.gateway,
            "state": self.state,
            "connected": self.connected,
            "total": self.total,
            "sessions": [{"neighbor": n, "state": s} for n, s in self.sessions],
        }


@dataclass(frozen=True)
class RouteAnalysis:
    rows: tuple[PrefixRow, ...]
    redundancy: tuple[Redundancy, ...]
    # paths whose connections are Connected but carry no declared prefix (routes withdrawn)
    withdrawn: frozenset[str] = frozenset()
    errors: Mapping[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.errors

    def facts(self) -> dict[str, dict[str, Any]]:
        """The conditions worth a failover-history row, keyed `<kind> <subject>`, each with its evidence.

        `prefix-unreachable` only while some declared prefix is still carried (no path at all is an
        outage, recorded as such); `redundancy-lost` only while some session is up (none: the path is
        down, recorded as a failover)."""
        out: dict[str, dict[str, Any]] = {}
        declared = [r for r in self.rows if r.declared]
        any_carried = any(r.carried_by for r in declared)
        for row in self.rows:
            if row.state == "backup-preferred":
                out[f"backup-preferred {row.prefix}"] = {"prefixes": [row.to_json()]}
            elif row.state == "unreachable" and row.declared and any_carried:
                out[f"prefix-unreachable {row.prefix}"] = {"prefixes": [row.to_json()]}
        for red in self.redundancy:
            if red.state == "not-redundant":
                out[f"redundancy-lost {red.gateway}"] = {"redundancy": [red.to_json()]}
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "prefixes": [r.to_json() for r in self.rows],
            "redundancy": [r.to_json() for r in self.redundancy],
            "withdrawn": sorted(self.withdrawn),
            "errors": dict(self.errors),
        }


def _candidates(
    connections: Iterable[Connection], readings: Iterable[GatewayReading], onprem: list[Network]
) -> list[Candidate]:
    """Every route of a Connected connection that overlaps the on-premises ranges, once."""
    by_gateway: dict[tuple[str, str], list[Connection]] = {}
    for conn in connections:
        if conn.connected:
            by_gateway.setdefault((conn.path, conn.gateway.lower()), []).append(conn)
    found: dict[tuple[str, str, str], Candidate] = {}

    def add(prefix: str, path: str, connection: str, origin: str) -> None:
        net = _net(prefix, f"route of {connection}")
        if not any(net.version == o.version and net.overlaps(o) for o in onprem):
            return  # the VNet's own prefixes, other sites' ranges: not on-premises routes
        key = (str(net), path, connection)
        if key not in found:
            found[key] = Candidate(str(net), net.prefixlen, path, connection, origin)

    for reading in readings:
        conns = by_gateway.get((reading.path, reading.gateway.lower()), [])
        if not conns or reading.routes is None:
            continue
        for route in reading.routes:
            if not route.network:
                continue
            owner = _owner(route, conns)
            if owner is not None:
                add(route.network, reading.path, owner, route.origin or "EBgp")
    for conn in connections:  # static prefixes of a Connected VPN connection carry whatever BGP says
        if conn.connected and conn.path == VPN:
            for prefix in conn.static_prefixes:
                add(prefix, VPN, conn.name, "Network")
    return list(found.values())


def _owner(route: LearnedRoute, conns: list[Connection]) -> str | None:
    """The connection a gateway's route came from: the one whose peer addresses name its source peer
    or next hop; a gateway's own routes (origin Network, no next hop) come from no connection. An
    ExpressRoute route with no matching peer address belongs to the gateway's connection(s): one name,
    or all names joined when several circuits share the gateway."""
    hops = {route.source_peer, route.next_hop} - {""}
    for conn in conns:
        if hops & set(conn.peer_addresses):
            return conn.name
    if conns[0].path == EXPRESSROUTE and route.origin.lower() != "network":
        unnamed = [c.name for c in conns if not c.peer_addresses]
        return "+".join(unnamed) if unnamed else None
    return None


def _best(cands: list[Candidate]) -> Candidate | None:
    # longest prefix first; on equal prefixes ExpressRoute over VPN; then by name (deterministic)
    ranked = sorted(cands, key=lambda c: (-c.prefixlen, c.path != EXPRESSROUTE, c.connection))
    return ranked[0] if ranked else None


def _row(prefix: Network, declared: bool, cands: list[Candidate]) -> PrefixRow:
    covering = [
        c
        for c in cands
        if (n := ipaddress.ip_network(c.network)).version == prefix.version and prefix.subnet_of(n)
    ]
    best = _best(covering)
    if best is None:
        return PrefixRow(str(prefix), declared, "unreachable", None, None)
    other_path = [c for c in covering if c.path != best.path]
    other_conn = [c for c in covering if c.path == best.path and c.connection != best.connection]
    alternative = _best(other_path) or _best(other_conn)
    if best.path == EXPRESSROUTE:
        state = "primary"
    else:
        state = "backup-preferred" if any(c.path == EXPRESSROUTE for c in covering) else "backup"
    return PrefixRow(str(prefix), declared, state, best, alternative)


def _redundancy(reading: GatewayReading) -> Redundancy:
    if reading.peers is None:
        return Redundancy(reading.gateway, "unknown", 0, 0)
    # The Microsoft edge routers; a peer without an ASN is counted too (shapes vary by api-version).
    sessions = [p for p in reading.peers if p.asn in (None, MICROSOFT_ASN)] or list(reading.peers)
    up = sum(1 for p in sessions if p.state == CONNECTED)
    total = len(sessions)
    if up == 0:
        state = "down"
    elif up == total and total >= 2:
        state = "redundant"
    else:
        state = "not-redundant"
    return Redundancy(reading.gateway, state, up, total, tuple((p.neighbor, p.state) for p in sessions))


def analyse(
    *,
    declared: Iterable[str],
    connections: Iterable[Connection],
    readings: Iterable[GatewayReading],
) -> RouteAnalysis:
    """The per-prefix table, the private peering's redundancy and the withdrawn paths."""
    declared_nets: list[Network] = []
    for p in declared:
        net = _net(p, "declared on-premises prefix")
        if net not in declared_nets:
            declared_nets.append(net)
    connections, readings = list(connections), list(readings)
    cands = _candidates(connections, readings, declared_nets)
    extra: list[Network] = []
    for c in cands:
        net = ipaddress.ip_network(c.network)
        inside = any(net.version == d.version and net.subnet_of(d) and net != d for d in declared_nets)
        if inside and net not in declared_nets and net not in extra:
            extra.append(net)
    rows = [_row(n, True, cands) for n in declared_nets]
    rows += [_row(n, False, cands) for n in sorted(extra, key=lambda n: (n.version, n))]
    errors = {r.gateway: r.error for r in readings if r.error}
    withdrawn: set[str] = set()
    for path in PATHS:
        up = [c for c in connections if c.path == path and c.connected]
        unread = any(r.path == path and r.routes is None for r in readings)
        if up and not unread and not any(c.path == path for c in cands):
            withdrawn.add(path)
    redundancy = tuple(_redundancy(r) for r in readings if r.path == EXPRESSROUTE)
    return RouteAnalysis(tuple(rows), redundancy, frozenset(withdrawn), errors)


# --- transitions of route facts ------------------------------------------------------------------------

# A fact's kind -> (the kind recorded when it appears, the kind recorded when it clears)
FACT_KINDS: dict[str, tuple[str, str]] = {
    "backup-preferred": ("backup-preferred", "backup-preferred-cleared"),
    "redundancy-lost": ("redundancy-lost", "redundancy-restored"),
    "prefix-unreachable": ("prefix-unreachable", "prefix-restored"),
}


@dataclass(frozen=True)
class FactState:
    """The route facts recorded for a site: `active` maps each fact to when it began; `pending` maps a
    fact whose presence differs from the record to (observed present, consecutive count, onset)."""

    active: Mapping[str, str] = field(default_factory=dict)  # fact -> ISO start
    pending: Mapping[str, tuple[bool, int, str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "active": dict(sorted(self.active.items())),
            "pending": {k: list(v) for k, v in sorted(self.pending.items())},
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any] | None) -> FactState:
        body = body or {}
        active = {str(k): str(v) for k, v in (body.get("active") or {}).items()}
        pending = {
            str(k): (bool(v[0]), int(v[1]), str(v[2]))
            for k, v in (body.get("pending") or {}).items()
            if isinstance(v, list | tuple) and len(v) == 3
        }
        return cls(active, pending)


@dataclass(frozen=True)
class FactTransition:
    kind: str  # e.g. backup-preferred, redundancy-restored
    fact: str  # "<fact kind> <subject>"
    subject: str  # the prefix or gateway
    started_at: str  # onset (ISO)
    evidence: Mapping[str, Any]
    duration_seconds: float | None = None  # for a clearing: how long the fact held


def _seconds_between(start: str, end: str) -> float | None:
    from datetime import datetime

    try:
        return max(
            0.0, round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)
        )
    except ValueError:
        return None


def classify_facts(
    previous: FactState | None,
    observed: Mapping[str, Mapping[str, Any]],
    *,
    at: str,
    hold_count: int = 1,
    limit: int | None = None,
) -> tuple[FactState, list[FactTransition]]:
    """The new fact state and the transitions to record. The first route observation is a baseline
    (records nothing); afterwards a fact appearing or clearing counts after `hold_count` consecutive
    route observations, as connection conditions do (shared.failover.classify). At most `limit`
    transitions are returned (one Table transaction holds 100 rows): the facts beyond it keep their
    previous state and are decided by the next route check."""
    if hold_count < 1:
        raise ValueError(f"hold_count must be at least 1, got {hold_count}")
    if previous is None:
        return FactState({k: at for k in observed}, {}), []
    active = dict(previous.active)
    pending: dict[str, tuple[bool, int, str]] = {}
    transitions: list[FactTransition] = []
    for fact in sorted(set(active) | set(observed) | set(previous.pending)):
        present = fact in observed
        if present == (fact in active):
            continue  # steady (a pending streak, if any, ended)
        was = previous.pending.get(fact)
        if limit is not None and len(transitions) >= limit:
            if was is not None:
                pending[fact] = was
            continue
        count, onset = (was[1] + 1, was[2]) if was and was[0] == present else (1, at)
        if count < hold_count:
            pending[fact] = (present, count, onset)
            continue
        kind, subject = fact.split(" ", 1)
        appear, clear = FACT_KINDS[kind]
        if present:
            active[fact] = onset
            transitions.append(FactTransition(appear, fact, subject, onset, dict(observed[fact])))
        else:
            since = active.pop(fact)
            transitions.append(
                FactTransition(
                    clear, fact, subject, onset, {}, duration_seconds=_seconds_between(since, onset)
                )
            )
    return FactState(active, pending), transitions
