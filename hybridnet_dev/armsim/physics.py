"""The physical world behind the resources: ExpressRoute circuits and on-prem VPN appliances.

A circuit is up or down (layer 1/2) and its Azure private peering runs two BGP sessions (primary and
secondary, each up or down on its own) over which on-premises announces its prefixes. An appliance
(known by its public IP, the LNG's ``gatewayIpAddress``) is up or down, holds its own pre-shared key
and may announce prefixes over BGP on the VPN. From those and the stored resources this module derives
what Azure would report: connection status, learned routes, BGP peers and byte counters.

As Azure reports it (https://learn.microsoft.com/azure/expressroute/expressroute-troubleshooting-expressroute-overview):
an ExpressRoute connection's ``connectionStatus`` follows the circuit's provisioning, not BGP; when both
BGP sessions are down the connection still says ``Connected`` while the gateway learns no route.

Shared keys live here (never in resource bodies) and are never part of :meth:`Physics.summary`.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hybridnet_dev.armsim.ids import ArmError, ResourceId, same_id
from hybridnet_dev.armsim.store import Body, Record, Store

MICROSOFT_ASN = 12076
AZURE_GATEWAY_ASN = 65515
BYTES_PER_SECOND = 125_000  # the site's steady load towards on-premises (1 Mbit/s)
EGRESS_RATIO = 0.8
# A path that carries no prefix still sees its keepalives: IKE DPD / BGP keepalives, tens of bytes/s.
KEEPALIVE_BYTES_PER_SECOND = 40
SESSIONS = ("primary", "secondary")
TICK_SECONDS = 0.02  # the counters' resolution: reads closer together than this share one step
PRIVATE_PEERING = "AzurePrivatePeering"


@dataclass
class Circuit:
    id: str
    up: bool = True
    prefixes: list[str] = field(default_factory=list)  # on-prem prefixes advertised over the circuit
    peer_asn: int = 65020
    bgp: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(SESSIONS, True))
    # When each BGP session came up (monotonic), for connectedDuration.
    since: dict[str, float] = field(default_factory=dict)
    # Bytes per session: {"primary": [in, out], "secondary": [in, out]} (the peering's stats).
    counters: dict[str, list[int]] = field(default_factory=lambda: {s: [0, 0] for s in SESSIONS})

    @property
    def name(self) -> str:
        return self.id.rstrip("/").rsplit("/", 1)[-1]


@dataclass
class Appliance:
    ip: str
    up: bool = True
    shared_key: str | None = None  # None: no key configured, never connects
    asn: int = 65010
    advertise: list[str] = field(default_factory=list)  # announced over BGP on the VPN (when enabled)


@dataclass
class _Link:
    since: float  # when the connection was first seen Connected (monotonic)


def _ref_id(value: Any) -> str | None:
    if isinstance(value, dict):
        rid = value.get("id")
        return rid if isinstance(rid, str) else None
    return None


def check_prefixes(value: Any, what: str) -> list[str]:
    """A list of CIDR prefixes (normalised), or a 400 naming the first bad one."""
    if not isinstance(value, list):
        raise ArmError(400, "InvalidRequest", f"'{what}' must be a list of CIDR prefixes.")
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise ArmError(400, "InvalidRequest", f"'{what}' holds {item!r}, which is not a CIDR prefix.")
        try:
            out.append(str(ipaddress.ip_network(item.strip(), strict=True)))
        except ValueError as exc:
            raise ArmError(400, "InvalidRequest", f"'{what}' holds {item!r}: {exc}.") from None
    return out


class Physics:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.clock = clock
        self.circuits: dict[str, Circuit] = {}
        self.appliances: dict[str, Appliance] = {}
        self.keys: dict[str, str] = {}  # connection id (lower) -> pre-shared key
        self._links: dict[str, _Link] = {}  # connected connections (lower id)
        self._totals: dict[str, tuple[float, float]] = {}  # connection id (lower) -> bytes in, out
        self._last_ticks: dict[str, float] = {}  # VNet key -> when its counters last advanced
        self._gateway_vnet: dict[str, str] = {}  # gateway id (lower) -> VNet key
        self._groups: dict[str, list[ResourceId]] | None = None  # see _index
        # (gateway id lower, peering location lower) whose ExpressRoute routes a site failover test
        # withdraws (see resiliency.py).
        self.withdrawn: set[tuple[str, str]] = set()
        self.resiliency: Any = None  # resiliency.Resiliency (its site failover tests), made on first use
        store.listeners.append(self._on_change)

    # --- physical objects ---------------------------------------------------------------------------
    def add_circuit(self, circuit: Circuit) -> None:
        self.circuits[circuit.id.lower()] = circuit
        now = self.clock()
        for session in SESSIONS:
            circuit.since.setdefault(session, now)
        self.ensure_peering(circuit)

    def circuit(self, circuit_id: str | None) -> Circuit | None:
        return self.circuits.get(circuit_id.lower()) if circuit_id else None

    def circuit_by_name(self, name: str) -> Circuit | None:
        for circuit in self.circuits.values():
            if circuit.name.lower() == name.lower() or circuit.id.lower() == name.lower():
                return circuit
        return None

    def appliance(self, ip: str) -> Appliance:
        if ip not in self.appliances:
            self.appliances[ip] = Appliance(ip)
        return self.appliances[ip]

    def set_key(self, connection_id: str, key: str) -> None:
        self.keys[connection_id.lower()] = key

    def key(self, connection_id: str) -> str | None:
        return self.keys.get(connection_id.lower())

    # --- knobs (control API) ------------------------------------------------------------------------
    def configure_circuit(
        self,
        name: str,
        *,
        up: bool | None = None,
        bgp: dict[str, str] | None = None,
        advertise: list[str] | None = None,
    ) -> Body:
        circuit = self.circuit_by_name(name)
        if circuit is None:
            raise ArmError(404, "CircuitNotFound", f"No ExpressRoute circuit named '{name}' is known.")
        self.tick(force=True)  # the time so far ran under the old state
        was_up = {s: self.session_up(circuit, s) for s in SESSIONS}
        if up is not None:
            circuit.up = up
        for session, state in (bgp or {}).items():
            circuit.bgp[session] = state == "up"
        now = self.clock()
        for session in SESSIONS:  # a session (re-)established now starts its connectedDuration
            if self.session_up(circuit, session) and not was_up[session]:
                circuit.since[session] = now
        if advertise is not None:
            circuit.prefixes = list(advertise)
        return self.describe_circuit(circuit)

    def configure_appliance(self, ip: str, *, advertise: list[str] | None = None) -> Body:
        self.tick(force=True)
        appliance = self.appliance(ip)
        if advertise is not None:
            appliance.advertise = list(advertise)
        return self.describe_appliance(appliance)

    def describe_circuit(self, circuit: Circuit) -> Body:
        return {
            "id": circuit.id,
            "name": circuit.name,
            "up": circuit.up,
            "bgp": {s: "up" if circuit.bgp[s] else "down" for s in SESSIONS},
            "advertise": list(circuit.prefixes),
            "peerAsn": circuit.peer_asn,
            "peeringLocation": self.peering_location(circuit),
        }

    @staticmethod
    def describe_appliance(appliance: Appliance) -> Body:
        return {
            "ip": appliance.ip,
            "up": appliance.up,
            "keyConfigured": appliance.shared_key is not None,
            "asn": appliance.asn,
            "advertise": list(appliance.advertise),
        }

    # --- the circuit's private peering --------------------------------------------------------------
    def _on_change(self, rid: str, operation: str) -> None:
        try:
            parsed = ResourceId.parse(rid)
        except ArmError:
            return
        self._gateway_vnet.pop(parsed.parent.key, None)
        if parsed.type in ("connections", "virtualNetworkGateways"):
            self._groups = None
        if operation != "write":
            return
        if parsed.type == "expressRouteCircuits" and not parsed.is_child:
            circuit = self.circuit(str(parsed))
            if circuit is not None:
                self.ensure_peering(circuit)

    def ensure_peering(self, circuit: Circuit) -> None:
        """The circuit's stored body carries its Azure private peering (as a GET of the circuit shows)."""
        from hybridnet_dev.armsim.circuits import private_peering  # circuits.py renders from physics

        body = self._lookup(circuit.id)
        if body is None:
            return
        props = body.setdefault("properties", {})
        peerings = [p for p in props.get("peerings") or [] if isinstance(p, dict)]
        if not any(str(p.get("name", "")).lower() == PRIVATE_PEERING.lower() for p in peerings):
            peerings.append(private_peering(circuit, str(body.get("etag", ""))))
        props["peerings"] = peerings

    def peering_location(self, circuit: Circuit) -> str:
        body = self._lookup(circuit.id) or {}
        spp = body.get("properties", {}).get("serviceProviderProperties") or {}
        return str(spp.get("peeringLocation") or "")

    def session_up(self, circuit: Circuit, session: str) -> bool:
        """The BGP session is established (the circuit's link is up and the session is not down)."""
        return circuit.up and circuit.bgp.get(session, False) and self._circuit_provisioned(circuit)

    def _circuit_provisioned(self, circuit: Circuit) -> bool:
        cprops = (self._lookup(circuit.id) or {}).get("properties", {})
        return (
            cprops.get("serviceProviderProvisioningState") == "Provisioned"
            and cprops.get("circuitProvisioningState", "Enabled") == "Enabled"
        )

    def withdrawn_for(self, gateway_key: str, circuit: Circuit) -> bool:
        return (gateway_key.lower(), self.peering_location(circuit).lower()) in self.withdrawn

    # --- derived state ------------------------------------------------------------------------------
    def _lookup(self, rid: str | None) -> Body | None:
        if not rid:
            return None
        try:
            return self.store.body_of(ResourceId.parse(rid))
        except Exception:  # a malformed reference simply does not resolve
            return None

    def _record(self, rid: str) -> Record | None:
        try:
            return self.store.get(ResourceId.parse(rid))
        except ArmError:
            return None

    def connection_status(self, connection: Record) -> str:
        self.tick(group=self._group_of(connection))
        return self._status(connection)

    def _status(self, connection: Record) -> str:
        props = connection.body.get("properties", {})
        if props.get("provisioningState") != "Succeeded":
            return "Unknown"
        return "Connected" if self._connected(connection.rid.key, props) else "NotConnected"

    def _connected(self, connection_key: str, props: Body) -> bool:
        if self._lookup(_ref_id(props.get("virtualNetworkGateway1"))) is None:
            return False
        ctype = str(props.get("connectionType", ""))
        if ctype == "ExpressRoute":
            peer_id = _ref_id(props.get("peer"))
            circuit = self.circuit(peer_id)
            if circuit is None or self._lookup(peer_id) is None:
                return False
            return circuit.up and self._circuit_provisioned(circuit)
        if ctype == "IPsec":
            lng = self._lookup(_ref_id(props.get("localNetworkGateway2")))
            if lng is None:
                return False
            ip = lng.get("properties", {}).get("gatewayIpAddress")
            appliance = self.appliances.get(str(ip))
            if appliance is None or not appliance.up or appliance.shared_key is None:
                return False
            return self.keys.get(connection_key) == appliance.shared_key
        return False

    # --- traffic ------------------------------------------------------------------------------------
    def tick(self, *, force: bool = False, group: str | None = None) -> None:
        """Advance the byte counters to now under the current state (time, not reads, drives them).
        Traffic is shared within a VNet (its gateways' connections), so each VNet keeps its own step:
        ``group`` (a VNet key) advances one, None all. Reads in quick succession share one step (the
        time is carried to the next); a state change forces one, so the time before it counts under
        the old state."""
        now = self.clock()
        index = self._index()
        members: dict[str, list[Record]] = {}
        for key in index if group is None else [group]:
            members[key] = [r for r in (self.store.get(rid) for rid in index.get(key, [])) if r is not None]
        if group is None:  # links of deleted connections
            alive = {c.rid.key for conns in members.values() for c in conns}
            for key in [k for k in self._links if k not in alive]:
                del self._links[key]
        for key, conns in members.items():
            self._tick_group(key, conns, now, force)

    def _tick_group(self, group: str, conns: list[Record], now: float, force: bool) -> None:
        # A VNet's counters start when it is first seen; a connection that came up since the last step
        # counts from that step (state changes through the control API force a step just before them).
        last = self._last_ticks.setdefault(group, now)
        elapsed = now - last
        if not force and 0 <= elapsed < TICK_SECONDS:
            return
        self._last_ticks[group] = now
        connected = {c.rid.key: c for c in conns if self._status(c) == "Connected"}
        for conn in conns:
            key = conn.rid.key
            if key not in connected:
                self._links.pop(key, None)
            elif key not in self._links:
                self._links[key] = _Link(since=now)
        if elapsed <= 0:
            return
        for key, (rate, sessions) in self._rates(list(connected.values())).items():
            ingress, egress = self._totals.get(key, (0.0, 0.0))
            add_in, add_out = rate * elapsed, rate * elapsed * EGRESS_RATIO
            self._totals[key] = (ingress + add_in, egress + add_out)
            for circuit, session, share in sessions:
                circuit.counters[session][0] += int(add_in * share)
                circuit.counters[session][1] += int(add_out * share)

    def _index(self) -> dict[str, list[ResourceId]]:
        """VNet key -> its connections; rebuilt after a connection or gateway is written or deleted."""
        if self._groups is None:
            groups: dict[str, list[ResourceId]] = {}
            for conn in self.store.list("connections"):
                groups.setdefault(self._group_of(conn), []).append(conn.rid)
            self._groups = groups
        return self._groups

    def _group_of_gateway(self, gateway_id: str) -> str:
        """The VNet key of a gateway (cached; a write to the gateway forgets it)."""
        key = gateway_id.lower()
        found = self._gateway_vnet.get(key)
        if found is None:
            body = self._lookup(gateway_id)
            found = self._vnet_key(body) if body is not None else key
            self._gateway_vnet[key] = found
        return found

    def _group_of(self, conn: Record) -> str:
        return self._group_of_gateway(
            _ref_id(conn.body.get("properties", {}).get("virtualNetworkGateway1")) or ""
        )

    def _rates(self, connected: list[Record]) -> dict[str, tuple[float, list[tuple[Circuit, str, float]]]]:
        """Bytes/s per connected connection: each VNet's load goes, prefix by prefix, to the longest
        matching route (ExpressRoute preferred on an equal prefix); every path carries its keepalives.
        ExpressRoute traffic is shared by the BGP sessions that carry routes."""
        rates: dict[str, tuple[float, list[tuple[Circuit, str, float]]]] = {}
        by_vnet: dict[str, list[tuple[Any, str, str]]] = {}  # vnet -> (network, kind, connection key)
        for conn in connected:
            props = conn.body.get("properties", {})
            gateway = self.store.get(ResourceId.parse(_ref_id(props.get("virtualNetworkGateway1")) or ""))
            if gateway is None:
                continue
            sessions: list[tuple[Circuit, str, float]] = []
            if props.get("connectionType") == "ExpressRoute":
                circuit = self.circuit(_ref_id(props.get("peer")))
                carrying = self._carrying_sessions(gateway, circuit) if circuit else []
                sessions = [(circuit, s, 1 / len(carrying)) for s in carrying] if circuit else []
            rates[conn.rid.key] = (float(KEEPALIVE_BYTES_PER_SECOND), sessions)
            vnet = self._vnet_key(gateway.body)
            kind = "er" if props.get("connectionType") == "ExpressRoute" else "vpn"
            for route in self._connection_routes(gateway, conn):
                try:
                    net = ipaddress.ip_network(route["network"], strict=False)
                except ValueError:
                    continue
                by_vnet.setdefault(vnet, []).append((net, kind, conn.rid.key))
        for routes in by_vnet.values():
            networks = {net for net, _, _ in routes}
            exclusive = {net: _exclusive_size(net, networks) for net in networks}
            total = sum(exclusive.values())
            if total <= 0:
                continue
            for net in networks:
                candidates = [(kind, key) for n, kind, key in routes if n == net]
                candidates.sort(key=lambda c: c[0] != "er")  # ExpressRoute first on an equal prefix
                key = candidates[0][1]
                rate, sessions = rates[key]
                rates[key] = (rate + BYTES_PER_SECOND * exclusive[net] / total, sessions)
        return rates

    def traffic(self, connection_id: str) -> tuple[int, int]:
        record = self._record(connection_id)
        if record is not None:
            self.tick(group=self._group_of(record))
        ingress, egress = self._totals.get(connection_id.lower(), (0.0, 0.0))
        return int(ingress), int(egress)

    def connected_for(self, connection_id: str) -> float:
        link = self._links.get(connection_id.lower())
        return self.clock() - link.since if link else 0.0

    # --- gateways -----------------------------------------------------------------------------------
    def _gateway_subnet(self, gateway: Body) -> ipaddress.IPv4Network | None:
        configs = gateway.get("properties", {}).get("ipConfigurations") or []
        if not configs:
            return None
        subnet = self._lookup(_ref_id(configs[0].get("properties", {}).get("subnet")))
        prefix = (subnet or {}).get("properties", {}).get("addressPrefix")
        try:
            return ipaddress.IPv4Network(prefix) if prefix else None
        except ValueError:
            return None

    def gateway_address(self, gateway: Body, offset: int = 1) -> str:
        net = self._gateway_subnet(gateway)
        if net is None:
            return "10.0.0.254"
        return str(net.broadcast_address - offset)

    def _vnet_key(self, gateway: Body) -> str:
        configs = gateway.get("properties", {}).get("ipConfigurations") or []
        subnet_id = _ref_id(configs[0].get("properties", {}).get("subnet")) if configs else None
        if not subnet_id:
            return str(gateway.get("id", "")).lower()
        try:
            return ResourceId.parse(subnet_id).parent.key
        except ArmError:
            return subnet_id.lower()

    def _vnet_prefixes(self, gateway: Body) -> list[str]:
        configs = gateway.get("properties", {}).get("ipConfigurations") or []
        if not configs:
            return []
        subnet_id = _ref_id(configs[0].get("properties", {}).get("subnet"))
        if not subnet_id:
            return []
        try:
            vnet = self.store.body_of(ResourceId.parse(subnet_id).parent)
        except Exception:
            return []
        return list((vnet or {}).get("properties", {}).get("addressSpace", {}).get("addressPrefixes", []))

    def _connections_of(self, gateway: Record) -> list[Record]:
        return [
            c
            for c in self.store.list("connections")
            if same_id(_ref_id(c.body.get("properties", {}).get("virtualNetworkGateway1")), str(gateway.rid))
        ]

    def _local_address(self, gateway: Record) -> str:
        is_er = gateway.body.get("properties", {}).get("gatewayType") == "ExpressRoute"
        return self.gateway_address(gateway.body, 2 if is_er else 1)

    def msee_peers(self, gateway: Record) -> list[str]:
        """The ExpressRoute gateway's BGP neighbours (the MSEEs), primary then secondary."""
        net = self._gateway_subnet(gateway.body)
        if net is None:
            return ["10.0.0.4", "10.0.0.5"]
        return [str(net.network_address + 4), str(net.network_address + 5)]

    def _carrying_sessions(self, gateway: Record, circuit: Circuit) -> list[str]:
        """Sessions over which the gateway receives the circuit's routes now."""
        if self.withdrawn_for(gateway.rid.key, circuit):
            return []
        return [s for s in SESSIONS if self.session_up(circuit, s)]

    def _bgp_over_vpn(self, gateway: Record, props: Body, lprops: Body) -> bool:
        """BGP runs on an IPsec connection when the gateway, the connection and the LNG all have it."""
        gateway_bgp = bool(gateway.body.get("properties", {}).get("enableBgp"))
        return (
            gateway_bgp
            and bool(props.get("enableBgp"))
            and bool((lprops.get("bgpSettings") or {}).get("asn"))
        )

    def _connection_routes(self, gateway: Record, conn: Record) -> list[Body]:
        """Routes the gateway learns over one connection (assumed Connected)."""
        local = self._local_address(gateway)
        props = conn.body.get("properties", {})
        routes: list[Body] = []
        if props.get("connectionType") == "ExpressRoute":
            circuit = self.circuit(_ref_id(props.get("peer")))
            if circuit is None:
                return []
            carrying = self._carrying_sessions(gateway, circuit)
            path = f"{MICROSOFT_ASN}-{circuit.peer_asn}"
            for session, peer in zip(SESSIONS, self.msee_peers(gateway), strict=True):
                if session in carrying:
                    routes += [_route(local, p, peer, peer, "EBgp", path, 32769) for p in circuit.prefixes]
        elif props.get("connectionType") == "IPsec":
            lprops = (self._lookup(_ref_id(props.get("localNetworkGateway2"))) or {}).get("properties", {})
            ip = str(lprops.get("gatewayIpAddress", ""))
            static = lprops.get("localNetworkAddressSpace", {}).get("addressPrefixes", []) or []
            routes += [_route(local, p, ip, local, "Network", "", 32768) for p in static]
            if self._bgp_over_vpn(gateway, props, lprops):
                bgp = lprops.get("bgpSettings") or {}
                peer = str(bgp.get("bgpPeeringAddress") or ip)
                appliance = self.appliances.get(ip)
                announced = appliance.advertise if appliance else []
                routes += [_route(local, p, peer, peer, "EBgp", str(bgp["asn"]), 32768) for p in announced]
        return routes

    def learned_routes(self, gateway: Record) -> list[Body]:
        self.tick(group=self._group_of_gateway(str(gateway.rid)))
        local = self._local_address(gateway)
        routes: list[Body] = [
            _route(local, prefix, "", local, "Network", "", 32768)
            for prefix in self._vnet_prefixes(gateway.body)
        ]
        for conn in self._connections_of(gateway):
            if self._status(conn) == "Connected":
                routes += self._connection_routes(gateway, conn)
        return routes

    def bgp_peers(self, gateway: Record) -> list[Body]:
        self.tick(group=self._group_of_gateway(str(gateway.rid)))
        local = self._local_address(gateway)
        now = self.clock()
        peers: list[Body] = []
        for conn in self._connections_of(gateway):
            props = conn.body["properties"]
            connected = self._status(conn) == "Connected"
            if props.get("connectionType") == "ExpressRoute":
                circuit = self.circuit(_ref_id(props.get("peer")))
                if circuit is None:
                    continue
                carrying = self._carrying_sessions(gateway, circuit)
                for session, neighbor in zip(SESSIONS, self.msee_peers(gateway), strict=True):
                    up = connected and self.session_up(circuit, session)
                    # Link up but the session down: the gateway keeps trying (Connecting); link down: Idle.
                    state = "Connected" if up else ("Connecting" if connected else "Idle")
                    seconds = now - circuit.since.get(session, now) if up else 0.0
                    received = len(circuit.prefixes) if session in carrying else 0
                    peers.append(_peer(local, neighbor, MICROSOFT_ASN, state, seconds, received))
            elif props.get("connectionType") == "IPsec":
                lprops = (self._lookup(_ref_id(props.get("localNetworkGateway2"))) or {}).get(
                    "properties", {}
                )
                if not self._bgp_over_vpn(gateway, props, lprops):
                    continue  # a static (non-BGP) connection has no BGP neighbour
                bgp = lprops.get("bgpSettings") or {}
                ip = str(lprops.get("gatewayIpAddress", ""))
                appliance = self.appliances.get(ip)
                state = "Connected" if connected else "Connecting"
                seconds = self.connected_for(str(conn.rid)) if connected else 0.0
                received = len(appliance.advertise) if (appliance and connected) else 0
                neighbor = str(bgp.get("bgpPeeringAddress") or ip)
                peers.append(_peer(local, neighbor, int(bgp["asn"]), state, seconds, received))
        return peers

    # --- summary (never contains keys) --------------------------------------------------------------
    def summary(self) -> Body:
        connections = []
        for conn in self.store.list("connections"):
            connections.append(
                {
                    "id": str(conn.rid),
                    "connectionType": conn.body.get("properties", {}).get("connectionType"),
                    "connectionStatus": self.connection_status(conn),
                }
            )
        appliances = [self.describe_appliance(a) for a in self.appliances.values()]
        circuits = [self.describe_circuit(c) for c in self.circuits.values()]
        withdrawn = [{"gateway": g, "peeringLocation": loc} for g, loc in sorted(self.withdrawn)]
        return {
            "circuits": circuits,
            "appliances": appliances,
            "connections": connections,
            "withdrawn": withdrawn,
        }


