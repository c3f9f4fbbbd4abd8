"""Which site an Azure Resource Manager event concerns, and whether it should trigger a reconcile.
Pure: takes the event's fields as plain data (Event Grid or CloudEvents schema, already decoded)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import BadRequest
from shared.spec import Site

HANDLED_TYPES = frozenset(
    {
        "Microsoft.Resources.ResourceWriteSuccess",
        "Microsoft.Resources.ResourceDeleteSuccess",
        "Microsoft.Resources.ResourceActionSuccess",
    }
)
OBJECT_ID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"
MAX_EVENT_ID_CHARS = 1024


class InvalidEvent(BadRequest):
    """The event cannot be handled at all (no id: redeliveries could not be recognised)."""

    code = "InvalidEvent"


def require_event_id(event_id: object, *, event_type: object = None, subject: object = None) -> str:
    """The event's id as a non-empty string, or InvalidEvent naming the event."""
    if isinstance(event_id, str) and event_id.strip() and len(event_id) <= MAX_EVENT_ID_CHARS:
        return event_id
    if event_id is None:
        what = "no id"
    elif not isinstance(event_id, str):
        what = f"a non-string id ({type(event_id).__name__})"
    elif not event_id.strip():
        what = "an empty id"
    else:
        what = f"an id of {len(event_id)} characters (at most {MAX_EVENT_ID_CHARS})"
    raise InvalidEvent(
        f"Event Grid event with {what} rejected (type {event_type or '(none)'}, subject "
        f"{subject or '(none)'}): the id is what recognises redeliveries, so it is neither recorded nor acted on"
    )


@dataclass(frozen=True)
class EventDecision:
    """`site` is set when a reconcile of that site should be queued; otherwise `ignored` says why."""

    event_id: str
    site: str | None
    ignored: str | None = None


def _claims(data: Mapping[str, Any]) -> Mapping[str, Any]:
    claims = data.get("claims")
    if isinstance(claims, str):  # seen as a JSON string as well as an object
        try:
            claims = json.loads(claims)
        except ValueError:
            return {}
    return claims if isinstance(claims, Mapping) else {}


def caller_ids(data: Mapping[str, Any]) -> set[str]:
    """Every identity the event names as the caller: claims oid/appid, and the role evidence's principal."""
    claims = _claims(data)
    ids = {str(claims.get(k, "")) for k in (OBJECT_ID_CLAIM, "oid", "appid")}
    authorization = data.get("authorization")
    if isinstance(authorization, str):
        try:
            authorization = json.loads(authorization)
        except ValueError:
            authorization = {}
    if isinstance(authorization, Mapping):
        evidence = authorization.get("evidence")
        if isinstance(evidence, Mapping):
            ids.add(str(evidence.get("principalId", "")))
    return {i.lower() for i in ids if i}


def site_for_resource(resource_id: str, sites: Iterable[Site]) -> Site | None:
    """A Microsoft.Network resource in a site's resource group belongs to that site."""
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    try:
        rg = lowered[lowered.index("resourcegroups") + 1]
        provider = lowered[lowered.index("providers") + 1]
    except (ValueError, IndexError):
        return None
    if provider != "microsoft.network":
        return None
    for site in sites:
        if site.resource_group.lower() == rg:
            return site
    return None


def decide(
    *,
    event_id: object,
    event_type: str,
    subject: str,
    data: Mapping[str, Any],
    sites: Iterable[Site],
    own_principal_ids: Iterable[str],
) -> EventDecision:
    """Raises InvalidEvent for an event without a usable id (checked before anything else)."""
    event_id = require_event_id(event_id, event_type=event_type, subject=subject)
    if event_type not in HANDLED_TYPES:
        return EventDecision(event_id, None, f"event type {event_type} is not handled")
    resource_id = str(data.get("resourceUri") or subject or "")
    site = site_for_resource(resource_id, sites)
    if site is None:
        return EventDecision(event_id, None, "resource is outside every site's scope")
    own = {p.lower() for p in own_principal_ids if p}
    if own & caller_ids(data):
        return EventDecision(event_id, None, "caused by hybridnet's own identity (loop prevention)")
    return EventDecision(event_id, site.name)
