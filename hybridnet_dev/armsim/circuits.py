"""The ExpressRoute circuit's child resources: its Azure private peering and what it exposes.

Shapes follow Microsoft's REST examples (azure-rest-api-specs, Microsoft.Network 2024-05-01:
ExpressRouteCircuitPeeringGet.json, ExpressRouteCircuitPeeringStats.json, ExpressRouteCircuitARPTableList.json)
and the azure-mgmt-network 33.1 models (``ExpressRouteCircuitPeering``, ``ExpressRouteCircuitRoutesTable``,
``ExpressRouteCircuitRoutesTableSummary``, ``ExpressRouteCircuitArpTable``, ``ExpressRouteCircuitStats``):

- ``GET .../expressRouteCircuits/{c}/peerings`` and ``.../peerings/{p}``
- ``POST .../peerings/{p}/routeTables/{primary|secondary}`` (LRO; ``begin_list_routes_table``)
- ``POST .../peerings/{p}/routeTablesSummary/{primary|secondary}`` (LRO; ``begin_list_routes_table_summary``)
- ``POST .../peerings/{p}/arpTables/{primary|secondary}`` (LRO; ``begin_list_arp_table``)
- ``GET .../peerings/{p}/stats`` and ``GET .../expressRouteCircuits/{c}/stats``

The circuit belongs to the connectivity provider in this simulator: writes to the peering are refused
as writes to the circuit are (change it through the control API).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hybridnet_dev.armsim.armevents import ACTION
from hybridnet_dev.armsim.ids import PROVIDER, ArmError, ResourceId
from hybridnet_dev.armsim.physics import (
    AZURE_GATEWAY_ASN,
    MICROSOFT_ASN,
    PRIVATE_PEERING,
    SESSIONS,
    Circuit,
    Physics,
    _ref_id,
)
from hybridnet_dev.armsim.store import Body

if TYPE_CHECKING:
    from hybridnet_dev.armsim.arm import ArmApi

# Per-session link addressing of the private peering: a /30 each; on-premises takes the first usable
# address, Microsoft the second (https://learn.microsoft.com/azure/expressroute/expressroute-routing).
PEER_PREFIXES = {"primary": "192.168.15.16/30", "secondary": "192.168.15.20/30"}
AZURE_PORTS = {"primary": "EQ-SV1-09GMR-CIS-1-PRI-A", "secondary": "EQ-SV1-09GMR-CIS-2-SEC-A"}
MACS = {"Microsoft": "f4:cf:e2:00:9a:{n:02x}", "On-Prem": "00:50:56:a1:3c:{n:02x}"}
VLAN_ID = 200


def peer_addresses(session: str) -> tuple[str, str]:
    """(on-premises, Microsoft) addresses of one session's /30."""
    net = ipaddress.IPv4Network(PEER_PREFIXES[session])
    return str(net.network_address + 1), str(net.network_address + 2)


def private_peering(circuit: Circuit, etag: str) -> Body:
    return {
        "name": PRIVATE_PEERING,
        "id": f"{circuit.id}/peerings/{PRIVATE_PEERING}",
        "etag": etag,
        "type": f"{PROVIDER}/expressRouteCircuits/peerings",
        "properties": {
            "provisioningState": "Succeeded",
            "peeringType": PRIVATE_PEERING,
            "azureASN": MICROSOFT_ASN,
            "peerASN": circuit.peer_asn,
            "primaryPeerAddressPrefix": PEER_PREFIXES["primary"],
            "secondaryPeerAddressPrefix": PEER_PREFIXES["secondary"],
            "primaryAzurePort": AZURE_PORTS["primary"],
            "secondaryAzurePort": AZURE_PORTS["secondary"],
            "state": "Enabled",
            "vlanId": VLAN_ID,
            "gatewayManagerEtag": "",
            "lastModifiedBy": "Customer",
            "connections": [],
            "peeredConnections": [],
        },
    }


def _device(segment: str) -> str:
    session = segment.lower()
    if session not in SESSIONS:
        raise ArmError(  # code: sim
            400,
            "InvalidDevicePath",
            f"The device path '{segment}' is not valid; use one of: {', '.join(SESSIONS)}.",
        )
    return session


