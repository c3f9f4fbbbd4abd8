"""Host keys and authorization levels, as the Functions host applies them."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web

KEY_HEADER = "x-functions-key"
KEY_QUERY = "code"

ANONYMOUS = "anonymous"
FUNCTION = "function"
ADMIN = "admin"
SYSTEM = "system"  # extension webhooks (eventgrid_extension): the system key or the master key


@dataclass(frozen=True)
class HostKeys:
    """`function_key` plays the default function/host key (valid for every FUNCTION-level function),
    `master_key` the `_master` key, `eventgrid_key` the `eventgrid_extension` system key."""

    function_key: str
    master_key: str
    eventgrid_key: str

    @classmethod
    def create(
        cls,
        function_key: str | None = None,
        master_key: str | None = None,
        eventgrid_key: str | None = None,
    ) -> HostKeys:
        return cls(
            function_key=function_key or secrets.token_urlsafe(32),
            master_key=master_key or secrets.token_urlsafe(32),
            eventgrid_key=eventgrid_key or secrets.token_urlsafe(32),
        )

    def allows(self, level: str, presented: str | None) -> bool:
        """May a request presenting `presented` call something at `level`?"""
        level = normalize_level(level)
        if level == ANONYMOUS:
            return True
        if not presented:
            return False
        if _same(presented, self.master_key):
            return True
        if level == FUNCTION:
            return _same(presented, self.function_key)
        if level == SYSTEM:
            return _same(presented, self.eventgrid_key)
        return False


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def normalize_level(level: Any) -> str:
    """AuthLevel enum / 'FUNCTION' / 'function' -> 'function'; missing -> 'function' (host default)."""
    if level is None or level == "":
        return FUNCTION
    value = getattr(level, "value", level)
    return str(value).lower()


def presented_key(request: web.Request) -> str | None:
    """The key a request carries: the `x-functions-key` header first, else the `code` query parameter."""
    return request.headers.get(KEY_HEADER) or request.query.get(KEY_QUERY) or None


def unauthorized() -> web.Response:
    return web.Response(status=401)
