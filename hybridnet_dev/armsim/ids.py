"""ARM resource ids of the Microsoft.Network types the simulator serves, and ARM-shaped errors."""

from __future__ import annotations

from dataclasses import dataclass

PROVIDER = "Microsoft.Network"

# lower-case URL segment -> canonical type segment
TYPES: dict[str, str] = {
    t.lower(): t
    for t in (
        "virtualNetworks",
        "publicIPAddresses",
        "virtualNetworkGateways",
        "localNetworkGateways",
        "connections",
        "expressRouteCircuits",
        "loadBalancers",
        "networkSecurityGroups",
    )
}
CHILD_TYPES: dict[str, dict[str, str]] = {"virtualNetworks": {"subnets": "subnets"}}


class ArmError(Exception):
    """An error answered in ARM's shape: ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, object]:
        return {"error": {"code": self.code, "message": self.message}}


@dataclass(frozen=True)
class ResourceId:
    """A top-level resource (``type``/``name``) or one child (``child_type``/``child_name``)."""

    subscription: str
    resource_group: str
    type: str
    name: str
    child_type: str | None = None
    child_name: str | None = None

    @classmethod
    def parse(cls, rid: str) -> ResourceId:
        parts = [p for p in rid.strip("/").split("/") if p]
        if (
            len(parts) not in (8, 10)
            or parts[0].lower() != "subscriptions"
            or parts[2].lower() != "resourcegroups"
            or parts[4].lower() != "providers"
            or parts[5].lower() != PROVIDER.lower()
            or parts[6].lower() not in TYPES
        ):
            raise ArmError(400, "InvalidResourceId", f"'{rid}' is not a valid {PROVIDER} resource id.")
        rtype = TYPES[parts[6].lower()]
        if len(parts) == 8:
            return cls(parts[1], parts[3], rtype, parts[7])
        children = CHILD_TYPES.get(rtype, {})
        if parts[8].lower() not in children:
            raise ArmError(400, "InvalidResourceId", f"'{rid}' is not a valid {PROVIDER} resource id.")
        return cls(parts[1], parts[3], rtype, parts[7], children[parts[8].lower()], parts[9])

    @property
    def parent(self) -> ResourceId:
        return ResourceId(self.subscription, self.resource_group, self.type, self.name)

    @property
    def is_child(self) -> bool:
        return self.child_type is not None

    @property
    def arm_type(self) -> str:
        base = f"{PROVIDER}/{self.type}"
        return f"{base}/{self.child_type}" if self.child_type else base

    @property
    def key(self) -> str:
        return str(self).lower()

    def __str__(self) -> str:
        base = (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/{PROVIDER}/{self.type}/{self.name}"
        )
        return f"{base}/{self.child_type}/{self.child_name}" if self.child_type else base

    def not_found(self) -> ArmError:
        what = f"{PROVIDER}/{self.type}/{self.name}"
        if self.child_type:
            what += f"/{self.child_type}/{self.child_name}"
        return ArmError(
            404,
            "ResourceNotFound",
            f"The Resource '{what}' under resource group '{self.resource_group}' was not found.",
        )


def same_id(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.strip("/").lower() == b.strip("/").lower()
