"""Which site an Azure Resource Manager event concerns, and whether it should trigger a reconcile.
Pure: takes the event's fields as plain data (Event Grid or CloudEvents schema, already decoded)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.spec import Site

HANDLED_TYPES = frozenset(
    {
        "Microsoft.Resources.ResourceWriteSuccess",
        "Microsoft.Resources.ResourceDeleteSuccess",
        "Microsoft.Resources.ResourceActionSuccess",
    }
)
OBJECT_ID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"


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
    event_id: str,
    event_type: str,
    subject: str,
    data: Mapping[str, Any],
    sites: Iterable[Site],
    own_principal_ids: Iterable[str],
) -> EventDecision:
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
