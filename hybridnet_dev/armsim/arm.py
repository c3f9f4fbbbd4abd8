"""The ARM HTTPS API: routing, ARM's front-door checks (hybridnet_dev.armsim.access), faults, ETags, paging
and LROs.

Request and response bodies are never logged (connection shared keys travel in them).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import replace
from typing import Any

from aiohttp import web

from hybridnet_dev.armsim.access import check_request, operation_not_found
from hybridnet_dev.armsim.armevents import ACTION, DELETE, UNKNOWN_CALLER, WRITE, Caller, Change
from hybridnet_dev.armsim.ids import PROVIDER, TYPES, ArmError, ResourceId
from hybridnet_dev.armsim.lro import Kind, Operation, Step
from hybridnet_dev.armsim.resources import LIST_ALL, WRITABLE, check_immutable, references
from hybridnet_dev.armsim.sim import Simulator, check_key, generate_key
from hybridnet_dev.armsim.store import Body, page
from hybridnet_dev.armsim.topics import PATH_PREFIX as TOPICS_PREFIX

log = logging.getLogger("hybridnet_dev.armsim")

FAIL_LRO = web.RequestKey("armsim_fail_lro", bool)
CALLER = web.RequestKey("armsim_caller", Caller)
CORRELATION = web.RequestKey("armsim_correlation", str)
RATE_HEADERS = web.RequestKey("armsim_rate_headers", dict)
# Paths on this listener that are not ARM: they get faults and the request log, not ARM's auth checks.
DATA_PLANE_PREFIXES = (TOPICS_PREFIX,)
# POST actions on virtualNetworkGateways (lower-case URL segment -> operation name), each an LRO whose
# result gateway_actions.GATEWAY_ACTIONS computes (the ExpressRoute resiliency ones: resiliency.py).
ACTIONS = {
    name.lower(): name
    for name in (
        "getLearnedRoutes",
        "getBgpPeerStatus",
        "startSiteFailoverTest",
        "stopSiteFailoverTest",
        "getFailoverAllTestsDetails",
        "getFailoverSingleTestDetails",
        "getResiliencyInformation",
        "getRoutesInformation",
    )
}


def arm_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


def error_response(err: ArmError, headers: dict[str, str] | None = None) -> web.Response:
    return arm_json(err.body(), status=err.status, headers=headers)


async def read_json(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"null")
    except ValueError as exc:
        raise ArmError(
            400,
            "InvalidRequestContent",
            f"The request content was invalid and could not be deserialized: {exc}",
        ) from exc


class ArmApi:
    """``arm=False``: only the request log and faults (for data-plane listeners such as the vault)."""

    def __init__(self, sim: Simulator, *, arm: bool = True) -> None:
        self.sim = sim
        self.arm = arm

    # --- middleware: log, faults, api-version, auth -------------------------------------------------
    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        entry: dict[str, Any] = {"method": request.method, "path": request.path, "query": dict(request.query)}
        entry["userAgent"] = request.headers.get("User-Agent", "")
        correlation = request.headers.get("x-ms-client-request-id", str(uuid.uuid4()))
        request[CORRELATION] = correlation
        request[CALLER] = UNKNOWN_CALLER
        request[RATE_HEADERS] = {}
        try:
            response = await self._guarded(request, handler, entry)
        except ArmError as err:
            response = error_response(err, getattr(err, "headers", None))
        if entry.get("status") is None:
            entry["status"] = response.status
        self.sim.record_request(entry)
        log.info("%s %s -> %s", request.method, request.path, entry["status"])
        response.headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
        if not self.arm:
            return response
        response.headers.setdefault("x-ms-correlation-request-id", correlation)
        for name, value in request[RATE_HEADERS].items():
            response.headers.setdefault(name, value)
        return response

    async def _guarded(self, request: web.Request, handler: Any, entry: dict[str, Any]) -> web.StreamResponse:
        faults = self.sim.faults.take(request.method, request.path)
        latency = sum(f.latency_ms for f in faults if f.kind == "latency")
        if latency:
            await asyncio.sleep(latency / 1000)
        for fault in faults:
            if fault.kind == "reset":
                entry.update(status=0, fault="reset")
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=500)  # never sent: the connection is gone
            if fault.kind == "throttle":
                entry["fault"] = "throttle"
                err = ArmError(
                    429,
                    "TooManyRequests",
                    "The request is being throttled as the limit has been reached for operation type - "
                    f"{'Read' if request.method == 'GET' else 'Write'}. Please retry after {fault.retry_after} seconds.",
                )
                return error_response(err, {"Retry-After": str(fault.retry_after)})
            if fault.kind == "error":
                entry["fault"] = "error"
                code = {500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable"}.get(
                    fault.status, "InjectedError"
                )
                return error_response(ArmError(fault.status, code, "An injected error occurred."))
        request[FAIL_LRO] = any(f.kind == "failLro" for f in faults)
        if not self.arm or request.path.startswith(DATA_PLANE_PREFIXES):
            return await handler(request)  # data-plane services check their own credentials
        if "api-version" not in request.query:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        # ARM's front door: authentication, throttling, subscription, api-version, RBAC, resource group.
        caller = self.sim.tokens.verify(request.headers.get("Authorization"))
        request[CALLER] = caller
        entry["principal"] = caller.object_id
        segs = [s for s in request.path.split("/") if s]
        subscription = segs[1] if len(segs) >= 2 else ""
        request[RATE_HEADERS] = self.sim.throttle.take(
            principal=caller.object_id, subscription=subscription, method=request.method
        )
        body = await read_json(request) if request.method == "PUT" and request.can_read_body else None
        request[CALLER] = check_request(
            self.sim,
            method=request.method,
            path=request.path,
            version=request.query["api-version"],
            caller=caller,
            body=body,
        )
        return await handler(request)

    # --- routing ------------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        segs = [s for s in request.path.split("/") if s]
        low = [s.lower() for s in segs]
        method = request.method
        if len(segs) < 2 or low[0] != "subscriptions":
            raise ArmError(404, "InvalidRequestUri", f"The request URI '{request.path}' is not valid.")
        sub = segs[1]
        if len(segs) >= 4 and low[2] == "providers" and low[3] == PROVIDER.lower():
            if len(segs) == 5 and low[4] in TYPES and method == "GET":
                rtype = TYPES[low[4]]
                if rtype not in LIST_ALL:
                    raise self._no_type(segs[4], request)
                return self._list(
                    request,
                    [self.sim.shaper.render(r, listing=True) for r in self.sim.store.list(rtype, sub)],
                )
            if (
                len(segs) == 8
                and low[4] == "locations"
                and low[6] in ("operations", "operationresults")
                and method == "GET"
            ):
                return self._operation(request, segs[7], low[6] == "operationresults")
            raise ArmError(404, "InvalidRequestUri", f"The request URI '{request.path}' is not valid.")
        if len(segs) < 7 or low[2] != "resourcegroups" or low[4] != "providers" or low[5] != PROVIDER.lower():
            raise ArmError(404, "InvalidRequestUri", f"The request URI '{request.path}' is not valid.")
        if low[6] not in TYPES:
            raise self._no_type(segs[6], request)
        rg, rtype = segs[3], TYPES[low[6]]
        if len(segs) == 7:
            if method != "GET":
                raise self._bad_method(request)
            return self._list(
                request,
                [self.sim.shaper.render(r, listing=True) for r in self.sim.store.list(rtype, sub, rg)],
            )
        rid = ResourceId(sub, rg, rtype, segs[7])
        if len(segs) == 8:
            return await self._resource(request, rid)
        if rtype == "virtualNetworks" and low[8] == "subnets":
            if len(segs) == 9 and method == "GET":
                vnet = self.sim.store.get(rid)
                if vnet is None:
                    raise rid.not_found()
                subnets = vnet.body.get("properties", {}).get("subnets", []) or []
                return self._list(request, [self.sim.shaper.render_subnet(s) for s in subnets])
            if len(segs) == 10:
                return await self._subnet(request, ResourceId(sub, rg, rtype, segs[7], "subnets", segs[9]))
        if rtype == "connections" and low[8] == "sharedkey":
            if len(segs) == 9 and method in ("GET", "PUT"):
                return await self._shared_key(request, rid)
            if len(segs) == 10 and low[9] == "reset" and method == "POST":
                return await self._reset_key(request, rid)
        if rtype == "virtualNetworkGateways" and len(segs) == 9 and low[8] in ACTIONS and method == "POST":
            return await self._gateway_action(request, rid, ACTIONS[low[8]])
        if rtype == "expressRouteCircuits":
            from hybridnet_dev.armsim.circuits import CircuitChildren  # the circuit's peering and its tables

            return await CircuitChildren(self).handle(request, rid, segs[8:])
        raise ArmError(404, "InvalidRequestUri", f"The request URI '{request.path}' is not valid.")

    @staticmethod
    def _no_type(segment: str, request: web.Request) -> ArmError:
        return ArmError(
            404,
            "InvalidResourceType",
            f"The resource type '{segment}' could not be found in the namespace '{PROVIDER}' for api version "
            f"'{request.query.get('api-version')}'.",
        )

    @staticmethod
    def _bad_method(request: web.Request) -> ArmError:
        return ArmError(
            405,
            "MethodNotAllowed",
            f"The requested method {request.method} is not allowed on '{request.path}'.",
        )

    # --- helpers ------------------------------------------------------------------------------------
    def _list(self, request: web.Request, items: list[Body]) -> web.Response:
        try:
            skip = max(0, int(request.query.get("$skipToken", "0")))
        except ValueError as exc:
            raise ArmError(400, "InvalidSkipToken", "The $skipToken is not valid.") from exc
        chunk, nxt = page(items, skip, self.sim.page_size)
        body: Body = {"value": chunk}
        if nxt is not None:
            version = request.query.get("api-version", "")
            body["nextLink"] = f"{request.url.origin()}{request.path}?api-version={version}&$skipToken={nxt}"
        return arm_json(body)

    def _lro_headers(self, request: web.Request, op: Operation, location: bool) -> dict[str, str]:
        origin = str(request.url.origin())
        version = request.query.get("api-version", "")
        headers = {"Azure-AsyncOperation": f"{origin}{op.status_path()}?api-version={version}"}
        if location:
            headers["Location"] = f"{origin}{op.result_path()}?api-version={version}"
        if op.status == "InProgress":  # when to poll (lro.RETRY_AFTER)
            headers.update(self.sim.operations.retry_after_headers(op))
        return headers

    def _precondition(self, request: web.Request, etag: str | None) -> None:
        if_match = request.headers.get("If-Match")
        if if_match is not None:
            wanted = [t.strip() for t in if_match.split(",")]
            if etag is None or ("*" not in wanted and etag not in wanted):
                raise ArmError(
                    412,
                    "PreconditionFailed",
                    "The condition specified using HTTP conditional header(s) is not met.",
                )
        if_none = request.headers.get("If-None-Match")
        if if_none is not None and etag is not None and (if_none.strip() == "*" or etag in if_none):
            raise ArmError(
                412,
                "PreconditionFailed",
                "The condition specified using HTTP conditional header(s) is not met.",
            )

    def _not_busy(self, request: web.Request, rid: ResourceId, *dependent: ResourceId) -> None:
        """409 while an operation runs on ``rid``, its parent or children, or a resource it depends on
        (ARM's code and message, e.g. Azure/bicep#5132, azure-rest-api-specs#14473)."""
        op = self.sim.operations.busy(rid, *dependent)
        if op is not None:
            version = request.query.get("api-version", "")
            raise ArmError(
                409,
                "AnotherOperationInProgress",
                "Another operation on this or dependent resource is in progress. To retrieve status of the "
                f"operation use uri: {request.url.origin()}{op.status_path()}?api-version={version}.",
            )

    def _start(
        self,
        request: web.Request,
        kind: Kind,
        rid: ResourceId,
        region: str,
        complete: Any,
        step: Step | None = None,
    ) -> Operation:
        """An operation that takes Azure's time for ``step`` on ``rid`` (lro.DURATIONS) at the time scale."""
        fail = bool(request.get(FAIL_LRO, False))
        started_by = request[CALLER].object_id
        return self.sim.operations.start(kind, rid, region, fail, complete, step=step, started_by=started_by)

    def _change(
        self, request: web.Request, kind: str, subject: str, operation: str, *, http: bool = True
    ) -> Change:
        """The event-to-be of this request; published when its operation completes."""
        http_request = {
            "clientRequestId": request.headers.get("x-ms-client-request-id", str(uuid.uuid4())),
            "clientIpAddress": request.remote or "127.0.0.1",
            "method": request.method,
            "url": str(request.url),
        }
        return Change(
            kind,
            subject,
            operation,
            request[CALLER],
            self.sim.subscription_id if not subject.startswith("/subscriptions/") else subject.split("/")[2],
            correlation_id=request[CORRELATION],
            http_request=http_request if http else None,
        )

    def _accepted_write(self, change: Change) -> None:
        """The first of the two ResourceWriteSuccess events a write can raise (``doubleWrites``)."""
        self.sim.emit(replace(change, early=True))

    def _set_state(self, rid: ResourceId, state: str) -> None:
        body = self.sim.store.body_of(rid)
        if body is not None:
            body.setdefault("properties", {})["provisioningState"] = state

    # --- resources ----------------------------------------------------------------------------------
    async def _resource(self, request: web.Request, rid: ResourceId) -> web.Response:
        sim = self.sim
        record = sim.store.get(rid)
        if request.method == "GET":
            if record is None:
                raise rid.not_found()
            return arm_json(sim.shaper.render(record), headers={"ETag": record.etag})
        if request.method == "PATCH":
            return await self._patch_tags(request, rid)
        if request.method not in ("PUT", "DELETE"):
            raise self._bad_method(request)
        if rid.type not in WRITABLE:
            raise ArmError(
                409,
                "OperationNotAllowed",  # code: sim
                f"{rid.arm_type} resources belong to the connectivity provider in this simulator; "
                "change them with the control API (/_sim/resources).",
            )
        if request.method == "DELETE":
            return self._delete(request, rid)
        incoming = await read_json(request)
        self._precondition(request, record.etag if record else None)
        self._not_busy(request, rid, *references(incoming))
        if record is not None:
            check_immutable(rid, record.body, incoming)
            if rid.type == "virtualNetworks":
                sim.shaper.check_vnet_subnets(rid, record.body, incoming)
        shaped = sim.shaper.shape(rid, incoming, record.body if record else None)
        if rid.type == "connections":
            key = (incoming.get("properties") or {}).get("sharedKey")
            if record is None:  # creation sets the initial key; later PUTs never change it
                sim.physics.set_key(str(rid), check_key(key) if key is not None else generate_key())
        shaped["properties"]["provisioningState"] = "Updating"
        created = record is None
        record = sim.store.put(rid, shaped)
        change = self._change(request, WRITE, str(rid), f"{rid.arm_type}/write", http=not created)
        self._accepted_write(change)

        def complete(failed: bool) -> None:
            self._set_state(rid, "Failed" if failed else "Succeeded")
            sim.emit(change.finished(not failed))

        op = self._start(
            request, "put", rid, str(shaped.get("location", "")), complete, "create" if created else "update"
        )
        return arm_json(
            sim.shaper.render(record, put=True),
            status=201 if created else 200,
            headers={**self._lro_headers(request, op, False), "ETag": record.etag},
        )

    async def _patch_tags(self, request: web.Request, rid: ResourceId) -> web.Response:
        record = self.sim.store.get(rid)
        if record is None:
            raise rid.not_found()
        incoming = await read_json(request)
        self._precondition(request, record.etag)
        # UpdateTags while a shared-key set runs is refused too (azure-rest-api-specs#14473).
        self._not_busy(request, rid)
        if not isinstance(incoming, dict):
            raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request.")
        if "tags" in incoming:
            record.body["tags"] = dict(incoming.get("tags") or {})
        self.sim.store.touch(rid)
        self.sim.emit(self._change(request, WRITE, str(rid), f"{rid.arm_type}/write"))
        return arm_json(self.sim.shaper.render(record), headers={"ETag": record.etag})

    def _delete(self, request: web.Request, rid: ResourceId) -> web.Response:
        record = self.sim.store.get(rid)
        if record is None:
            return web.Response(status=204)
        self._precondition(request, record.etag)
        self._not_busy(request, rid)
        self._set_state(rid, "Deleting")
        self.sim.store.touch(rid)
        change = self._change(request, DELETE, str(rid), f"{rid.arm_type}/delete")

        def complete(failed: bool) -> None:
            if failed:
                self._set_state(rid, "Failed")
            else:
                self.sim.store.delete(rid)
            self.sim.emit(change.finished(not failed))

        op = self._start(request, "delete", rid, str(record.body.get("location", "")), complete)
        return web.Response(status=202, headers=self._lro_headers(request, op, True))

    async def _subnet(self, request: web.Request, rid: ResourceId) -> web.Response:
        sim = self.sim
        vnet = sim.store.get(rid.parent)
        subnet = sim.store.get_child(rid)
        if request.method == "GET":
            if subnet is None:
                raise rid.not_found()
            return arm_json(sim.shaper.render_subnet(subnet), headers={"ETag": str(subnet.get("etag", ""))})
        if vnet is None:
            raise rid.parent.not_found()
        if request.method == "DELETE":
            if subnet is None:
                return web.Response(status=204)
            self._precondition(request, str(subnet.get("etag")))
            self._not_busy(request, rid)
            users = sim.shaper.render_subnet(subnet).get("properties", {}).get("ipConfigurations")
            if users:
                raise ArmError(
                    400,
                    "InUseSubnetCannotBeDeleted",
                    f"Subnet {rid.child_name} is in use by {users[0]['id']} and cannot be deleted.",
                )
            self._set_state(rid, "Deleting")
            sim.store.touch(rid)
            gone = self._change(request, DELETE, str(rid), f"{rid.arm_type}/delete")

            def complete_delete(failed: bool) -> None:
                sim.emit(gone.finished(not failed))
                if failed:
                    self._set_state(rid, "Failed")
                    return
                props = vnet.body["properties"]
                props["subnets"] = [s for s in props.get("subnets", []) if s is not subnet]
                sim.store.touch(rid.parent)

            op = self._start(request, "delete", rid, str(vnet.body.get("location", "")), complete_delete)
            return web.Response(status=202, headers=self._lro_headers(request, op, True))
        if request.method != "PUT":
            raise self._bad_method(request)
        incoming = await read_json(request)
        self._precondition(request, str(subnet.get("etag")) if subnet else None)
        self._not_busy(request, rid, *references(incoming))
        if not isinstance(incoming, dict):
            raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request.")
        if subnet is not None:
            sim.shaper.check_subnet_prefix(rid, subnet, incoming)
        new = sim.shaper.shape_subnet(rid, incoming, vnet.body)
        new["properties"]["provisioningState"] = "Updating"
        props = vnet.body["properties"]
        others = [
            s
            for s in props.get("subnets", [])
            if str(s.get("name", "")).lower() != str(rid.child_name).lower()
        ]
        props["subnets"] = [*others, new]
        sim.store.touch(rid)
        change = self._change(request, WRITE, str(rid), f"{rid.arm_type}/write", http=subnet is not None)
        self._accepted_write(change)

        def complete(failed: bool) -> None:
            self._set_state(rid, "Failed" if failed else "Succeeded")
            sim.emit(change.finished(not failed))

        op = self._start(
            request,
            "put",
            rid,
            str(vnet.body.get("location", "")),
            complete,
            "update" if subnet else "create",
        )
        status = 200 if subnet is not None else 201
        return arm_json(
            sim.shaper.render_subnet(new),
            status=status,
            headers={**self._lro_headers(request, op, False), "ETag": str(new.get("etag", ""))},
        )

    # --- connection shared key ----------------------------------------------------------------------
    # KEY_IN_FORCE: a shared-key set or reset is a long-running operation (lro.DURATIONS "sharedKey":
    # minutes) during which the connection is Updating and refuses other writes (409
    # AnotherOperationInProgress, Azure/azure-rest-api-specs#14473; still "Updating" after the PUT's 200,
    # #26660). The model: the key the gateway uses, and the one GET .../sharedkey returns, changes when
    # that operation succeeds, not when it is accepted; no source shows Azure answering the new key
    # earlier, so the simulator never does (a client must wait for the operation before it reads back).
    def _connection(self, rid: ResourceId) -> Body:
        record = self.sim.store.get(rid)
        if record is None:
            raise rid.not_found()
        return record.body

    async def _shared_key(self, request: web.Request, rid: ResourceId) -> web.Response:
        conn = self._connection(rid)
        physics = self.sim.physics
        if request.method == "GET":
            key = physics.key(str(rid))
            if key is None:
                raise ArmError(
                    404, "SharedKeyNotFound", f"No shared key is set on connection {rid}."
                )  # code: sim
            return arm_json({"id": "", "value": key})
        incoming = await read_json(request)
        value = check_key((incoming or {}).get("value") if isinstance(incoming, dict) else None)
        self._not_busy(request, rid, *references(conn))
        # The new key is in force only once the operation succeeds: until then the gateway keeps the old
        # one, the tunnel runs on it and a read returns it; a failed set leaves it (KEY_IN_FORCE).
        self._set_state(rid, "Updating")
        self.sim.store.touch(rid)
        log.info("shared key set on %s", rid)
        change = self._change(request, WRITE, f"{rid}/sharedkey", f"{rid.arm_type}/sharedKey/write")
        self._accepted_write(change)

        def complete(failed: bool) -> None:
            if not failed:
                physics.set_key(str(rid), value)
            self._set_state(rid, "Failed" if failed else "Succeeded")
            self.sim.emit(change.finished(not failed))

        op = self._start(request, "put", rid, str(conn.get("location", "")), complete, "sharedKey")
        return arm_json({"id": "", "value": value}, status=200, headers=self._lro_headers(request, op, False))

    async def _reset_key(self, request: web.Request, rid: ResourceId) -> web.Response:
        conn = self._connection(rid)
        incoming = await read_json(request)
        length = incoming.get("keyLength") if isinstance(incoming, dict) else None
        if not isinstance(length, int) or isinstance(length, bool) or not 1 <= length <= 128:
            raise ArmError(
                400, "InvalidKeyLength", "keyLength must be an integer from 1 to 128."
            )  # code: sim
        self._not_busy(request, rid, *references(conn))
        physics = self.sim.physics
        value = generate_key(length)  # in force once the operation succeeds, as a set (KEY_IN_FORCE)
        self._set_state(rid, "Updating")
        self.sim.store.touch(rid)
        log.info("shared key reset on %s", rid)
        change = self._change(request, ACTION, f"{rid}/sharedkey", f"{rid.arm_type}/sharedKey/reset/action")

        def complete(failed: bool) -> Body | None:
            if not failed:
                physics.set_key(str(rid), value)
            self._set_state(rid, "Failed" if failed else "Succeeded")
            self.sim.emit(change.finished(not failed))
            return None if failed else {"keyLength": length}

        op = self._start(request, "put", rid, str(conn.get("location", "")), complete, "sharedKey")
        return web.Response(status=202, headers=self._lro_headers(request, op, True))

    # --- gateway actions ----------------------------------------------------------------------------
    async def _gateway_action(self, request: web.Request, rid: ResourceId, action: str) -> web.Response:
        """POST actions on a gateway, all long-running: the ``ACTIONS`` table names them; the physical
        model computes each result when the operation completes (``GATEWAY_ACTIONS``)."""
        from hybridnet_dev.armsim.gateway_actions import GATEWAY_ACTIONS

        record = self.sim.store.get(rid)
        if record is None:
            raise rid.not_found()
        body = await read_json(request) if request.can_read_body else None
        # Validates now (a bad request is a synchronous 400), computes the result on completion.
        produce = GATEWAY_ACTIONS[action](self.sim, record, dict(request.query), body)
        change = self._change(request, ACTION, str(rid), f"{rid.arm_type}/{action}/action")

        def complete(failed: bool) -> Body | Any:
            self.sim.emit(change.finished(not failed))
            current = self.sim.store.get(rid)
            if current is None:
                return None
            return produce(current, failed)

        op = self._start(request, "action", rid, str(record.body.get("location", "")), complete)
        return web.Response(status=202, headers=self._lro_headers(request, op, True))

    # --- operation status and results ---------------------------------------------------------------
    def _operation(self, request: web.Request, op_id: str, result: bool) -> web.Response:
        op = self.sim.operations.poll(op_id)  # the caller may poll it: access.check_poll
        if op is None:
            raise operation_not_found(op_id)
        if not result:
            running = op.status == "InProgress"  # a running operation says when to poll again
            return arm_json(
                op.status_body(), headers=self.sim.operations.retry_after_headers(op) if running else None
            )
        if op.status == "InProgress":
            return web.Response(status=202, headers=self._lro_headers(request, op, True))
        if op.status == "Failed":
            return arm_json({"error": op.status_body()["error"]}, status=500)
        if op.kind == "delete":
            return web.Response(status=204)
        if op.result is not None:
            return arm_json(op.result)
        body = self.sim.store.body_of(op.resource)
        return arm_json(body if body is not None else {})
