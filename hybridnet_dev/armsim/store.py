"""The resource store: bodies by resource id, ETags that change on every write, paging, change hooks."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hybridnet_dev.armsim.ids import ResourceId

Body = dict[str, Any]
# Called with (resource id, operation) after every write: "write" or "delete". A later issue delivers
# these as Event Grid events; nothing consumes them yet.
ChangeListener = Callable[[str, str], None]


def new_etag() -> str:
    return f'W/"{uuid.uuid4()}"'


@dataclass
class Record:
    rid: ResourceId
    body: Body

    @property
    def etag(self) -> str:
        return str(self.body.get("etag", ""))


class Store:
    """Top-level resources keyed by lower-case id; child subnets live inside their VNet's body."""

    def __init__(self) -> None:
        self._items: dict[str, Record] = {}
        self.listeners: list[ChangeListener] = []

    def get(self, rid: ResourceId) -> Record | None:
        return self._items.get(rid.parent.key)

    def get_child(self, rid: ResourceId) -> Body | None:
        parent = self.get(rid.parent)
        if parent is None or rid.child_type is None:
            return None
        for child in parent.body.get("properties", {}).get(rid.child_type, []) or []:
            if str(child.get("name", "")).lower() == str(rid.child_name).lower():
                return child
        return None

    def body_of(self, rid: ResourceId) -> Body | None:
        if rid.is_child:
            return self.get_child(rid)
        record = self.get(rid)
        return record.body if record else None

    def put(self, rid: ResourceId, body: Body, *, notify: bool = True) -> Record:
        """Store a top-level body (already shaped by the caller), with a fresh ETag."""
        body["etag"] = new_etag()
        _propagate(body)
        record = Record(rid, body)
        self._items[rid.key] = record
        if notify:
            self._notify(str(rid), "write")
        return record

    def touch(self, rid: ResourceId) -> None:
        """Bump the ETag of a resource (a child bumps its parent) after an in-place change."""
        parent = self.get(rid.parent)
        if parent is not None:
            parent.body["etag"] = new_etag()
            _propagate(parent.body)
        self._notify(str(rid), "write")

    def delete(self, rid: ResourceId) -> bool:
        found = self._items.pop(rid.key, None) is not None
        if found:
            self._notify(str(rid), "delete")
        return found

    def list(
        self, rtype: str, subscription: str | None = None, resource_group: str | None = None
    ) -> list[Record]:
        out = []
        for record in self._items.values():
            rid = record.rid
            if rid.type != rtype:
                continue
            if subscription is not None and rid.subscription.lower() != subscription.lower():
                continue
            if resource_group is not None and rid.resource_group.lower() != resource_group.lower():
                continue
            out.append(record)
        return out

    def all(self) -> list[Record]:
        return list(self._items.values())

    def snapshot(self, rid: ResourceId) -> Body | None:
        body = self.body_of(rid)
        return copy.deepcopy(body) if body is not None else None

    def _notify(self, rid: str, operation: str) -> None:
        for listener in list(self.listeners):
            listener(rid, operation)


def _propagate(body: Body) -> None:
    """Sub-resources carry their parent's ETag (as Azure's network resources do)."""
    for value in (body.get("properties") or {}).values():
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and "etag" in item:
                    item["etag"] = body["etag"]


def page(items: list[Any], skip: int, size: int) -> tuple[list[Any], int | None]:
    """One page of ``items`` from offset ``skip``; the offset of the next page, or None on the last."""
    chunk = items[skip : skip + size]
    nxt = skip + size
    return chunk, (nxt if nxt < len(items) else None)
