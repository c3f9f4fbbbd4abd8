"""Key Vault secrets: where each site's IPsec pre-shared keys are escrowed (one secret per site, one
version per key, its role in tags). Values go in and out of this module only as return values and
arguments: never into a log line, an exception or a tag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from shared.azure.identity import default_credential
from shared.spec.names import SECRET_PREFIX, secret_name, staged_secret_name

if TYPE_CHECKING:
    from azure.keyvault.secrets import SecretClient

__all__ = ["SECRET_PREFIX", "EscrowError", "KeyEscrow", "SecretVersion", "secret_name", "staged_secret_name"]


class EscrowError(Exception):
    """Key Vault could not be read or written. The message names the operation and the status."""


@dataclass(frozen=True)
class SecretVersion:
    version: str
    tags: dict[str, str]
    created: datetime | None
    enabled: bool


def _stored_at(version: SecretVersion) -> str:
    stamp = version.tags.get("storedAt")
    if stamp:
        return stamp
    return version.created.astimezone(UTC).isoformat() if version.created else ""


@lru_cache(maxsize=4)
def _client(vault_url: str, ca_bundle: str | None, retry_total: int) -> SecretClient:
    from shared.azure.clients import secret_client  # the one client factory

    return secret_client(
        vault_url, credential=default_credential(), ca_bundle=ca_bundle, retry_total=retry_total
    )


def _fail(operation: str, name: str, exc: Exception) -> EscrowError:
    status = getattr(exc, "status_code", None)
    return EscrowError(f"Key Vault {operation} of secret {name} failed ({status or type(exc).__name__})")


class KeyEscrow:
    def __init__(self, vault_url: str, ca_bundle: str | None = None, retry_total: int = 3) -> None:
        self._client = _client(vault_url, ca_bundle, retry_total)

    def store(self, name: str, value: str, tags: dict[str, str]) -> str:
        """A new version; returns its version id."""
        from azure.core.exceptions import AzureError

        # Key Vault's `created` has 1 s resolution: versions are ordered by this tag instead.
        tags = {**tags, "storedAt": datetime.now(UTC).isoformat()}
        try:
            secret = self._client.set_secret(name, value, tags=tags, content_type="ipsec-psk")
        except AzureError as exc:
            raise _fail("write", name, exc) from None
        return str(secret.properties.version)

    def value(self, name: str, version: str) -> str:
        from azure.core.exceptions import AzureError

        try:
            secret = self._client.get_secret(name, version)
        except AzureError as exc:
            raise _fail("read", name, exc) from None
        if secret.value is None:
            raise EscrowError(f"Key Vault secret {name} version {version} has no value")
        return secret.value

    def versions(self, name: str, *, site: str | None = None) -> list[SecretVersion]:
        """Every version, oldest first (by the `storedAt` tag, else `created`); [] when the secret does
        not exist yet. With `site`, only the versions tagged with that site (a secret shared by two
        sites under an older name mapping never mixes their keys)."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            found = [
                SecretVersion(str(p.version), dict(p.tags or {}), p.created_on, bool(p.enabled))
                for p in self._client.list_properties_of_secret_versions(name)
            ]
        except ResourceNotFoundError:
            return []
        except AzureError as exc:
            raise _fail("list", name, exc) from None
        if site is not None:
            found = [v for v in found if v.tags.get("site") == site]
        return sorted(found, key=_stored_at)

    def tag(self, name: str, version: str, tags: dict[str, str]) -> None:
        from azure.core.exceptions import AzureError

        try:
            self._client.update_secret_properties(name, version, tags=tags)
        except AzureError as exc:
            raise _fail("tag update", name, exc) from None
