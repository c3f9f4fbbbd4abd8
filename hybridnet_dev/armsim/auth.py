"""Signed, expiring access tokens: issued by the managed-identity endpoint (and to the operator), checked
on every ARM request as Azure Resource Manager checks them.

Tokens are HS256 JWTs signed with a secret of this simulator instance: a token from another simulator,
an unsigned one, a malformed one or one for another audience gets 401, with ARM's error codes and its
``WWW-Authenticate`` header (``Bearer authorization_uri="https://login.windows.net/", error="invalid_token",
error_description="..."``, the header azure-core's ARM challenge policy parses). An expired token gets
ARM's ``ExpiredAuthenticationToken`` ("The access token expiry UTC time '...' is earlier than current UTC
time '...'."); azure-identity refreshes tokens before ``expires_on``, so well-behaved clients never see it.
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
    ) -> tuple[str, int]:
        """A token and its expiry (epoch seconds)."""
        now = int(time.time())
        expires = now + (self.lifetime if lifetime is None else lifetime)
        claims: dict[str, Any] = {
            "aud": resource,
            "iss": ISSUER,
            "iat": now,
            "nbf": now,
            "exp": expires,
            "oid": object_id,
            "sub": object_id,
            "appid": app_id,
            "tid": TENANT_ID,
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

    def verify(self, header: str | None) -> Caller:
        """The caller behind an ``Authorization`` header, or the 401 ARM answers."""
        if not header:
            raise unauthenticated(
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
                "The authentication failed because of missing 'Authorization' header.",
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthenticated(
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is provided in an invalid format.",
            )
        invalid = unauthenticated("InvalidAuthenticationToken", "The access token is invalid.")
        try:
            claims = jwt.decode(
                token.strip(),
                self._secret,
                algorithms=["HS256"],
                options={"verify_exp": False, "verify_aud": False, "require": ["exp", "aud", "oid"]},
            )
        except jwt.PyJWTError:
            raise invalid from None
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= time.time():
            message = (
                f"The access token expiry UTC time '{_arm_time(float(exp or 0))}' is earlier than current UTC "
                f"time '{_arm_time(time.time())}'."
            )
            raise unauthenticated("ExpiredAuthenticationToken", message, "The access token has expired.")
        aud = claims.get("aud")
        if aud not in ARM_AUDIENCES:
            allowed = ",".join(f"'{a}'" for a in ARM_AUDIENCES)
            raise unauthenticated(
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained for wrong audience or resource '{aud}'. It should exactly "
                f"match with one of the allowed audiences {allowed}.",
            )
        oid, appid = claims.get("oid"), claims.get("appid")
        if not isinstance(oid, str) or not isinstance(appid, str):
            raise invalid
        if oid == PORTAL_USER.object_id:
            return PORTAL_USER
        user = claims.get("idtyp") == "user"
        return Caller(object_id=oid, app_id=appid, principal_type="User" if user else "ServicePrincipal")
