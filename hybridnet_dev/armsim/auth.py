"""Signed, expiring access tokens: issued by the managed-identity endpoint (and to the operator), checked
on every ARM request as Azure Resource Manager checks them.

Tokens are HS256 JWTs signed with a secret of this simulator instance: a token from another simulator,
an unsigned one, a malformed one or one for another audience gets 401, with ARM's error codes and its
``WWW-Authenticate`` header (``Bearer authorization_uri="https://login.windows.net/", error="invalid_token",
error_description="..."``, the header azure-core's ARM challenge policy parses). An expired token gets
ARM's ``ExpiredAuthenticationToken`` ("The access token expiry UTC time '...' is earlier than current UTC
time '...'.", e.g. '6/15/2026 8:22:51 AM', as quoted in microsoft/foundry-dev-tools#461 and
microsoft/vscode-azureappservice#2483); azure-identity refreshes tokens before ``expires_on``, so
well-behaved clients never see it. A token Entra ID signed for another tenant (signed with the same keys:
its signature is good, its ``iss``/``tid`` name the other tenant) gets ARM's
``InvalidAuthenticationTokenTenant`` ("The access token is from the wrong issuer '...'. It must match the
tenant '...' associated with this subscription. Please use the authority (URL) '...' to get the token. ...",
quoted whole in Azure/pcs-cli#357, bradygaster-zz/azure-tools-vscode#44, Azure/LogicAppsUX#9068).

:meth:`TokenIssuer.claims` is the one check (signature, expiry, tenant, audience) both data planes use:
ARM answers its problems with ARM's codes (:meth:`TokenIssuer.verify`), the Key Vault listener with
Key Vault's (keyvault.py).
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
import uuid
from typing import Any

import jwt

from hybridnet_dev.armsim.armevents import PORTAL_USER, TENANT_ID, Caller
from hybridnet_dev.armsim.ids import ArmError

APP_CLIENT_ID = "22222222-3333-4444-5555-666666666666"  # the app identity's client id (`appid` claim)
DEFAULT_LIFETIME = 3600  # seconds; Azure's managed-identity tokens live longer, refreshed before expiry
ISSUER = f"https://sts.windows.net/{TENANT_ID}/"
# The audiences ARM accepts (ARM's InvalidAuthenticationTokenAudience message lists these four).
ARM_AUDIENCES = (
    "https://management.core.windows.net/",
    "https://management.core.windows.net",
    "https://management.azure.com/",
    "https://management.azure.com",
)


class TokenProblem(Exception):
    """Why a bearer token is refused: ``kind`` is missing, format, signature, expired, tenant or audience;
    ``claims`` what could be read of it (the expired, tenant and audience cases)."""

    def __init__(self, kind: str, claims: dict[str, Any] | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.claims = claims or {}


class HeaderError(ArmError):
    """An ArmError answered with extra headers (WWW-Authenticate, Retry-After)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str]) -> None:
        super().__init__(status, code, message)
        self.headers = headers


def _challenge(description: str) -> dict[str, str]:
    return {
        "WWW-Authenticate": 'Bearer authorization_uri="https://login.windows.net/", error="invalid_token", '
        f'error_description="{description}"'
    }


def unauthenticated(code: str, message: str, description: str | None = None) -> HeaderError:
    return HeaderError(401, code, message, _challenge(description or message))


def _arm_time(epoch: float) -> str:
    """ARM's (.NET) rendering of a UTC time: 12/2/2026 5:06:29 AM."""
    t = dt.datetime.fromtimestamp(epoch, dt.UTC)
    hour = t.hour % 12 or 12
    return f"{t.month}/{t.day}/{t.year} {hour}:{t.minute:02d}:{t.second:02d} {'AM' if t.hour < 12 else 'PM'}"