class CircuitChildren:
    """Requests under ``expressRouteCircuits/{name}/``: peerings and stats."""

    def __init__(self, api: ArmApi) -> None:
        self.api = api
        self.sim = api.sim

    @property
    def physics(self) -> Physics:
        return self.sim.physics

    async def handle(self, request: web.Request, rid: ResourceId, rest: list[str]) -> web.StreamResponse:
        low = [s.lower() for s in rest]
        record = self.sim.store.get(rid)
        if record is None:
            raise rid.not_found()
        method = request.method
        if low == ["stats"] and method == "GET":
            return web.json_response(self._stats(rid, None))
        if not low or low[0] != "peerings":
            raise ArmError(404, "InvalidRequestUri", f"The request URI '{request.path}' is not valid.")
        peerings = [p for p in record.body.get("properties", {}).get("peerings") or [] if isinstance(p, dict)]
        if len(rest) == 1:
            if method != "GET":
                raise self._provider_owned(rid)
            return web.json_response({"value": peerings})
        peering = next((p for p in peerings if str(p.get("name", "")).lower() == low[1]), None)
        if peering is None:
            what = f"{PROVIDER}/expressRouteCircuits/{rid.name}/peerings/{rest[1]}"
            raise ArmError(
                404,
                "NotFound",
                f"The Resource '{what}' under resource group '{rid.resource_group}' was not found.",
            )
        if len(rest) == 2:
            if method != "GET":
                raise self._provider_owned(rid)
            return web.json_response(peering, headers={"ETag": str(peering.get("etag", ""))})
        if low[2:] == ["stats"] and method == "GET":
            return web.json_response(self._stats(rid, peering))
        if (
            len(rest) == 4
            and low[2] in ("routetables", "routetablessummary", "arptables")
            and method == "POST"
        ):
            session = _device(rest[3])
            return self._table(request, rid, low[2], session)
        raise ArmError(404, "InvalidRequestUri", f"The request URI '{request.path}' is not valid.")

    @staticmethod
    def _provider_owned(rid: ResourceId) -> ArmError:
        return ArmError(
            409,
            "OperationNotAllowed",  # code: sim
            f"{rid.arm_type} resources belong to the connectivity provider in this simulator; "
            "change them with the control API (/_sim/circuits).",
        )

    def _circuit(self, rid: ResourceId) -> Circuit:
        circuit = self.physics.circuit(str(rid))
        if circuit is None:  # stored but not simulated: a circuit with no physical link at all
            circuit = Circuit(str(rid), up=False)
            self.physics.add_circuit(circuit)
        return circuit

    def _stats(self, rid: ResourceId, peering: Body | None) -> Body:
        self.physics.tick()
        circuit = self._circuit(rid)
        c = circuit.counters
        return {
            "primarybytesIn": c["primary"][0],
            "primarybytesOut": c["primary"][1],
            "secondarybytesIn": c["secondary"][0],
            "secondarybytesOut": c["secondary"][1],
        }

    def _table(self, request: web.Request, rid: ResourceId, kind: str, session: str) -> web.Response:
        api = self.api
        record = self.sim.store.get(rid)
        assert record is not None
        operation = {
            "routetables": "routeTables",
            "routetablessummary": "routeTablesSummary",
            "arptables": "arpTables",
        }
        change = api._change(request, ACTION, str(rid), f"{rid.arm_type}/peerings/{operation[kind]}/action")
        builders = {
            "routetables": self.routes_table,
            "routetablessummary": self.summary,
            "arptables": self.arp,
        }

        def complete(failed: bool) -> Body | None:
            self.sim.emit(change.finished(not failed))
            if failed or self.sim.store.get(rid) is None:
                return None
            return {"value": builders[kind](rid, session), "nextLink": None}

        op = api._start(request, "action", rid, str(record.body.get("location", "")), complete)
        return web.Response(status=202, headers=api._lro_headers(request, op, True))

    # --- tables -------------------------------------------------------------------------------------
    def _er_gateways(self, circuit: Circuit) -> list[Any]:
        """Gateways with a Connected ExpressRoute connection to the circuit."""
        out = []
        for conn in self.sim.store.list("connections"):
            props = conn.body.get("properties", {})
            if (
                props.get("connectionType") != "ExpressRoute"
                or self.physics.circuit(_ref_id(props.get("peer"))) is not circuit
            ):
                continue
            if self.physics.connection_status(conn) != "Connected":
                continue
            gateway_id = _ref_id(props.get("virtualNetworkGateway1"))
            gateway = self.sim.store.get(ResourceId.parse(gateway_id)) if gateway_id else None
            if gateway is not None:
                out.append(gateway)
        return out

    def routes_table(self, rid: ResourceId, session: str) -> list[Body]:
        """What the MSEE of this session holds: on-premises prefixes from the customer edge, and the VNet
        prefixes of each connected gateway (AS 65515); empty while the session is down."""
        circuit = self._circuit(rid)
        if not self.physics.session_up(circuit, session):
            return []
        onprem, _ = peer_addresses(session)
        rows = [
            {"network": p, "nextHop": onprem, "locPrf": "", "weight": 0, "path": str(circuit.peer_asn)}
            for p in circuit.prefixes
        ]
        for gateway in self._er_gateways(circuit):
            hops = [
                self.physics.gateway_address(gateway.body, 2),
                self.physics.gateway_address(gateway.body, 3),
            ]
            for prefix in self.physics._vnet_prefixes(gateway.body):
                rows += [
                    {
                        "network": prefix,
                        "nextHop": hop,
                        "locPrf": "",
                        "weight": 0,
                        "path": str(AZURE_GATEWAY_ASN),
                    }
                    for hop in hops
                ]
        return rows

    def summary(self, rid: ResourceId, session: str) -> list[Body]:
        circuit = self._circuit(rid)
        onprem, _ = peer_addresses(session)
        up = self.physics.session_up(circuit, session)
        now = self.physics.clock()
        seconds = int(now - circuit.since.get(session, now)) if up else 0
        updown = f"{seconds // 3600:02d}:{(seconds % 3600) // 60:02d}:{seconds % 60:02d}" if up else "never"
        return [
            {
                "neighbor": onprem,
                "v": 4,
                "as": circuit.peer_asn,
                "upDown": updown,
                "statePfxRcd": str(len(circuit.prefixes)) if up else "Idle",
            }
        ]

    def arp(self, rid: ResourceId, session: str) -> list[Body]:
        """Microsoft's interface always answers; the on-premises one only while the link is up."""
        circuit = self._circuit(rid)
        onprem, microsoft = peer_addresses(session)
        n = SESSIONS.index(session) + 1
        rows = [
            {
                "age": 0,
                "interface": "Microsoft",
                "ipAddress": microsoft,
                "macAddress": MACS["Microsoft"].format(n=n),
            }
        ]
        if circuit.up:
            rows.append(
                {
                    "age": 10,
                    "interface": "On-Prem",
                    "ipAddress": onprem,
                    "macAddress": MACS["On-Prem"].format(n=n),
                }
            )
        return rows
