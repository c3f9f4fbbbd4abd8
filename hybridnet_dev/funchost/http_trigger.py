"""HTTP triggers: `/<routePrefix>/<route>` with ASP.NET-style route templates, methods, auth levels."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any, ClassVar

import azure.functions as func
from aiohttp import web
from azure.functions.http import HttpResponseConverter
from multidict import CIMultiDict

from hybridnet_dev.funchost import keys as auth
from hybridnet_dev.funchost.dispatch import TriggerPlugin
from hybridnet_dev.funchost.errors import FunctionHostError
from hybridnet_dev.funchost.loader import FunctionSpec

log = logging.getLogger("hybridnet_dev.funchost.http")

_TOKEN = re.compile(r"\{([^{}]+)\}")
_CONSTRAINTS: dict[str, str] = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "bool": r"(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])",
    "alpha": r"[A-Za-z]+",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}",
    "decimal": r"-?\d+(?:\.\d+)?",
    "double": r"-?\d+(?:\.\d+)?",
    "float": r"-?\d+(?:\.\d+)?",
}
# literal segment, mixed segment, constrained parameter, parameter, optional parameter, catch-all
_RANK_LITERAL, _RANK_MIXED, _RANK_CONSTRAINED, _RANK_PARAM, _RANK_OPTIONAL, _RANK_CATCHALL = range(6)


@dataclass(frozen=True)
class _Param:
    name: str
    pattern: str
    optional: bool
    default: str | None
    catch_all: bool
    constrained: bool


def _parse_token(token: str, template: str) -> _Param:
    catch_all = token.startswith("*")
    body = token.lstrip("*")
    default: str | None = None
    if "=" in body:
        body, default = body.split("=", 1)
    optional = body.endswith("?") or default is not None
    body = body.rstrip("?")
    name, _, constraint_text = body.partition(":")
    pattern = ".*" if catch_all else "[^/]+"
    constrained = False
    if constraint_text:
        constrained = True
        regex = re.search(r"regex\((.*)\)", constraint_text)
        if regex:
            pattern = f"(?:{regex.group(1).strip('^$')})"
        else:
            for constraint in constraint_text.split(":"):
                if constraint.lower() in _CONSTRAINTS:
                    pattern = _CONSTRAINTS[constraint.lower()]
    if not name or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise FunctionHostError(f"route '{template}': bad route parameter '{{{token}}}'")
    return _Param(name, pattern, optional or catch_all, default, catch_all, constrained)


@dataclass(frozen=True)
class CompiledRoute:
    template: str
    regex: re.Pattern[str]
    groups: dict[str, str]  # regex group -> route parameter name
    defaults: dict[str, str]
    precedence: tuple[int, ...]

    def match(self, path: str) -> dict[str, str] | None:
        """Match a path (no route prefix, leading '/') and return the route parameters present."""
        m = self.regex.fullmatch(path)
        if m is None:
            return None
        params = dict(self.defaults)
        for group, name in self.groups.items():
            value = m.group(group)
            if value is not None and value != "":
                params[name] = value
        return params


def compile_route(template: str) -> CompiledRoute:
    """Compile a Functions route template: literals (case-insensitive), `{p}`, `{p?}`, `{p=default}`,
    `{p:int}`-style constraints (int, long, bool, alpha, guid, decimal, double, float, regex(...)),
    `{*rest}` catch-all, several parameters in one segment (`{a}.{b}`)."""
    parts: list[str] = []
    groups: dict[str, str] = {}
    defaults: dict[str, str] = {}
    precedence: list[int] = []
    segments = [s for s in template.strip("/").split("/") if s != ""]
    for segment in segments:
        tokens = list(_TOKEN.finditer(segment))
        if not tokens:
            parts.append("/" + re.escape(segment))
            precedence.append(_RANK_LITERAL)
            continue
        if len(tokens) == 1 and tokens[0].span() == (0, len(segment)):
            param = _parse_token(tokens[0].group(1), template)
            group = f"g{len(groups)}"
            groups[group] = param.name
            if param.default is not None:
                defaults[param.name] = param.default
            capture = f"(?P<{group}>{param.pattern})"
            parts.append(f"(?:/{capture})?" if param.optional else f"/{capture}")
            precedence.append(
                _RANK_CATCHALL
                if param.catch_all
                else _RANK_OPTIONAL
                if param.optional
                else _RANK_CONSTRAINED
                if param.constrained
                else _RANK_PARAM
            )
            continue
        piece, last = "/", 0
        for token in tokens:
            piece += re.escape(segment[last : token.start()])
            param = _parse_token(token.group(1), template)
            group = f"g{len(groups)}"
            groups[group] = param.name
            pattern = param.pattern if param.constrained else "[^/]+?"
            piece += f"(?P<{group}>{pattern})"
            last = token.end()
        piece += re.escape(segment[last:])
        parts.append(piece)
        precedence.append(_RANK_MIXED)
    regex = re.compile("".join(parts) + "/?", re.IGNORECASE)
    return CompiledRoute(template, regex, groups, defaults, tuple(precedence))


@dataclass(frozen=True)
class HttpRoute:
    function: FunctionSpec
    route: CompiledRoute
    methods: frozenset[str] | None  # None: every method
    auth_level: str


def _response_from(result: Any) -> web.Response:
    """Turn a function's return value into the HTTP response, through the library's converter."""
    if result is None:
        return web.Response(status=204)
    if isinstance(result, bytes):
        result = func.HttpResponse(result, mimetype="application/octet-stream")
    datum = HttpResponseConverter.encode(result, expected_type=None)
    if datum.type == "string":
        return web.Response(status=200, text=datum.value, content_type="text/plain", charset="utf-8")
    value = datum.value
    headers: CIMultiDict[str] = CIMultiDict()
    for name, header in value["headers"].items():
        headers.add(name, header.value)
    for cookie in value.get("cookies") or []:
        if isinstance(cookie, SimpleCookie):
            for morsel in cookie.values():
                headers.add("Set-Cookie", morsel.OutputString())
    body = value["body"].value or b""
    return web.Response(status=int(value["status_code"].value), headers=headers, body=body)


class HttpTriggerPlugin(TriggerPlugin):
    trigger_type: ClassVar[str] = "httpTrigger"

    def validate(self) -> None:
        routes = []
        for fn in self.functions:
            raw = fn.trigger.raw
            template = str(raw.get("route") or fn.name)
            methods = raw.get("methods")
            routes.append(
                HttpRoute(
                    function=fn,
                    route=compile_route(template),
                    methods=frozenset(str(m).upper() for m in methods) if methods else None,
                    auth_level=auth.normalize_level(raw.get("authLevel")),
                )
            )
        self.routes: list[HttpRoute] = sorted(routes, key=lambda r: r.route.precedence)

    @property
    def prefix(self) -> str:
        return self.host.config.route_prefix

    def url_for(self, route: HttpRoute, base_url: str) -> str:
        path = "/".join(p for p in (self.prefix, route.route.template.strip("/")) if p)
        return f"{base_url}/{path}"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self.handle)

    def resolve(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        """The route for a request path (with the prefix) and method, or None (the host answers 404,
        also when the path matches but the method is not allowed)."""
        prefix = f"/{self.prefix}" if self.prefix else ""
        if prefix:
            if path.lower() == prefix.lower():
                rest = "/"
            elif path.lower().startswith(prefix.lower() + "/"):
                rest = path[len(prefix) :]
            else:
                return None
        else:
            rest = path
        for route in self.routes:
            params = route.route.match(rest)
            if params is None:
                continue
            if route.methods is not None and method.upper() not in route.methods:
                continue
            return route, params
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        found = self.resolve(request.method, request.path)
        if found is None:
            if request.path == "/" and request.method in ("GET", "HEAD"):
                return web.Response(text="Your Functions host is running (hybridnet local host).")
            return web.Response(status=404)
        route, params = found
        if not self.host.keys.allows(route.auth_level, auth.presented_key(request)):
            return auth.unauthorized()
        body = await request.read()
        headers = {k: ", ".join(request.headers.getall(k)) for k in request.headers.keys()}
        query: dict[str, str] = {}
        for k, v in request.query.items():
            query.setdefault(k, v)
        req = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers=headers,
            params=query,
            route_params=params,
            body=body,
        )
        try:
            result = await self.host.invoker.invoke(route.function, req)
        except Exception:
            return web.Response(status=500)
        try:
            return _response_from(result.return_value)
        except Exception:
            log.exception(
                "Function '%s' returned a value the host cannot turn into a response", route.function.name
            )
            return web.Response(status=500)
