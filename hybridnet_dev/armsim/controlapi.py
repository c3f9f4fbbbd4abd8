"""The plain-HTTP listener: the control API under ``/_sim/`` and the managed-identity token endpoint.

The token endpoint behaves as App Service / Functions expose it (``IDENTITY_ENDPOINT`` +
``IDENTITY_HEADER``): ``GET /msi/token?api-version=2019-08-01&resource=...`` with the
``X-IDENTITY-HEADER`` header. azure-identity 1.27 reaches it through MSAL, which also sends
``Metadata: true`` and, for a user-assigned identity, ``client_id`` / ``mi_res_id`` / ``object_id``.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from hybridnet_dev.armsim.auth import APP_CLIENT_ID
from hybridnet_dev.armsim.ids import ArmError
from hybridnet_dev.armsim.sim import Simulator


async def _body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"{}")
    except ValueError as exc:
        raise ArmError(400, "InvalidRequestContent", f"The body is not valid JSON: {exc}") from exc


class ControlApi:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def routes(self) -> list[web.RouteDef]:
        return [
            web.put("/_sim/circuits/{name}", self.put_circuit),
            web.put("/_sim/appliances/{ip}", self.put_appliance),
            web.get("/_sim/state", self.get_state),
            web.get("/_sim/info", self.get_info),
            web.put("/_sim/resources", self.put_resource),
            web.patch("/_sim/resources", self.patch_resource),
            web.delete("/_sim/resources", self.delete_resource),
            web.get("/_sim/faults", self.get_faults),
            web.post("/_sim/faults", self.post_fault),
            web.delete("/_sim/faults", self.delete_faults),
            web.get("/_sim/requests", self.get_requests),
            web.delete("/_sim/requests", self.delete_requests),
            web.post("/_sim/eventgrid/subscriptions", self.post_subscription),
            web.get("/_sim/eventgrid/subscriptions", self.get_subscriptions),
            web.delete("/_sim/eventgrid/subscriptions", self.delete_subscriptions),
            web.get("/_sim/eventgrid/deliveries", self.get_deliveries),
            web.delete("/_sim/eventgrid/deliveries", self.delete_deliveries),
            web.get("/_sim/topics/{topic}/events", self.get_topic_events),
            web.delete("/_sim/topics/{topic}/events", self.delete_topic_events),
            web.get("/_sim/vault/secrets/{name}/versions", self.get_vault_versions),
            web.post("/_sim/appliances/{ip}/pickup", self.post_pickup),
            web.put("/_sim/appliances/{ip}/follow", self.put_follow),
            web.get("/msi/token", self.token),
            web.get("/_sim/tokens/operator", self.operator_token),
            web.get("/_sim/throttle", self.get_throttle),
            web.put("/_sim/throttle", self.put_throttle),
            web.get("/_sim/roles", self.get_roles),
        ]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except ArmError as err:
            return web.json_response(err.body(), status=err.status)

    async def put_circuit(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if not isinstance(body, dict) or not isinstance(body.get("up"), bool):
            raise ArmError(400, "InvalidRequest", 'Body must be {"up": true|false}.')
        circuit = self.sim.set_circuit(request.match_info["name"], body["up"])
        return web.json_response({"id": circuit.id, "name": circuit.name, "up": circuit.up})

    async def put_appliance(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if not isinstance(body, dict):
            raise ArmError(400, "InvalidRequest", 'Body must be {"up": bool?, "sharedKey": str?}.')
        up = body.get("up")
        if up is not None and not isinstance(up, bool):
            raise ArmError(400, "InvalidRequest", "'up' must be a boolean.")
        key = body.get("sharedKey")
        if key is not None and not isinstance(key, str):
            raise ArmError(400, "InvalidRequest", "'sharedKey' must be a string.")
        return web.json_response(self.sim.set_appliance(request.match_info["ip"], up=up, shared_key=key))

    async def get_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.sim.state())

    async def get_info(self, request: web.Request) -> web.Response:
        return web.json_response(self.sim.info)

    def _id(self, request: web.Request) -> str:
        rid = request.query.get("id")
        if not rid:
            raise ArmError(
                400, "InvalidRequest", "The 'id' query parameter (an ARM resource id) is required."
            )
        return rid

    async def put_resource(self, request: web.Request) -> web.Response:
        return web.json_response(self.sim.oob_put(self._id(request), await _body(request)))

    async def patch_resource(self, request: web.Request) -> web.Response:
        return web.json_response(self.sim.oob_patch(self._id(request), await _body(request)))

    async def delete_resource(self, request: web.Request) -> web.Response:
        found = self.sim.oob_delete(self._id(request))
        return web.json_response({"deleted": found}, status=200 if found else 404)

    async def get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.sim.faults.list())

    async def post_fault(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if not isinstance(body, dict):
            raise ArmError(400, "InvalidFault", "The body must be a JSON object.")
        fault = self.sim.faults.add(body)
        return web.json_response({"id": fault.id}, status=201)

    async def delete_faults(self, request: web.Request) -> web.Response:
        self.sim.faults.clear()
        return web.json_response({"cleared": True})

    async def get_requests(self, request: web.Request) -> web.Response:
        return web.json_response(self.sim.requests)

    async def delete_requests(self, request: web.Request) -> web.Response:
        self.sim.requests.clear()
        return web.json_response({"cleared": True})

    # --- Event Grid -----------------------------------------------------------------------------------
    async def post_subscription(self, request: web.Request) -> web.Response:
        sub = await self.sim.eventgrid.subscribe(await _body(request))
        return web.json_response(sub.describe(), status=201)

    async def get_subscriptions(self, request: web.Request) -> web.Response:
        return web.json_response([s.describe() for s in self.sim.eventgrid.subscriptions.values()])

    async def delete_subscriptions(self, request: web.Request) -> web.Response:
        await self.sim.eventgrid.clear()
        return web.json_response({"cleared": True})

    async def get_deliveries(self, request: web.Request) -> web.Response:
        return web.json_response(self.sim.eventgrid.deliveries)

    async def delete_deliveries(self, request: web.Request) -> web.Response:
        self.sim.eventgrid.deliveries.clear()
        return web.json_response({"cleared": True})

    # --- custom topics --------------------------------------------------------------------------------
    async def get_topic_events(self, request: web.Request) -> web.Response:
        return web.json_response(self.sim.topics.received(request.match_info["topic"]))

    async def delete_topic_events(self, request: web.Request) -> web.Response:
        self.sim.topics.clear(request.match_info["topic"])
        return web.json_response({"cleared": True})

    # --- Key Vault ------------------------------------------------------------------------------------
    async def get_vault_versions(self, request: web.Request) -> web.Response:
        """Versions with tags and attributes, oldest first. ``?reveal=true`` adds the values: TEST-ONLY,
        for assertions on what the app escrowed; never use it from anything but a test."""
        reveal = request.query.get("reveal", "").lower() == "true"
        vault = self.sim.vault.url
        out = []
        for item in self.sim.vault.versions(request.match_info["name"]):
            entry = {"version": item.version, **item.bundle(vault, value=reveal)}
            out.append(entry)
        if not out:
            raise ArmError(404, "SecretNotFound", f"No secret named '{request.match_info['name']}'.")
        return web.json_response(out)

    async def post_pickup(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if not isinstance(body, dict) or not isinstance(body.get("secret"), str):
            raise ArmError(400, "InvalidRequest", 'Body must be {"secret": str, "version": str?}.')
        version = body.get("version")
        if version is not None and not isinstance(version, str):
            raise ArmError(400, "InvalidRequest", "'version' must be a string.")
        result = self.sim.appliance_pickup(request.match_info["ip"], body["secret"], version)
        return web.json_response(result)

    async def put_follow(self, request: web.Request) -> web.Response:
        body = await _body(request)
        delay = body.get("delaySeconds", 10) if isinstance(body, dict) else None
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("secret"), str)
            or not isinstance(delay, int | float)
        ):
            raise ArmError(400, "InvalidRequest", 'Body must be {"secret": str, "delaySeconds": number?}.')
        return web.json_response(
            self.sim.follow_secret(request.match_info["ip"], body["secret"], float(delay))
        )

    async def token(self, request: web.Request) -> web.Response:
        header = request.headers.get("X-IDENTITY-HEADER")
        if header is None:
            return web.json_response(
                {"statusCode": 400, "message": "X-IDENTITY-HEADER is missing."}, status=400
            )
        if header != self.sim.identity_header:
            return web.json_response(
                {"statusCode": 401, "message": "X-IDENTITY-HEADER is not valid."}, status=401
            )
        resource = request.query.get("resource")
        if request.query.get("api-version") != "2019-08-01" or not resource:
            message = "api-version=2019-08-01 and resource are required."
            return web.json_response({"statusCode": 400, "message": message}, status=400)
        client_id = request.query.get("client_id", APP_CLIENT_ID)
        token, expires = self.sim.tokens.issue(
            object_id=self.sim.principal_id, app_id=client_id, resource=resource
        )
        return web.json_response(
            {
                "access_token": token,
                "expires_on": str(expires),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": client_id,
            }
        )

    async def operator_token(self, request: web.Request) -> web.Response:
        """A token of the operator (Owner on the subscription, as a person in the portal): for out-of-band
        edits through ARM. ``?resource=`` defaults to ARM."""
        resource = request.query.get("resource", "https://management.azure.com")
        token, expires = self.sim.tokens.operator_token(resource)
        return web.json_response(
            {"access_token": token, "expires_on": str(expires), "resource": resource, "token_type": "Bearer"}
        )

    async def get_throttle(self, request: web.Request) -> web.Response:
        return web.json_response(self.sim.throttle.describe())

    async def put_throttle(self, request: web.Request) -> web.Response:
        return web.json_response(self.sim.throttle.configure(await _body(request)))

    async def get_roles(self, request: web.Request) -> web.Response:
        return web.json_response(self.sim.rbac.describe())
