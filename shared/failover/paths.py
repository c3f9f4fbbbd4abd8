"""Which path carries on-premises traffic, from the two connections' status."""

from __future__ import annotations

from enum import StrEnum

CONNECTED = "Connected"


class ActivePath(StrEnum):
    EXPRESSROUTE = "expressroute"
    VPN = "vpn"
    NONE = "none"


def active_path(expressroute_status: str | None, vpn_status: str | None) -> ActivePath:
    """Azure prefers ExpressRoute for the same prefix; the VPN carries traffic only when ExpressRoute
    is not connected (the spec's validation keeps VPN prefixes from being more specific)."""
    if expressroute_status == CONNECTED:
        return ActivePath.EXPRESSROUTE
    if vpn_status == CONNECTED:
        return ActivePath.VPN
    return ActivePath.NONE
