"""A Key Vault secrets REST subset, as ``azure.keyvault.secrets.SecretClient`` uses it (key escrow).

Served on its own HTTPS port (``vault_url`` = ``https://127.0.0.1:PORT``, no path: the SDK parses secret
ids as ``{vault}/secrets/{name}/{version}``): ``PUT /secrets/{name}``, ``GET /secrets/{name}[/{version}]``,
``GET /secrets/{name}/versions``, ``PATCH /secrets/{name}/{version}``, ``GET /secrets``; ``api-version``
required; paged with ``nextLink``.

Authentication is Key Vault's challenge flow. A request without a bearer token gets 401 with
``WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/{tenant}", resource="..."``.
The SDK only accepts a challenge whose resource domain is a parent domain of the vault's host
(``verify_challenge_resource``: the request's ``host:port`` must end with ``"." + resource host:port``), as
``vault.azure.net`` is for ``myvault.vault.azure.net``. The simulator applies the same rule to its own
host: the resource is the vault's authority minus its first label (``127.0.0.1:PORT`` ->
``https://0.0.1:PORT``), so an unmodified ``SecretClient(vault_url, DefaultAzureCredential())`` passes the
check and asks the managed-identity endpoint for that resource. A token is accepted only when this
simulator's identity issued it (signed with its key: auth.TokenIssuer.claims, the check ARM uses), in its
tenant, unexpired, for exactly that resource or ``https://vault.azure.net`` (Key Vault compares the
audience exactly: a trailing slash is refused, Azure/go-autorest#525). Anything else gets 401 with the
challenge and Key Vault's body ``{"error": {"code": "Unauthorized", "message": "AKV100xx: ..."}}``
(``VAULT_TOKEN_ERRORS``).

Secret values never reach logs, the request log, ``/_sim/state`` or error messages.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hybridnet_dev.armsim.armevents import TENANT_ID
from hybridnet_dev.armsim.auth import ISSUER, TokenIssuer, TokenProblem
from hybridnet_dev.armsim.ids import ArmError

VAULT_RESOURCE = "https://vault.azure.net"
NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
RECOVERY_LEVEL = "Recoverable+Purgeable"
RECOVERABLE_DAYS = 90
MAX_RESULTS = 25


def challenge_resource(authority: str) -> str:
    """The challenge resource for a vault reached at ``authority`` (host[:port]): its parent domain."""
    host, sep, port = authority.rpartition(":") if authority.count(":") == 1 else (authority, "", "")
    labels = host.split(".")
    if len(labels) < 2:
        return VAULT_RESOURCE
    return f"https://{'.'.join(labels[1:])}{sep}{port}"


# Key Vault's 401 messages per token problem (auth.TokenProblem.kind); {aud}, {iss}, {header} from the
# token. Sources: AKV10000 for a request without a token (the challenge answer); AKV10022 "Invalid
# audience. Expected https://vault.azure.net, found: https://management.azure.com/." (Azure/go-autorest#525,
# crossplane-contrib/provider-azure#346); AKV10032 "Invalid issuer. Expected one of https://sts.windows.net/
# .../, found https://sts.windows.net/.../." (MicrosoftDocs/azure-docs#75410, microsoft/SynapseML#1923);
# AKV10046 "Unable to resolve the key used for signature validation. EncodedJwtHeader: '...'." for a token
# not signed with a key of the tenant (vcsjones/AzureSignTool#330, Azure-Samples/azuresandbox#188). No
# source shows the message for an expired token: the simulator's own wording (message: sim).
VAULT_TOKEN_ERRORS: dict[str, str] = {
    "missing": "AKV10000: Request is missing a Bearer or PoP token.",
    "format": "AKV10000: Request is missing a Bearer or PoP token.",
    "signature": "AKV10046: Unable to resolve the key used for signature validation. EncodedJwtHeader: '{header}'.",
    "expired": "Token expired: the access token's expiry time is in the past.",  # message: sim
    "tenant": "AKV10032: Invalid issuer. Expected one of " + ISSUER + ", found {iss}.",
    "audience": "AKV10022: Invalid audience. Expected " + VAULT_RESOURCE + ", found: {aud}.",
}


def vault_unauthorized(problem: TokenProblem, header: str, resource: str) -> web.Response:
    """Key Vault's 401: the challenge (so a client can fetch a token for ``resource``) and its error."""
    token = header.partition(" ")[2].strip()
    message = VAULT_TOKEN_ERRORS[problem.kind].format(
        header=token.split(".", 1)[0],
        iss=problem.claims.get("iss"),
        aud=problem.claims.get("aud"),
    )
    challenge = f'Bearer authorization="https://login.microsoftonline.com/{TENANT_ID}", resource="{resource}"'
    body = {"error": {"code": "Unauthorized", "message": message}}
    return web.json_response(body, status=401, headers={"WWW-Authenticate": challenge})