class TokenIssuer:
    """Issues and verifies this simulator's tokens."""

    def __init__(self, *, lifetime: int = DEFAULT_LIFETIME, secret: bytes | None = None) -> None:
        self.lifetime = lifetime
        self._secret = secret or secrets.token_bytes(32)

    def issue(
        self,
        *,
        object_id: str,
        app_id: str,
        resource: str,
        user: bool = False,
        lifetime: int | None = None,
        tenant: str = TENANT_ID,
    ) -> tuple[str, int]:
        """A token and its expiry (epoch seconds); ``tenant``: the tenant it was issued in (another one's
        token is what a client that signed in to the wrong directory holds)."""
        now = int(time.time())
        expires = now + (self.lifetime if lifetime is None else lifetime)
        claims: dict[str, Any] = {
            "aud": resource,
            "iss": f"https://sts.windows.net/{tenant}/",
            "iat": now,
            "nbf": now,
            "exp": expires,
            "oid": object_id,
            "sub": object_id,
            "appid": app_id,
            "tid": tenant,
            "idtyp": "user" if user else "app",
            "uti": uuid.uuid4().hex[:22],
            "ver": "1.0",
        }
        return jwt.encode(claims, self._secret, algorithm="HS256"), expires

    def operator_token(self, resource: str = "https://management.azure.com") -> tuple[str, int]:
        """The operator's token: a person with Owner on the subscription (the portal user)."""
        return self.issue(
            object_id=PORTAL_USER.object_id, app_id=PORTAL_USER.app_id, resource=resource, user=True
        )

    def claims(self, header: str | None, audiences: tuple[str, ...]) -> dict[str, Any]:
        """The claims of an ``Authorization: Bearer`` token this simulator's identity issued in its tenant
        for one of ``audiences`` and not expired; :class:`TokenProblem` otherwise."""
        if not header:
            raise TokenProblem("missing")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenProblem("format")
        try:
            claims: dict[str, Any] = jwt.decode(
                token.strip(),
                self._secret,
                algorithms=["HS256"],
                options={"verify_exp": False, "verify_aud": False, "require": ["exp", "aud", "oid"]},
            )
        except jwt.PyJWTError:
            raise TokenProblem("signature") from None
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= time.time():
            raise TokenProblem("expired", claims)
        if claims.get("tid") != TENANT_ID or claims.get("iss") != ISSUER:
            raise TokenProblem("tenant", claims)
        if claims.get("aud") not in audiences:
            raise TokenProblem("audience", claims)
        if not isinstance(claims.get("oid"), str) or not isinstance(claims.get("appid"), str):
            raise TokenProblem("signature")
        return claims

    def verify(self, header: str | None) -> Caller:
        """The caller behind an ``Authorization`` header, or the 401 ARM answers."""
        try:
            claims = self.claims(header, ARM_AUDIENCES)
        except TokenProblem as problem:
            raise arm_unauthenticated(problem) from None
        oid, appid = str(claims["oid"]), str(claims["appid"])
        if oid == PORTAL_USER.object_id:
            return PORTAL_USER
        user = claims.get("idtyp") == "user"
        return Caller(object_id=oid, app_id=appid, principal_type="User" if user else "ServicePrincipal")


def arm_unauthenticated(problem: TokenProblem) -> HeaderError:
    """ARM's 401 for a refused token."""
    claims = problem.claims
    if problem.kind == "missing":
        return unauthenticated(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
            "The authentication failed because of missing 'Authorization' header.",
        )
    if problem.kind == "format":
        return unauthenticated(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
        )
    if problem.kind == "expired":
        exp = claims.get("exp")
        message = (
            f"The access token expiry UTC time '{_arm_time(float(exp if isinstance(exp, int | float) else 0))}' "
            f"is earlier than current UTC time '{_arm_time(time.time())}'."
        )
        return unauthenticated("ExpiredAuthenticationToken", message, "The access token has expired.")
    if problem.kind == "tenant":
        message = (
            f"The access token is from the wrong issuer '{claims.get('iss')}'. It must match the tenant "
            f"'{ISSUER}' associated with this subscription. Please use the authority (URL) "
            f"'https://login.windows.net/{TENANT_ID}' to get the token. Note, if the subscription is transferred "
            "to another tenant there is no impact to the services, but information about new tenant could take "
            "time to propagate (up to an hour). If you just transferred your subscription and see this error "
            "message, please try back later."
        )
        # The challenge names the subscription's tenant, so a client can ask that authority instead.
        headers = {
            "WWW-Authenticate": f'Bearer authorization_uri="https://login.windows.net/{TENANT_ID}", '
            'error="invalid_token", error_description="The access token is from the wrong issuer."'
        }
        return HeaderError(401, "InvalidAuthenticationTokenTenant", message, headers)
    if problem.kind == "audience":
        allowed = ",".join(f"'{a}'" for a in ARM_AUDIENCES)
        return unauthenticated(
            "InvalidAuthenticationTokenAudience",
            f"The access token has been obtained for wrong audience or resource '{claims.get('aud')}'. It should "
            f"exactly match with one of the allowed audiences {allowed}.",
        )
    return unauthenticated("InvalidAuthenticationToken", "The access token is invalid.")
