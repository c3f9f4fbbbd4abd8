"""The physical world behind the resources: ExpressRoute circuits and on-prem VPN appliances.

A circuit is up or down; an appliance (known by its public IP, the LNG's ``gatewayIpAddress``) is up or
down and holds its own pre-shared key. From those and the stored resources this module derives what
Azure would report: connection status and traffic, a gateway's learned routes and its BGP peers.
Shared keys live here (never in resource bodies) and are never part of :meth:`Physics.summary`.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field
from typing import Any

from hybridnet_dev.armsim.ids import ResourceId, same_id
from hybridnet_dev.armsim.store import Body, Record, Store

MICROSOFT_ASN = 12076
BYTES_PER_SECOND = 125_000


@dataclass
class Circuit:
    id: str
    up: bool = True
    prefixes: list[str] = field(default_factory=list)  # on-prem prefixes advertised over the circuit
    peer_asn: int = 65020

    @property
    def name(self) -> str:
        return self.id.rstrip("/").rsplit("/", 1)[-1]


@dataclass
class Appliance:
    ip: str
    up: bool = True
    shared_key: str | None = None  # None: no key configured, never connects
    asn: int = 65010


@dataclass
class _Link:
    since: float
    last: float
    ingress: int = 0
    egress: int = 0


def _ref_id(value: Any) -> str | None:
    if isinstance(value, dict):
        rid = value.get("id")
        return rid if isinstance(rid, str) else None
    return None


class Physics:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.circuits: dict[str, Circuit] = {}
        self.appliances: dict[str, Appliance] = {}
        self.keys: dict[str, str] = {}  # connection id (lower) -> pre-shared key
        self._links: dict[str, _Link] = {}
        self._totals: dict[str, tuple[int, int]] = {}

    # --- physical objects ---------------------------------------------------------------------------
    def add_circuit(self, circuit: Circuit) -> None:
        self.circuits[circuit.id.lower()] = circuit

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

    # --- derived state ------------------------------------------------------------------------------
    def _lookup(self, rid: str | None) -> Body | None:
        if not rid:
            return None
        try:
            return self.store.body_of(ResourceId.parse(rid))
        except Exception:  # a malformed reference simply does not resolve
            return None

    def connection_status(self, connection: Record) -> str:
        props = connection.body.get("properties", {})
        if props.get("provisioningState") != "Succeeded":
            status = "Unknown"
        elif self._connected(connection.rid.key, props):
            status = "Connected"
        else:
            status = "NotConnected"
        self._account(connection.rid.key, status == "Connected")
        return status

    def _connected(self, connection_key: str, props: Body) -> bool:
        if self._lookup(_ref_id(props.get("virtualNetworkGateway1"))) is None:
            return False
        ctype = str(props.get("connectionType", ""))
        if ctype == "ExpressRoute":
            peer_id = _ref_id(props.get("peer"))
            circuit = self.circuit(peer_id)
            circuit_body = self._lookup(peer_id)
            if circuit is None or circuit_body is None:
                return False
            cprops = circuit_body.get("properties", {})
            return (
                circuit.up
                and cprops.get("serviceProviderProvisioningState") == "Provisioned"
                and cprops.get("circuitProvisioningState", "Enabled") == "Enabled"
            )
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

    def _account(self, key: str, connected: bool) -> None:
        now = time.monotonic()
        link = self._links.get(key)
        if connected:
            if link is None:
                ingress, egress = self._totals.get(key, (0, 0))
                link = self._links[key] = _Link(since=now, last=now, ingress=ingress, egress=egress)
            elapsed = now - link.last
            link.ingress += int(elapsed * BYTES_PER_SECOND)
            link.egress += int(elapsed * BYTES_PER_SECOND * 0.8)
            link.last = now
            self._totals[key] = (link.ingress, link.egress)
        elif link is not None:
            del self._links[key]

    def traffic(self, connection_id: str) -> tuple[int, int]:
        return self._totals.get(connection_id.lower(), (0, 0))

    def connected_for(self, connection_id: str) -> float:
        link = self._links.get(connection_id.lower())
        return time.monotonic() - link.since if link else 0.0

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

    def learned_routes(self, gateway: Record) -> list[Body]:
        local = self._local_address(gateway)
        routes: list[Body] = [
            _route(local, prefix, "", local, "Network", "", 32768)
            for prefix in self._vnet_prefixes(gateway.body)
        ]
        for conn in self._connections_of(gateway):
            if self.connection_status(conn) != "Connected":
                continue
            props = conn.body["properties"]
            if props.get("connectionType") == "ExpressRoute":
                circuit = self.circuit(_ref_id(props.get("peer")))
                if circuit is None:
                    continue
                for peer in self._msee_peers(gateway):
                    for prefix in circuit.prefixes:
                        path = f"{MICROSOFT_ASN}-{circuit.peer_asn}"
                        routes.append(_route(local, prefix, peer, peer, "EBgp", path, 32769))
            elif props.get("connectionType") == "IPsec":
                lng = self._lookup(_ref_id(props.get("localNetworkGateway2"))) or {}
                lprops = lng.get("properties", {})
                ip = str(lprops.get("gatewayIpAddress", ""))
                bgp = lprops.get("bgpSettings") or {}
                prefixes = lprops.get("localNetworkAddressSpace", {}).get("addressPrefixes", [])
                for prefix in prefixes:
                    if props.get("enableBgp") and bgp.get("asn"):
                        peer = str(bgp.get("bgpPeeringAddress") or ip)
                        routes.append(_route(local, prefix, peer, peer, "EBgp", str(bgp["asn"]), 32768))
                    else:
                        routes.append(_route(local, prefix, ip, local, "Network", "", 32768))
        return routes

    def _msee_peers(self, gateway: Record) -> list[str]:
        net = self._gateway_subnet(gateway.body)
        if net is None:
            return ["10.0.0.4", "10.0.0.5"]
        return [str(net.network_address + 4), str(net.network_address + 5)]

    def bgp_peers(self, gateway: Record) -> list[Body]:
        local = self._local_address(gateway)
        peers: list[Body] = []
        for conn in self._connections_of(gateway):
            props = conn.body["properties"]
            up = self.connection_status(conn) == "Connected"
            duration = _duration(self.connected_for(str(conn.rid))) if up else "00:00:00"
            if props.get("connectionType") == "ExpressRoute":
                circuit = self.circuit(_ref_id(props.get("peer")))
                received = len(circuit.prefixes) if (circuit and up) else 0
                for peer in self._msee_peers(gateway):
                    peers.append(_peer(local, peer, MICROSOFT_ASN, up, duration, received))
            elif props.get("connectionType") == "IPsec":
                lng = self._lookup(_ref_id(props.get("localNetworkGateway2"))) or {}
                lprops = lng.get("properties", {})
                bgp = lprops.get("bgpSettings") or {}
                ip = str(lprops.get("gatewayIpAddress", ""))
                appliance = self.appliances.get(ip)
                asn = int(bgp.get("asn") or (appliance.asn if appliance else 65010))
                neighbor = str(bgp.get("bgpPeeringAddress") or ip)
                received = (
                    len(lprops.get("localNetworkAddressSpace", {}).get("addressPrefixes", [])) if up else 0
                )
                peers.append(_peer(local, neighbor, asn, up, duration, received))
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
        appliances = []
        for a in self.appliances.values():
            appliances.append(
                {"ip": a.ip, "up": a.up, "keyConfigured": a.shared_key is not None, "asn": a.asn}
            )
        circuits = [
            {"id": c.id, "name": c.name, "up": c.up, "prefixes": list(c.prefixes)}
            for c in self.circuits.values()
        ]
        return {"circuits": circuits, "appliances": appliances, "connections": connections}


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


def _peer(local: str, neighbor: str, asn: int, up: bool, duration: str, received: int) -> Body:
    return {
        "localAddress": local,
        "neighbor": neighbor,
        "asn": asn,
        "state": "Connected" if up else "Idle",
        "connectedDuration": duration,
        "routesReceived": received,
        "messagesSent": 120 if up else 0,
        "messagesReceived": 118 if up else 0,
    }


def _duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{(s % 3600) // 60:02d}:{s % 60:02d}"
