"""Event Grid custom topics that record what is published to them (for the app's CloudEvents).

Served on the HTTPS listener: ``POST /eventgrid/topics/{topic}`` and ``.../{topic}/api/events`` (the form
of a real topic endpoint, ``https://{topic}.{region}-1.eventgrid.azure.net/api/events``), with
``?api-version=`` and the ``aeg-sas-key`` header. Accepted bodies, as Event Grid accepts them:
``application/cloudevents-batch+json`` (an array of CloudEvents, what azure-eventgrid sends),
``application/cloudevents+json`` (one CloudEvent) and ``application/json`` (an array in the Event Grid
schema, or of CloudEvents). Every CloudEvent needs ``specversion`` 1.0, ``id``, ``source`` and ``type``;
every Event Grid event ``id``, ``subject``, ``eventType``, ``eventTime``, ``dataVersion`` and ``data``.
Whatever is accepted is kept per topic (``GET /_sim/topics/{topic}/events``). Keys are never logged.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import secrets
from typing import Any

from aiohttp import web

from hybridnet_dev.armsim.ids import ArmError

log = logging.getLogger("hybridnet_dev.armsim.topics")

DEFAULT_TOPIC = "hybridnet"
PATH_PREFIX = "/eventgrid/topics/"
CLOUD_EVENT_FIELDS = ("id", "source", "type")
EVENT_GRID_FIELDS = ("id", "subject", "eventType", "eventTime", "dataVersion")
MAX_BODY = 1024 * 1024  # Event Grid's 1 MB per publish request


def missing_cloud_event_fields(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return ["(not a JSON object)"]
    missing = [f for f in CLOUD_EVENT_FIELDS if not isinstance(event.get(f), str) or not event[f]]
    if event.get("specversion") != "1.0":
        missing.insert(0, "specversion (1.0)")
    return missing


def missing_event_grid_fields(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return ["(not a JSON object)"]
    missing = [f for f in EVENT_GRID_FIELDS if not isinstance(event.get(f), str) or not event[f]]
    if "data" not in event:
        missing.append("data")
    return missing


class Topics:
    """The recorded events per topic, and the one access key every topic accepts."""

    def __init__(self, key: str | None = None) -> None:
        self.key = key or base64.b64encode(secrets.token_bytes(32)).decode()
        self.events: dict[str, list[dict[str, Any]]] = {}

    def received(self, topic: str) -> list[dict[str, Any]]:
        return self.events.get(topic.lower(), [])

    def clear(self, topic: str | None = None) -> None:
        if topic is None:
            self.events.clear()
        else:
            self.events.pop(topic.lower(), None)

    # --- the publish endpoint -----------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.Response:
        try:
            return await self._publish(request)
        except ArmError as err:
            return web.json_response(err.body(), status=err.status)

    async def _publish(self, request: web.Request) -> web.Response:
        topic = request.match_info["topic"]
        if not request.query.get("api-version"):
            raise ArmError(400, "BadRequest", "The api-version query parameter is required.")
        presented = request.headers.get("aeg-sas-key", "")
        if not presented or not hmac.compare_digest(presented.encode(), self.key.encode()):
            raise ArmError(
                401,
                "Unauthorized",
                f"The request authorization key is not authorized for topic '{topic}'. "
                "Send the topic's access key in the aeg-sas-key header.",
            )
        raw = await request.read()
        if len(raw) > MAX_BODY:
            raise ArmError(413, "RequestEntityTooLarge", "The request body is larger than 1 MB.")
        try:
            body = json.loads(raw or b"null")
        except ValueError as exc:
            raise ArmError(400, "BadRequest", f"The request body is not valid JSON: {exc}") from exc
        events = self._validate(request.content_type.lower(), body)
        self.events.setdefault(topic.lower(), []).extend(events)
        log.info("topic %s: %d event(s) published", topic, len(events))
        return web.Response(status=200)

    @staticmethod
    def _validate(content_type: str, body: Any) -> list[dict[str, Any]]:
        if content_type == "application/cloudevents+json":
            events = [body]
            cloud = True
        else:
            if not isinstance(body, list) or not body:
                raise ArmError(
                    400, "BadRequest", "The request body must be a non-empty JSON array of events."
                )
            events = body
            cloud = content_type == "application/cloudevents-batch+json" or (
                isinstance(body[0], dict) and "specversion" in body[0]
            )
        if not cloud and content_type != "application/json":
            raise ArmError(
                415,
                "UnsupportedMediaType",
                f"Content type '{content_type}' is not supported; use application/cloudevents-batch+json, "
                "application/cloudevents+json or application/json.",
            )
        check = missing_cloud_event_fields if cloud else missing_event_grid_fields
        for index, event in enumerate(events):
            missing = check(event)
            if missing:
                schema = "CloudEvent" if cloud else "Event Grid event"
                raise ArmError(
                    400,
                    "BadRequest",
                    f"{schema} at index {index} is missing required field(s): {', '.join(missing)}.",
                )
        return list(events)
