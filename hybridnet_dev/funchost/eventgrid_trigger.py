"""Event Grid triggers behind `/runtime/webhooks/eventgrid?functionName=NAME`, as the Event Grid
extension serves them: system-key auth, SubscriptionValidation handshake, CloudEvents OPTIONS handshake,
Notification batches (Event Grid schema or CloudEvents 1.0) invoked once per event, in parallel; 202 when
every invocation succeeded, 500 otherwise (Event Grid then retries the whole batch)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, ClassVar

from aiohttp import web
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

from hybridnet_dev.funchost import keys as auth
from hybridnet_dev.funchost.dispatch import ManualInvokeError, TriggerPlugin
from hybridnet_dev.funchost.loader import FunctionSpec

log = logging.getLogger("hybridnet_dev.funchost.eventgrid")

WEBHOOK_PATH = "/runtime/webhooks/eventgrid"
CLOUDEVENTS_TYPES = ("application/cloudevents+json", "application/cloudevents-batch+json")


def decode_event(event: dict[str, Any]) -> Any:
    """One delivered event as the worker presents it: the library's eventGridTrigger converter decodes
    the event JSON (azure-functions >= 1.24 gives a `func.CloudEvent` when it has `specversion`,
    a `func.EventGridEvent` otherwise)."""
    datum = meta.Datum(type="json", value=json.dumps(event))
    return EventGridEventInConverter.decode(datum, trigger_metadata={})


def _json_error(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message, content_type="text/plain")


class EventGridTriggerPlugin(TriggerPlugin):
    trigger_type: ClassVar[str] = "eventGridTrigger"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", WEBHOOK_PATH, self.handle)

    def manual_trigger_value(self, fn: FunctionSpec, raw_input: str) -> Any:
        try:
            event = json.loads(raw_input)
        except ValueError:
            raise ManualInvokeError("input must be one event as a JSON object") from None
        if not isinstance(event, dict):
            raise ManualInvokeError("input must be one event as a JSON object")
        return decode_event(event)

    def _function(self, name: str | None) -> FunctionSpec | None:
        if not name:
            return None
        for fn in self.functions:
            if fn.name.lower() == name.lower():
                return fn
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not self.host.keys.allows(auth.SYSTEM, auth.presented_key(request)):
            return auth.unauthorized()
        name = request.query.get("functionName")
        fn = self._function(name)
        if fn is None:
            log.info(
                "cannot find function: '%s', available: [%s]", name, ", ".join(f.name for f in self.functions)
            )
            return _json_error(404, f"cannot find function: '{name or ''}'")
        if request.method == "OPTIONS":
            origin = request.headers.get("WebHook-Request-Origin")
            if not origin:
                return _json_error(
                    400, "OPTIONS needs a WebHook-Request-Origin header (CloudEvents handshake)"
                )
            log.info("CloudEvents handshake with %s for function: %s", origin, fn.name)
            return web.Response(
                status=200, headers={"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*"}
            )
        if request.method != "POST":
            return _json_error(405, "Event Grid delivers with POST")
        event_type = request.headers.get("aeg-event-type", "")
        content_type = request.content_type.lower()
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _json_error(400, "the body is not JSON")
        if event_type.lower() == "subscriptionvalidation":
            return self._validate(fn, body)
        if event_type.lower() == "unsubscribe":
            return web.Response(status=202)
        is_cloudevents = content_type in CLOUDEVENTS_TYPES or (
            isinstance(body, dict | list)
            and all(
                isinstance(e, dict) and "specversion" in e
                for e in (body if isinstance(body, list) else [body])
            )
        )
        if event_type.lower() == "notification" or (not event_type and is_cloudevents):
            events = body if isinstance(body, list) else [body]
            if not all(isinstance(e, dict) for e in events):
                return _json_error(400, "every event must be a JSON object")
            return await self._deliver(fn, events)
        return _json_error(400, "missing or unknown aeg-event-type header")

    def _validate(self, fn: FunctionSpec, body: Any) -> web.Response:
        try:
            event = body[0] if isinstance(body, list) else body
            code = event["data"]["validationCode"]
        except (KeyError, IndexError, TypeError):
            return _json_error(400, "expected a Microsoft.EventGrid.SubscriptionValidationEvent")
        log.info("perform handshake with eventGrid for function: %s", fn.name)
        return web.json_response({"validationResponse": code})

    async def _deliver(self, fn: FunctionSpec, events: list[dict[str, Any]]) -> web.Response:
        async def one(event: dict[str, Any]) -> bool:
            try:
                await self.host.invoker.invoke(fn, decode_event(event))
            except Exception:
                return False
            return True

        results = await asyncio.gather(*(one(e) for e in events))
        if not all(results):
            return _json_error(500, f"Exception while executing function: Functions.{fn.name}")
        return web.Response(status=202)