@dataclass
class SecretVersion:
    name: str
    version: str
    value: str
    content_type: str | None = None
    tags: dict[str, str] | None = None
    enabled: bool = True
    not_before: int | None = None
    expires: int | None = None
    created: int = field(default_factory=lambda: int(time.time()))
    updated: int = field(default_factory=lambda: int(time.time()))

    def attributes(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {"enabled": self.enabled}
        if self.not_before is not None:
            attrs["nbf"] = self.not_before
        if self.expires is not None:
            attrs["exp"] = self.expires
        attrs.update(
            created=self.created,
            updated=self.updated,
            recoveryLevel=RECOVERY_LEVEL,
            recoverableDays=RECOVERABLE_DAYS,
        )
        return attrs

    def bundle(self, vault: str, *, value: bool) -> dict[str, Any]:
        """A SecretBundle (``value`` included) or, without it, a SecretItem/update answer."""
        body: dict[str, Any] = {}
        if value:
            body["value"] = self.value
        body["id"] = f"{vault}/secrets/{self.name}/{self.version}"
        if self.content_type is not None:
            body["contentType"] = self.content_type
        body["attributes"] = self.attributes()
        if self.tags is not None:
            body["tags"] = dict(self.tags)
        return body


def _not_found(name: str, version: str | None = None) -> ArmError:
    what = f"({name}) {name}" if not version else f"(name/id) {name}/{version}"
    return ArmError(
        404,
        "SecretNotFound",
        f"A secret with {what} was not found in this key vault. If you recently deleted this secret you may "
        "be able to recover it using the correct recovery command. For help resolving this issue, please see "
        "https://go.microsoft.com/fwlink/?linkid=2125182",
    )


def _bad(message: str) -> ArmError:
    return ArmError(400, "BadParameter", message)


class Vault:
    """The secrets (every version kept), and the HTTP handlers of the vault listener."""

    def __init__(self, tokens: TokenIssuer | None = None) -> None:
        """``tokens``: the simulator's identity, whose tokens alone the vault accepts."""
        self.tokens = tokens or TokenIssuer()
        self.secrets: dict[str, list[SecretVersion]] = {}  # lower-case name -> versions, oldest first
        self.url = ""  # set when the listener is up
        self.on_new_version: list[Callable[[str], None]] = []  # called with the secret's name

    # --- in-process API (control API, appliance pickup) ---------------------------------------------
    def versions(self, name: str) -> list[SecretVersion]:
        return list(self.secrets.get(name.lower(), []))

    def get(self, name: str, version: str | None = None) -> SecretVersion:
        versions = self.secrets.get(name.lower())
        if not versions:
            raise _not_found(name, version)
        if not version:
            return versions[-1]
        for item in versions:
            if item.version == version.lower():
                return item
        raise _not_found(name, version)

    def set(self, name: str, value: str, **attributes: Any) -> SecretVersion:
        if not NAME.match(name):
            raise _bad(f"The secret name '{name}' is invalid: use 1-127 letters, digits and '-'.")
        existing = self.secrets.get(name.lower())
        canonical = existing[0].name if existing else name
        item = SecretVersion(canonical, secrets.token_hex(16), value, **attributes)
        self.secrets.setdefault(name.lower(), []).append(item)
        for listener in self.on_new_version:
            listener(canonical)
        return item

    def summary(self) -> dict[str, Any]:
        """For ``/_sim/state``: names and version counts, never values."""
        return {"url": self.url, "secrets": {v[0].name: len(v) for v in self.secrets.values() if v}}

    # --- HTTP ---------------------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/secrets", self.list_secrets),
            web.get("/secrets/", self.list_secrets),
            web.put("/secrets/{name}", self.put_secret),
            web.get("/secrets/{name}", self.get_secret),
            web.get("/secrets/{name}/", self.get_secret),  # the SDK's get_secret(name) without a version
            web.get("/secrets/{name}/versions", self.list_versions),
            web.get("/secrets/{name}/{version}", self.get_secret),
            web.patch("/secrets/{name}/{version}", self.patch_secret),
            web.route("*", "/{tail:.*}", self.unknown),
        ]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            if request.path.startswith("/_"):
                return await handler(request)
            resource = challenge_resource(request.host)
            header = request.headers.get("Authorization", "")
            try:
                self.tokens.claims(header, (resource, VAULT_RESOURCE))
            except TokenProblem as problem:
                return vault_unauthorized(problem, header, resource)
            if not request.query.get("api-version"):
                raise _bad("The request URI contains an invalid or missing api-version.")
            return await handler(request)
        except ArmError as err:
            return web.json_response(err.body(), status=err.status)

    def _vault(self, request: web.Request) -> str:
        return f"{request.scheme}://{request.host}"

    async def _json(self, request: web.Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            raise _bad("The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise _bad("The request body must be a JSON object.")
        return body

    @staticmethod
    def _attributes(body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "contentType" in body:
            if body["contentType"] is not None and not isinstance(body["contentType"], str):
                raise _bad("contentType must be a string.")
            out["content_type"] = body["contentType"]
        if "tags" in body:
            tags = body["tags"]
            if tags is not None and (
                not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values())
            ):
                raise _bad("tags must be an object of strings.")
            out["tags"] = dict(tags) if tags is not None else None
        attrs = body.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise _bad("attributes must be an object.")
        if "enabled" in attrs and attrs["enabled"] is not None:
            out["enabled"] = bool(attrs["enabled"])
        for key, name in (("nbf", "not_before"), ("exp", "expires")):
            if attrs.get(key) is not None:
                out[name] = int(attrs[key])
        return out

    async def put_secret(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        value = body.get("value")
        if not isinstance(value, str):
            raise _bad("The secret value is required and must be a string.")
        item = self.set(request.match_info["name"], value, **self._attributes(body))
        return web.json_response(item.bundle(self._vault(request), value=True))

    async def get_secret(self, request: web.Request) -> web.Response:
        item = self.get(request.match_info["name"], request.match_info.get("version") or None)
        if not item.enabled:
            raise ArmError(403, "Forbidden", "Operation get is not allowed on a disabled secret.")
        return web.json_response(item.bundle(self._vault(request), value=True))

    async def patch_secret(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        item = self.get(request.match_info["name"], request.match_info["version"])
        for key, value in self._attributes(body).items():
            setattr(item, key, value)
        item.updated = int(time.time())
        return web.json_response(item.bundle(self._vault(request), value=False))

    async def list_versions(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        items = [v.bundle(self._vault(request), value=False) for v in self.versions(name)]
        return self._page(request, items)

    async def list_secrets(self, request: web.Request) -> web.Response:
        vault = self._vault(request)
        items = []
        for versions in self.secrets.values():
            latest = versions[-1].bundle(vault, value=False)
            latest["id"] = f"{vault}/secrets/{versions[-1].name}"
            items.append(latest)
        return self._page(request, items)

    def _page(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        try:
            size = min(MAX_RESULTS, max(1, int(request.query.get("maxresults", MAX_RESULTS))))
            skip = max(0, int(request.query.get("$skiptoken", "0")))
        except ValueError:
            raise _bad("maxresults and $skiptoken must be integers.") from None
        chunk = items[skip : skip + size]
        next_link = None
        if skip + size < len(items):
            version = request.query.get("api-version", "")
            next_link = (
                f"{self._vault(request)}{request.path}?api-version={version}"
                f"&$skiptoken={skip + size}&maxresults={size}"
            )
        return web.json_response({"value": chunk, "nextLink": next_link})

    async def unknown(self, request: web.Request) -> web.Response:
        raise ArmError(
            404 if request.method == "GET" else 405,
            "NotFound" if request.method == "GET" else "MethodNotAllowed",
            f"The simulator's vault does not serve {request.method} {request.path}.",
        )
