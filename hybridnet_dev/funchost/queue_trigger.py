"""Azure Storage queue triggers and queue output bindings, as the host's Storage extension (v5) runs
them, against Azurite or a real account:

- Output bindings (any trigger type): after a successful invocation, each value set on a `queue` output
  is sent (a list: one message per item), encoded per `messageEncoding`; the queue is created when
  missing; the host's own queue triggers on that queue are woken at once. A failed invocation sends
  nothing; a failed send fails the invocation.
- Queue triggers: one poller per function; batches of `batchSize`, a new batch when in-flight messages
  drop to `newBatchThreshold`; empty polls back off exponentially from 100 ms up to
  `maxPollingInterval`. Success deletes the message; failure makes it visible again after
  `visibilityTimeout`, or, once its dequeue count reached `maxDequeueCount`, moves it to
  `<queue>-poison` (same message text) and deletes it. A message that does not decode (base64
  expected) is moved to the poison queue at once, as the v5 extension does.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.functions import meta
from azure.functions.queue import QueueMessageInConverter
from azure.storage.queue import QueueMessage as SdkMessage
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from hybridnet_dev.funchost.dispatch import TriggerPlugin
from hybridnet_dev.funchost.errors import FunctionHostError
from hybridnet_dev.funchost.invoke import OutputRecord
from hybridnet_dev.funchost.loader import FunctionSpec
from hybridnet_dev.funchost.storage_queues import (
    MIN_POLLING_INTERVAL,
    MessageDecodingError,
    QueueOptions,
    decode_message,
    encode_message,
    output_messages,
    resolve_connection,
    resolve_queue_name,
)

log = logging.getLogger("hybridnet_dev.funchost.queue")

# The host receives with a 10-minute visibility timeout (the message stays hidden while it runs).
RECEIVE_VISIBILITY_SECONDS = 600
STOP_GRACE_SECONDS = 5.0
ERROR_BACKOFF = dt.timedelta(seconds=1)


@dataclass(frozen=True)
class QueueTarget:
    connection: str
    queue: str


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def queue_message(
    *,
    body: str | bytes,
    id: str | None,
    dequeue_count: int,
    insertion_time: dt.datetime | None = None,
    expiration_time: dt.datetime | None = None,
    next_visible_time: dt.datetime | None = None,
    pop_receipt: str | None = None,
) -> Any:
    """A `func.QueueMessage` built by the library's converter from the data and trigger metadata the
    host sends the worker."""
    metadata: dict[str, meta.Datum] = {"DequeueCount": meta.Datum(type="int", value=dequeue_count)}
    for key, value in (
        ("Id", id),
        ("PopReceipt", pop_receipt),
        ("InsertionTime", _iso(insertion_time)),
        ("ExpirationTime", _iso(expiration_time)),
        ("NextVisibleTime", _iso(next_visible_time)),
    ):
        if value is not None:
            metadata[key] = meta.Datum(type="string", value=value)
    datum = meta.Datum(type="string" if isinstance(body, str) else "bytes", value=body)
    return QueueMessageInConverter.decode(datum, trigger_metadata=metadata)


class QueueTriggerPlugin(TriggerPlugin):
    trigger_type: ClassVar[str] = "queueTrigger"

    def validate(self) -> None:
        self.options = QueueOptions.from_host_json(self.host.config.host_json)
        self.triggers: dict[str, QueueTarget] = {}
        self.outputs: dict[tuple[str, str], QueueTarget | None] = {}
        self._services: dict[str, QueueServiceClient] = {}
        self._pollers: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Task[None]] = set()
        self._wake: dict[QueueTarget, asyncio.Event] = {}
        self._running = False
        for fn in self.functions:
            what = f"function '{fn.name}' (queueTrigger)"
            self.triggers[fn.name] = QueueTarget(
                resolve_connection(fn.trigger.raw.get("connection"), what=what),
                resolve_queue_name(fn.trigger.raw.get("queueName"), what=what),
            )
        for fn in self.host.functions:
            for binding in fn.outputs:
                if binding.type != "queue":
                    continue
                what = f"function '{fn.name}', queue output '{binding.name}'"
                try:
                    target: QueueTarget | None = QueueTarget(
                        resolve_connection(binding.raw.get("connection"), what=what),
                        resolve_queue_name(binding.raw.get("queueName"), what=what),
                    )
                except FunctionHostError as exc:
                    # Not fatal (HTTP-only apps run without storage): the values are still recorded
                    # (LocalHost.outputs, output_sink) but not sent.
                    log.error("%s; its values will be recorded but NOT sent to a queue", exc)
                    target = None
                self.outputs[(fn.name, binding.name)] = target

    # --- clients ---------------------------------------------------------------------------------

    def _service(self, connection: str) -> QueueServiceClient:
        service = self._services.get(connection)
        if service is None:
            # No message encode/decode policy: the host side handles the raw message text itself.
            service = QueueServiceClient.from_connection_string(connection)
            self._services[connection] = service
        return service

    def _queue(self, target: QueueTarget) -> QueueClient:
        return self._service(target.connection).get_queue_client(target.queue)

    def _wake_event(self, target: QueueTarget) -> asyncio.Event:
        return self._wake.setdefault(target, asyncio.Event())

    @staticmethod
    async def _send(queue: QueueClient, text: str) -> None:
        """Add a message, creating the queue when it does not exist (AddMessageAndCreateIfNotExists)."""
        try:
            await queue.send_message(text)
        except ResourceNotFoundError:
            with contextlib.suppress(ResourceExistsError):
                await queue.create_queue()
            await queue.send_message(text)

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._running = True
        self.host.invoker.sinks.append(self._output_sink)
        for fn in self.functions:
            target = self.triggers[fn.name]
            log.info("Queue trigger '%s': listening on queue '%s'", fn.name, target.queue)
            self._pollers.append(asyncio.create_task(self._poll(fn, target), name=f"queue:{fn.name}"))

    async def stop(self) -> None:
        if not getattr(self, "_running", False):
            return
        self._running = False
        pollers, self._pollers = self._pollers, []
        for task in pollers:
            task.cancel()
        await asyncio.gather(*pollers, return_exceptions=True)
        inflight = list(self._inflight)
        if inflight:
            log.info("Waiting for %d queue invocation(s) to finish", len(inflight))
            _, pending = await asyncio.wait(inflight, timeout=STOP_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        with contextlib.suppress(ValueError):
            self.host.invoker.sinks.remove(self._output_sink)
        services, self._services = self._services, {}
        for service in services.values():
            with contextlib.suppress(Exception):
                await service.close()

    def manual_trigger_value(self, fn: FunctionSpec, raw_input: str) -> Any:
        """The admin API calls the function directly (nothing is enqueued), as the host does: a message
        that never was in a queue, body = the input text as is, no id, dequeue count 0."""
        return queue_message(body=raw_input, id=None, dequeue_count=0)

    # --- output bindings -------------------------------------------------------------------------

    async def _output_sink(self, record: OutputRecord) -> None:
        if record.binding_type != "queue":
            return
        key = (record.function, record.binding)
        if key not in self.outputs or self.outputs[key] is None:
            return
        target = self.outputs[key]
        assert target is not None
        texts = [encode_message(m, self.options.message_encoding) for m in output_messages(record.value)]
        if self._running:
            queue = self._queue(target)
            for text in texts:
                await self._send(queue, text)
        else:  # a late invocation while the host stops: a short-lived client
            async with QueueClient.from_connection_string(target.connection, target.queue) as queue:
                for text in texts:
                    await self._send(queue, text)
        log.info("Sent %d message(s) to queue '%s'", len(texts), target.queue)
        event = self._wake.get(target)
        if event is not None:
            event.set()

    # --- queue triggers --------------------------------------------------------------------------

    async def _poll(self, fn: FunctionSpec, target: QueueTarget) -> None:
        opts = self.options
        queue = self._queue(target)
        wake = self._wake_event(target)
        mine: set[asyncio.Task[None]] = set()
        delay = MIN_POLLING_INTERVAL
        while True:
            while len(mine) > opts.new_batch_threshold:
                await asyncio.wait(mine, return_when=asyncio.FIRST_COMPLETED)
            wake.clear()
            try:
                batch = [
                    m
                    async for m in queue.receive_messages(
                        messages_per_page=opts.batch_size,
                        max_messages=opts.batch_size,
                        visibility_timeout=RECEIVE_VISIBILITY_SECONDS,
                    )
                ]
            except ResourceNotFoundError:  # the queue does not exist (yet): same as empty
                batch = []
            except AzureError as exc:
                log.warning("Queue trigger '%s': polling '%s' failed: %s", fn.name, target.queue, exc)
                batch = []
                delay = max(delay, ERROR_BACKOFF)
            if batch:
                delay = MIN_POLLING_INTERVAL
                for message in batch:
                    task = asyncio.create_task(self._process(fn, target, queue, message))
                    for group in (mine, self._inflight):
                        group.add(task)
                        task.add_done_callback(group.discard)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), delay.total_seconds())
            if wake.is_set():
                delay = MIN_POLLING_INTERVAL
            else:
                delay = min(delay * 2, opts.max_polling_interval)

    async def _process(
        self, fn: FunctionSpec, target: QueueTarget, queue: QueueClient, msg: SdkMessage
    ) -> None:
        opts = self.options
        try:
            if msg.dequeue_count > opts.max_dequeue_count:
                await self._poison(target, queue, msg)
                return
            try:
                body = decode_message(str(msg.content or ""), opts.message_encoding)
            except MessageDecodingError:
                log.error(
                    "Message decoding has failed! Check MessageEncoding settings (host.json "
                    "extensions.queues.messageEncoding is %s). MessageId=%s",
                    opts.message_encoding,
                    msg.id,
                )
                await self._poison(target, queue, msg)
                return
            value = queue_message(
                body=body,
                id=msg.id,
                dequeue_count=msg.dequeue_count,
                insertion_time=msg.inserted_on,
                expiration_time=msg.expires_on,
                next_visible_time=msg.next_visible_on,
                pop_receipt=msg.pop_receipt,
            )
            try:
                await self.host.invoker.invoke(fn, value)
                succeeded = True
            except Exception:  # logged by the invoker
                succeeded = False
            if succeeded:
                await queue.delete_message(msg.id, msg.pop_receipt)
            elif msg.dequeue_count >= opts.max_dequeue_count:
                await self._poison(target, queue, msg)
            else:
                await self._release(queue, msg, opts.visibility_timeout)
        except asyncio.CancelledError:
            # The host stops while the function still runs: make the message visible again.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._release(queue, msg, dt.timedelta(0)), 2.0)
            raise
        except AzureError as exc:
            log.error("Queue trigger '%s': completing message %s failed: %s", fn.name, msg.id, exc)

    @staticmethod
    async def _release(queue: QueueClient, msg: SdkMessage, visibility: dt.timedelta) -> None:
        await queue.update_message(
            msg.id, msg.pop_receipt, visibility_timeout=int(visibility.total_seconds())
        )

    async def _poison(self, target: QueueTarget, queue: QueueClient, msg: SdkMessage) -> None:
        poison = self._queue(QueueTarget(target.connection, f"{target.queue}-poison"))
        log.warning(
            "Message has reached MaxDequeueCount of %d. Moving message to queue '%s'.",
            self.options.max_dequeue_count,
            poison.queue_name,
        )
        await self._send(poison, str(msg.content or ""))
        await queue.delete_message(msg.id, msg.pop_receipt)
