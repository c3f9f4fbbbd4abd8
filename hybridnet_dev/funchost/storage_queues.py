"""Azure Storage queues as the Functions host's Storage extension (v5) sees them: the `connection` app
setting, `extensions.queues` options from host.json, queue names and message encoding. The host side
talks to the queues with `azure-storage-queue` (dev only; the product uses bindings)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azure.functions.queue import QueueMessageOutConverter

from hybridnet_dev.funchost.config import resolve_placeholders
from hybridnet_dev.funchost.errors import FunctionHostError

DEFAULT_CONNECTION = "AzureWebJobsStorage"
# `UseDevelopmentStorage=true` means the emulator on its default ports (as the SDKs expand it).
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DEV_CONNECTION_STRING = (
    f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
    f"QueueEndpoint=http://127.0.0.1:10001/{DEV_ACCOUNT};"
)
# The real host's default maxPollingInterval is 1 minute; locally an idle queue is re-polled at least
# every 2 s unless host.json sets maxPollingInterval explicitly.
LOCAL_MAX_POLLING_INTERVAL = dt.timedelta(seconds=2)
MIN_POLLING_INTERVAL = dt.timedelta(milliseconds=100)
HOST_OVERRIDE_PREFIX = "AzureFunctionsJobHost__extensions__queues__"
_QUEUE_NAME = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?$")


def parse_timespan(value: Any, *, what: str) -> dt.timedelta:
    """A host.json TimeSpan: `hh:mm:ss[.fffffff]` or `d.hh:mm:ss`; a bare number is milliseconds."""
    if isinstance(value, bool):
        raise FunctionHostError(f"{what}: expected a TimeSpan like '00:00:02', got {value!r}")
    if isinstance(value, int | float):
        return dt.timedelta(milliseconds=value)
    match = _TIMESPAN.match(str(value).strip())
    if not match:
        raise FunctionHostError(f"{what}: expected a TimeSpan like '00:00:02', got {value!r}")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups()[:4])
    fraction = float(f"0.{match.group(5)}") if match.group(5) else 0.0
    return dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds + fraction)


@dataclass(frozen=True)
class QueueOptions:
    """`extensions.queues` in host.json, with the host's defaults (except maxPollingInterval: see
    LOCAL_MAX_POLLING_INTERVAL). `AzureFunctionsJobHost__extensions__queues__<name>` app settings
    override host.json, as in the real host."""

    max_polling_interval: dt.timedelta = LOCAL_MAX_POLLING_INTERVAL
    visibility_timeout: dt.timedelta = dt.timedelta(0)
    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    message_encoding: str = "base64"

    @classmethod
    def from_host_json(
        cls, host_json: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> QueueOptions:
        env = os.environ if environ is None else environ
        section = (host_json.get("extensions") or {}).get("queues") or {}
        if not isinstance(section, dict):
            raise FunctionHostError("host.json: extensions.queues must be an object")
        raw: dict[str, Any] = {str(k).lower(): v for k, v in section.items()}
        for name, value in env.items():
            if name.lower().startswith(HOST_OVERRIDE_PREFIX.lower()):
                raw[name[len(HOST_OVERRIDE_PREFIX) :].lower()] = value
        what = "host.json extensions.queues"

        def integer(key: str, default: int, low: int, high: int) -> int:
            value = raw.get(key.lower(), default)
            try:
                number = int(value)
            except (TypeError, ValueError):
                raise FunctionHostError(f"{what}.{key} must be an integer, got {value!r}") from None
            if not low <= number <= high:
                raise FunctionHostError(f"{what}.{key} must be between {low} and {high}, got {number}")
            return number

        batch_size = integer("batchSize", 16, 1, 32)
        threshold = integer("newBatchThreshold", batch_size // 2, 0, 10_000)
        max_dequeue = integer("maxDequeueCount", 5, 1, 10_000)
        polling = (
            parse_timespan(raw["maxpollinginterval"], what=f"{what}.maxPollingInterval")
            if "maxpollinginterval" in raw
            else LOCAL_MAX_POLLING_INTERVAL
        )
        if polling < MIN_POLLING_INTERVAL:
            raise FunctionHostError(f"{what}.maxPollingInterval must be at least 100 ms")
        visibility = parse_timespan(raw.get("visibilitytimeout", 0), what=f"{what}.visibilityTimeout")
        if visibility < dt.timedelta(0) or visibility > dt.timedelta(days=7):
            raise FunctionHostError(f"{what}.visibilityTimeout must be between 0 and 7 days")
        encoding = str(raw.get("messageencoding", "base64")).lower()
        if encoding not in ("base64", "none"):
            raise FunctionHostError(f"{what}.messageEncoding must be 'base64' or 'none', got {encoding!r}")
        return cls(polling, visibility, batch_size, threshold, max_dequeue, encoding)


def resolve_connection(connection: str | None, *, what: str, environ: Mapping[str, str] | None = None) -> str:
    """The storage connection string named by a binding's `connection` (an app setting; the host also
    tries `AzureWebJobs<name>`; empty means AzureWebJobsStorage). `UseDevelopmentStorage=true` is the
    emulator on its default ports."""
    env = os.environ if environ is None else environ
    name = connection or DEFAULT_CONNECTION
    value = next((env[n] for n in (name, f"AzureWebJobs{name}") if env.get(n)), None)
    if value is None:
        raise FunctionHostError(
            f"{what}: Storage account connection string '{name}' does not exist. Make sure that it is a "
            "defined App Setting (local.settings.json Values or the environment), e.g. Azurite's "
            "connection string with explicit ports"
        )
    if value.strip().rstrip(";").replace(" ", "").lower() == "usedevelopmentstorage=true":
        return DEV_CONNECTION_STRING
    parts = {k.strip().lower(): v for k, _, v in (p.partition("=") for p in value.split(";") if p.strip())}
    if not (parts.get("queueendpoint") or parts.get("accountname")):
        raise FunctionHostError(
            f"{what}: app setting '{name}' is not a storage connection string with a queue endpoint "
            "(identity-based connections are not supported by the local host)"
        )
    return value


def resolve_queue_name(raw: Any, *, what: str) -> str:
    """`%SETTING%` placeholders resolved, lower-cased and validated, as the host does."""
    name = resolve_placeholders(str(raw or ""), what=what).strip().lower()
    if "{" in name:
        raise FunctionHostError(f"{what}: binding expressions in queue names are not supported locally")
    if not _QUEUE_NAME.match(name):
        raise FunctionHostError(
            f"{what}: '{name}' is not a valid queue name (3-63 lowercase letters, digits and single "
            "dashes, starting and ending with a letter or digit)"
        )
    return name


def output_messages(value: Any) -> list[str | bytes]:
    """What the worker sends for a queue output value (through the library's converter), as the
    messages the host enqueues: a str or bytes is one message, a list one message per item; a
    `func.QueueMessage` becomes its JSON ({"id", "body"}), as with the real worker."""
    datum = QueueMessageOutConverter.encode(value, expected_type=None)
    if datum.type in ("string", "bytes"):
        return [datum.value]
    data = json.loads(datum.value)
    items = data if isinstance(data, list) else [data]
    return [item if isinstance(item, str) else json.dumps(item) for item in items]


def encode_message(message: str | bytes, encoding: str) -> str:
    """The queue message text for `messageEncoding` (base64 of the UTF-8 bytes, or the text as is)."""
    data = message.encode("utf-8") if isinstance(message, str) else message
    if encoding == "base64":
        return base64.b64encode(data).decode("ascii")
    return data.decode("utf-8")


class MessageDecodingError(ValueError):
    """A message that is not valid for the configured messageEncoding."""


def decode_message(text: str, encoding: str) -> str | bytes:
    """The body the function sees: str when it is UTF-8 text, else bytes."""
    if encoding == "base64":
        try:
            data = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise MessageDecodingError("the message is not valid base64") from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data
    return text
