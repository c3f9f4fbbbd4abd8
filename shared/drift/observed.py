"""The observed state of a site as plain data: ARM REST bodies (camelCase JSON), no SDK models.

Bodies never contain a shared key: the adapter strips `sharedKey` before anything else sees them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.drift.resources import Kind, id_key


class ObserveFailed(Exception):
    """The site could not be read. The message names the call and the ARM status, nothing more."""


@dataclass(frozen=True)
class ObservedResource:
    kind: Kind
    id: str
    body: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.body.get("name") or self.id.rsplit("/", 1)[-1])

    @property
    def etag(self) -> str | None:
        etag = self.body.get("etag")
        return str(etag) if etag else None

    @property
    def properties(self) -> Mapping[str, Any]:
        return self.body.get("properties") or {}

    @property
    def provisioning_state(self) -> str | None:
        return self.properties.get("provisioningState")


@dataclass(frozen=True)
class ObservedSite:
    """Everything of the managed kinds found in the site's resource group."""

    site: str
    resources: Mapping[str, ObservedResource] = field(default_factory=dict)
    # Kinds whose list was read in full: a desired resource of another kind that is absent here was
    # simply not looked for (public IPs are listed only when a gateway is missing).
    listed_kinds: frozenset[Kind] = frozenset(Kind)

    def get(self, resource_id: str) -> ObservedResource | None:
        return self.resources.get(id_key(resource_id))

    def of_kind(self, kind: Kind) -> list[ObservedResource]:
        return [r for r in self.resources.values() if r.kind is kind]


def observed_site(
    site: str, resources: list[ObservedResource], listed_kinds: frozenset[Kind] = frozenset(Kind)
) -> ObservedSite:
    return ObservedSite(site=site, resources={id_key(r.id): r for r in resources}, listed_kinds=listed_kinds)


def lookup(body: Mapping[str, Any], path: str) -> Any:
    """`lookup(body, "properties.sku.name")`, list indexes as numbers; None where a step is missing."""
    current: Any = body
    for step in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(step)
        elif isinstance(current, list) and step.isdigit() and int(step) < len(current):
            current = current[int(step)]
        else:
            return None
    return current
