"""Construction of the Table Storage client from app settings (connection string, or account URL
plus the managed identity)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from shared.azure.identity import default_credential
from shared.settings import Settings, SettingsError

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient


def table_service(settings: Settings) -> TableServiceClient:
    if settings.tables_connection_string:
        return _from_connection_string(settings.tables_connection_string)
    if settings.tables_account_url:
        return _from_account_url(settings.tables_account_url)
    raise SettingsError(
        "no Table Storage configured: set HYBRIDNET_TABLES_CONNECTION_STRING (or AzureWebJobsStorage), "
        "or HYBRIDNET_TABLES_ACCOUNT_URL to use the managed identity"
    )


def _transport() -> Any:
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    session.trust_env = False  # see shared.azure.arm: no environment scan on every request
    session.mount("https://", HTTPAdapter(pool_maxsize=32))
    session.mount("http://", HTTPAdapter(pool_maxsize=32))
    return RequestsTransport(session=session, session_owner=False)


@lru_cache(maxsize=4)
def _from_connection_string(connection_string: str) -> TableServiceClient:
    from azure.data.tables import TableServiceClient

    return TableServiceClient.from_connection_string(connection_string, transport=_transport())


@lru_cache(maxsize=4)
def _from_account_url(account_url: str) -> TableServiceClient:
    from azure.data.tables import TableServiceClient

    return TableServiceClient(endpoint=account_url, credential=default_credential(), transport=_transport())
