"""Construction of the Table Storage client from app settings (connection string, or account URL
plus the managed identity)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

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


@lru_cache(maxsize=4)
def _from_connection_string(connection_string: str) -> TableServiceClient:
    from azure.data.tables import TableServiceClient

    return TableServiceClient.from_connection_string(connection_string)


@lru_cache(maxsize=4)
def _from_account_url(account_url: str) -> TableServiceClient:
    from azure.data.tables import TableServiceClient

    return TableServiceClient(endpoint=account_url, credential=default_credential())
