"""Publishing failover transitions as CloudEvents to an Event Grid topic (azure-eventgrid)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from shared.azure import clients
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.eventgrid import EventGridPublisherClient

log = logging.getLogger(__name__)

SOURCE = "/hybridnet/failover"
TYPE_PREFIX = "Hybridnet.Failover."


def event_type(kind: str) -> str:
    """ "failover" -> "Hybridnet.Failover.Failover", "backup-lost" -> "Hybridnet.Failover.BackupLost"."""
    return TYPE_PREFIX + "".join(part.capitalize() for part in kind.split("-"))


class _DropKnownSdkNoise(logging.Filter):
    """azure-eventgrid 4.22 also hands the per-call transport options below to its CloudEvent model,
    which logs a warning for each option on every send: noise, since the pipeline does use them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "is not a known attribute of class" not in record.getMessage()


for _name in ("azure.eventgrid._legacy._generated._serialization", "azure.eventgrid._serialization"):
    logging.getLogger(_name).addFilter(_DropKnownSdkNoise())


def _client(endpoint: str, key: str) -> EventGridPublisherClient:
    return clients.event_grid_publisher(endpoint, key)


def _per_call_options(settings: Settings) -> dict[str, Any]:
    """azure-eventgrid 4.22 builds its Event Grid Basic client without the constructor's keyword
    arguments (connection_verify, retry and timeout options are dropped), so they are given per call,
    where azure-core's pipeline honours them."""
    return clients.event_grid_send_options(
        ca_bundle=settings.arm_ca_bundle, call_timeout=settings.arm_call_timeout
    )


def cloud_event(event: dict[str, Any]) -> dict[str, Any]:
    """The CloudEvents 1.0 JSON form of a recorded event. A dict rather than azure.core's CloudEvent:
    the SDK passes per-call options into CloudEvent conversion (logging a warning for each); a dict is
    sent as it is."""
    return {
        "specversion": "1.0",
        "id": event["eventId"],  # stable: subscribers can deduplicate on it
        "source": f"{SOURCE}/sites/{event['site']}",
        "type": event_type(event["kind"]),
        "subject": event["site"],
        "time": event["detectedAt"],
        "datacontenttype": "application/json",
        "data": event,
    }


def publish(settings: Settings, event: dict[str, Any], *, what: str) -> bool:
    """Publish one CloudEvent (JSON form) when a topic is configured. Never raises: the table row is the
    record; a lost notification is logged (naming `what`, never the payload). True when published."""
    if not settings.events_topic_endpoint or not settings.events_topic_key:
        return False
    try:
        # The topic's TLS is checked with the same CA bundle as ARM (locally both are the simulator's).
        client = _client(settings.events_topic_endpoint, settings.events_topic_key)
        client.send([event], **_per_call_options(settings))
    except Exception as exc:  # a notification must never lose the recorded row
        log.error("%s recorded but not published to the topic: %s", what, type(exc).__name__)
        return False
    return True


def publish_failover_event(settings: Settings, event: dict[str, Any]) -> bool:
    """Publish one recorded failover event (the row's JSON)."""
    return publish(
        settings, cloud_event(event), what=f"site {event['site']}: failover event {event['eventId']}"
    )
