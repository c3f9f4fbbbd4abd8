"""Event Grid push delivery of resource events to webhook subscriptions, with its real quirks.

A subscription is registered only after the endpoint passes the validation handshake
(EventGridSchema: a ``SubscriptionValidationEvent`` answered with ``{"validationResponse": code}``;
CloudEvents: the ``OPTIONS`` abuse-protection request answered with ``WebHook-Allowed-Origin``).

Delivery is asynchronous (never inside the ARM request), batched up to ``maxEventsPerBatch``, at least
once (``duplicate`` sends every batch twice), optionally out of order (``shuffle``), retried on a
non-2xx answer or a timeout on a scaled-down schedule (``retryDelays``, default 0.1 s, 0.3 s, 1 s, 3 s;
Azure uses 10 s, 30 s, 1 min, 5 min ...) and dead-lettered after ``maxDeliveryAttempts`` (default 5).
400, 403 and 413 answers are dead-lettered at once, as Event Grid does. Every attempt is recorded in
the deliveries log (``GET /_sim/eventgrid/deliveries``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from hybridnet_dev.armsim import eventfilters
from hybridnet_dev.armsim.armevents import Change, cloud_event, event_grid_event, now_iso, validation_event
from hybridnet_dev.armsim.ids import ArmError
from hybridnet_dev.armsim.topics import missing_cloud_event_fields, missing_event_grid_fields

log = logging.getLogger("hybridnet_dev.armsim.eventgrid")

EVENT_GRID_SCHEMA = "EventGridSchema"
CLOUD_EVENT_SCHEMA = "CloudEventSchemaV1_0"
SCHEMAS = (EVENT_GRID_SCHEMA, CLOUD_EVENT_SCHEMA)
NO_RETRY = (400, 403, 413)
DEFAULT_RETRY_DELAYS = (0.1, 0.3, 1.0, 3.0)
HANDSHAKE_ORIGIN = "eventgrid.azure.net"


def invalid_event(event: Any, schema: str) -> str:
    """What makes an event undeliverable in its schema ('' when valid): a CloudEvent needs specversion
    1.0, id, source and type (CloudEvents 1.0 required attributes); an Event Grid event its required
    fields (the same rules the topics apply to what is published)."""
    missing = (
        missing_cloud_event_fields(event)
        if schema == CLOUD_EVENT_SCHEMA
        else missing_event_grid_fields(event)
    )
    return f"missing or invalid: {', '.join(missing)}" if missing else ""


def redact(endpoint: str) -> str:
    """The endpoint without secrets in its query (a Functions ``code=`` key)."""
    parts = urllib.parse.urlsplit(endpoint)
    query = [
        (k, "***" if k.lower() in ("code", "sig", "key") else v)
        for k, v in urllib.parse.parse_qsl(parts.query)
    ]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query, safe="*")))


def _bool(spec: dict[str, Any], key: str) -> bool:
    value = spec.get(key, False)
    if not isinstance(value, bool):
        raise ArmError(400, "InvalidSubscription", f"'{key}' must be a boolean.")
    return value


def _number(spec: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ArmError(400, "InvalidSubscription", f"'{key}' must be a number from {low} to {high}.")
    return float(value)


@dataclass
class Subscription:
    id: str
    endpoint: str
    schema: str = EVENT_GRID_SCHEMA
    included_event_types: tuple[str, ...] | None = None
    subject_begins_with: str = ""
    subject_ends_with: str = ""
    resource_group: str | None = None
    max_events_per_batch: int = 1
    duplicate: bool = False
    shuffle: bool = False
    double_writes: bool = False
    claims_as_string: bool = False
    max_attempts: int = 5
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
    timeout: float = 30.0
    batch_window: float = 0.02
    advanced_filters: list[dict[str, Any]] = field(default_factory=list)
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None

    @classmethod
    def from_spec(cls, spec: Any) -> Subscription:
        if not isinstance(spec, dict):
            raise ArmError(400, "InvalidSubscription", "The body must be a JSON object.")
        endpoint = spec.get("endpoint")
        if not isinstance(endpoint, str) or urllib.parse.urlsplit(endpoint).scheme not in ("http", "https"):
            raise ArmError(400, "InvalidSubscription", "'endpoint' must be an http(s) URL.")
        schema = spec.get("schema", EVENT_GRID_SCHEMA)
        if schema not in SCHEMAS:
            raise ArmError(400, "InvalidSubscription", f"'schema' must be one of {', '.join(SCHEMAS)}.")
        types = spec.get("includedEventTypes")
        if types is not None and (not isinstance(types, list) or not all(isinstance(t, str) for t in types)):
            raise ArmError(400, "InvalidSubscription", "'includedEventTypes' must be a list of strings.")
        for key in ("subjectBeginsWith", "subjectEndsWith", "resourceGroup"):
            if spec.get(key) is not None and not isinstance(spec[key], str):
                raise ArmError(400, "InvalidSubscription", f"'{key}' must be a string.")
        delays = spec.get("retryDelays", list(DEFAULT_RETRY_DELAYS))
        if (
            not isinstance(delays, list)
            or not delays
            or not all(
                isinstance(d, int | float) and not isinstance(d, bool) and 0 <= d <= 60 for d in delays
            )
        ):
            raise ArmError(
                400, "InvalidSubscription", "'retryDelays' must be a non-empty list of seconds (0-60)."
            )
        return cls(
            id=str(uuid.uuid4()),
            endpoint=endpoint,
            schema=schema,
            included_event_types=tuple(types) if types else None,
            subject_begins_with=spec.get("subjectBeginsWith") or "",
            subject_ends_with=spec.get("subjectEndsWith") or "",
            resource_group=spec.get("resourceGroup"),
            max_events_per_batch=int(_number(spec, "maxEventsPerBatch", 1, 1, 5000)),
            duplicate=_bool(spec, "duplicate"),
            shuffle=_bool(spec, "shuffle"),
            double_writes=_bool(spec, "doubleWrites"),
            claims_as_string=_bool(spec, "claimsAsString"),
            max_attempts=int(_number(spec, "maxDeliveryAttempts", 5, 1, 30)),
            retry_delays=tuple(float(d) for d in delays),
            timeout=_number(spec, "timeoutSeconds", 30.0, 0.01, 300),
            batch_window=_number(spec, "batchWindowMs", 20, 0, 5000) / 1000,
            advanced_filters=eventfilters.validate(spec.get("advancedFilters")),
        )

    def wants(self, change: Change) -> bool:
        if change.early and not self.double_writes:
            return False
        if self.included_event_types is not None and change.event_type.lower() not in {
            t.lower() for t in self.included_event_types
        }:
            return False
        subject = change.resource_uri.lower()
        if not subject.startswith(self.subject_begins_with.lower()):
            return False
        if not subject.endswith(self.subject_ends_with.lower()):
            return False
        rg = change.resource_group
        return self.resource_group is None or (rg is not None and rg.lower() == self.resource_group.lower())

    def shape(self, change: Change) -> dict[str, Any]:
        event = event_grid_event(change)
        if self.claims_as_string:
            event["data"]["claims"] = json.dumps(event["data"]["claims"])
        return cloud_event(event) if self.schema == CLOUD_EVENT_SCHEMA else event

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "endpoint": redact(self.endpoint),
            "schema": self.schema,
            "includedEventTypes": list(self.included_event_types) if self.included_event_types else None,
            "subjectBeginsWith": self.subject_begins_with,
            "subjectEndsWith": self.subject_ends_with,
            "resourceGroup": self.resource_group,
            "maxEventsPerBatch": self.max_events_per_batch,
            "duplicate": self.duplicate,
            "shuffle": self.shuffle,
            "doubleWrites": self.double_writes,
            "claimsAsString": self.claims_as_string,
            "maxDeliveryAttempts": self.max_attempts,
            "retryDelays": list(self.retry_delays),
            "timeoutSeconds": self.timeout,
            "advancedFilters": self.advanced_filters,
        }


class EventGrid:
    """The subscriptions and the delivery workers; lives on the simulator's event loop."""

    def __init__(self, subscription_id: str) -> None:
        self.subscription_id = subscription_id
        self.subscriptions: dict[str, Subscription] = {}
        self.deliveries: list[dict[str, Any]] = []
        self.rejected: list[dict[str, Any]] = []  # events that were never delivered because invalid
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- lifecycle ----------------------------------------------------------------------------------
    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        await self.clear()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- subscriptions ------------------------------------------------------------------------------
    async def subscribe(self, spec: Any) -> Subscription:
        sub = Subscription.from_spec(spec)
        reason = await self._handshake(sub)
        if reason is not None:
            raise ArmError(
                400,
                "SubscriptionValidationFailed",
                f"Webhook validation handshake failed for {redact(sub.endpoint)}: {reason}",
            )
        sub.task = asyncio.get_running_loop().create_task(self._worker(sub))
        self.subscriptions[sub.id] = sub
        log.info("event subscription %s -> %s (%s)", sub.id, redact(sub.endpoint), sub.schema)
        return sub

    async def clear(self) -> None:
        subs = list(self.subscriptions.values())
        self.subscriptions.clear()
        for sub in subs:
            if sub.task is not None:
                sub.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sub.task

    async def _handshake(self, sub: Subscription) -> str | None:
        timeout = aiohttp.ClientTimeout(total=min(sub.timeout, 30.0))
        try:
            if sub.schema == CLOUD_EVENT_SCHEMA:
                headers = {"WebHook-Request-Origin": HANDSHAKE_ORIGIN, "WebHook-Request-Rate": "120"}
                async with self._http().options(sub.endpoint, headers=headers, timeout=timeout) as resp:
                    allowed = resp.headers.get("WebHook-Allowed-Origin", "")
                    if resp.status != 200:
                        return f"OPTIONS answered {resp.status}"
                    if allowed not in (HANDSHAKE_ORIGIN, "*"):
                        return f"WebHook-Allowed-Origin was {allowed!r}, expected {HANDSHAKE_ORIGIN!r}"
                    return None
            code = secrets.token_hex(16).upper()
            topic = f"/subscriptions/{self.subscription_id}" + (
                f"/resourceGroups/{sub.resource_group}" if sub.resource_group else ""
            )
            headers = {"aeg-event-type": "SubscriptionValidation", "Content-Type": "application/json"}
            body = json.dumps([validation_event(topic, code)])
            async with self._http().post(sub.endpoint, data=body, headers=headers, timeout=timeout) as resp:
                if resp.status != 200:
                    return f"the validation event was answered {resp.status}"
                try:
                    answer = json.loads(await resp.read())
                except ValueError:
                    return "the answer to the validation event is not JSON"
                if not isinstance(answer, dict) or answer.get("validationResponse") != code:
                    return "the answer did not carry the validationCode as validationResponse"
                return None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}"

    # --- publishing ---------------------------------------------------------------------------------
    def publish(self, change: Change) -> None:
        """Queue a change for every matching subscription; safe from any thread, never blocks."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._enqueue(change)
        else:
            loop.call_soon_threadsafe(self._enqueue, change)

    def _enqueue(self, change: Change) -> None:
        for sub in list(self.subscriptions.values()):
            if not sub.wants(change):
                continue
            event = sub.shape(change)
            if not eventfilters.matches(event, sub.advanced_filters):
                continue  # dropped at the source, as the deployed subscription's advanced filters do
            problems = invalid_event(event, sub.schema)
            if problems:  # Event Grid never delivers what it would not accept
                log.warning("not delivering an invalid event to %s: %s", redact(sub.endpoint), problems)
                self.rejected.append({"subscriptionId": sub.id, "problems": problems, "time": now_iso()})
                continue
            sub.queue.put_nowait(event)

    async def _worker(self, sub: Subscription) -> None:
        while True:
            pending = [await sub.queue.get()]
            if sub.batch_window:
                await asyncio.sleep(sub.batch_window)
            while not sub.queue.empty():
                pending.append(sub.queue.get_nowait())
            if sub.shuffle:
                random.shuffle(pending)
            size = sub.max_events_per_batch
            for start in range(0, len(pending), size):
                task = asyncio.get_running_loop().create_task(
                    self._deliver(sub, pending[start : start + size])
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                if sub.shuffle:
                    await asyncio.sleep(random.uniform(0, 0.01))

    async def _deliver(self, sub: Subscription, batch: list[dict[str, Any]]) -> None:
        for copy in range(2 if sub.duplicate else 1):
            attempt = 0
            while True:
                attempt += 1
                status, error = await self._post(sub, batch, attempt - 1)
                ok = 200 <= status < 300
                final = ok or status in NO_RETRY or attempt >= sub.max_attempts
                outcome = "delivered" if ok else ("deadLettered" if final else "retrying")
                self._record(sub, batch, attempt, status, outcome, error, copy > 0)
                if final:
                    break
                await asyncio.sleep(sub.retry_delays[min(attempt - 1, len(sub.retry_delays) - 1)])

    async def _post(
        self, sub: Subscription, batch: list[dict[str, Any]], delivery_count: int
    ) -> tuple[int, str | None]:
        headers = {
            "aeg-event-type": "Notification",
            "aeg-subscription-name": sub.id.upper(),
            "aeg-delivery-count": str(delivery_count),
            "aeg-metadata-version": "1",
        }
        if sub.schema == CLOUD_EVENT_SCHEMA:
            single = sub.max_events_per_batch == 1 and len(batch) == 1
            payload: Any = batch[0] if single else batch
            headers["Content-Type"] = (
                "application/cloudevents+json; charset=utf-8"
                if single
                else "application/cloudevents-batch+json; charset=utf-8"
            )
        else:
            payload = batch
            headers["Content-Type"] = "application/json; charset=utf-8"
            headers["aeg-data-version"] = str(batch[0].get("dataVersion", ""))
        try:
            async with self._http().post(
                sub.endpoint,
                data=json.dumps(payload),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=sub.timeout),
            ) as resp:
                await resp.read()
                return resp.status, None
        except TimeoutError:
            return 0, f"no answer within {sub.timeout:g} s"
        except aiohttp.ClientError as exc:
            return 0, f"{type(exc).__name__}: {exc}"

    def _record(
        self,
        sub: Subscription,
        batch: list[dict[str, Any]],
        attempt: int,
        status: int,
        outcome: str,
        error: str | None,
        duplicate: bool,
    ) -> None:
        for event in batch:
            entry: dict[str, Any] = {
                "subscriptionId": sub.id,
                "endpoint": redact(sub.endpoint),
                "schema": sub.schema,
                "eventId": event["id"],
                "eventType": event.get("eventType") or event.get("type"),
                "subject": event.get("subject"),
                "attempt": attempt,
                "status": status,
                "outcome": outcome,
                "batchSize": len(batch),
                "duplicate": duplicate,
                "time": now_iso(),
                "event": event,
            }
            if error:
                entry["error"] = error
            self.deliveries.append(entry)
        log.info("delivered %d event(s) to %s: %s (%s)", len(batch), redact(sub.endpoint), status, outcome)
