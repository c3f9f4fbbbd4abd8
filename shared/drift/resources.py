"""Kinds of managed resources, their ARM ids, and the order they depend on each other in."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    VNET = "virtualNetworks"
    SUBNET = "subnets"
    PUBLIC_IP = "publicIPAddresses"
    GATEWAY = "virtualNetworkGateways"
    LOCAL_GATEWAY = "localNetworkGateways"
    CONNECTION = "connections"
    LOAD_BALANCER = "loadBalancers"


# Lower ranks are created first: public IP before gateway, gateway before connection.
RANK: dict[Kind, int] = {
    Kind.VNET: 0,
    Kind.SUBNET: 1,
    Kind.PUBLIC_IP: 1,
    Kind.LOCAL_GATEWAY: 1,
    Kind.LOAD_BALANCER: 2,
    Kind.GATEWAY: 2,
    Kind.CONNECTION: 3,
}


def arm_id(subscription: str, resource_group: str, kind: Kind, name: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Network/{kind}/{name}"


def subnet_id(subscription: str, resource_group: str, vnet: str, subnet: str) -> str:
    return f"{arm_id(subscription, resource_group, Kind.VNET, vnet)}/subnets/{subnet}"


def id_key(resource_id: str) -> str:
    """ARM ids compare case-insensitively."""
    return resource_id.rstrip("/").lower()


def name_of(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def resource_group_of(resource_id: str) -> str:
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    return parts[lowered.index("resourcegroups") + 1] if "resourcegroups" in lowered else ""