def _exclusive_size(net: Any, networks: set[Any]) -> int:
    """Addresses of ``net`` not covered by a more specific prefix of ``networks`` (CIDR blocks nest or
    are disjoint, so subtracting the outermost nested ones is exact)."""
    inner = [n for n in networks if n != net and n.version == net.version and n.subnet_of(net)]
    outermost = [n for n in inner if not any(o != n and n.subnet_of(o) for o in inner)]
    return int(net.num_addresses) - sum(int(n.num_addresses) for n in outermost)


def _route(local: str, network: str, next_hop: str, source: str, origin: str, path: str, weight: int) -> Body:
    return {
        "localAddress": local,
        "network": network,
        "nextHop": next_hop,
        "sourcePeer": source,
        "origin": origin,
        "asPath": path,
        "weight": weight,
    }


def _peer(local: str, neighbor: str, asn: int, state: str, seconds: float, received: int) -> Body:
    up = state == "Connected"
    keepalives = int(seconds // 60)  # BGP keepalive every 60 s
    return {
        "localAddress": local,
        "neighbor": neighbor,
        "asn": asn,
        "state": state,
        "connectedDuration": _duration(seconds),
        "routesReceived": received,
        "messagesSent": 2 + keepalives if up else 0,
        "messagesReceived": 2 + keepalives + received if up else 0,
    }


def _duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{(s % 3600) // 60:02d}:{s % 60:02d}"
