"""The Table Storage client for the app settings (connection string, or account URL plus the managed
identity), built by shared.azure.clients."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.azure import clients
from shared.settings import Settings, SettingsError

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient


def table_service(settings: Settings) -> TableServiceClient:
    if settings.tables_connection_string:
        return clients.table_service_from_connection_string(settings.tables_connection_string)
    if settings.tables_account_url:
        return clients.table_service_from_account_url(settings.tables_account_url)
    raise SettingsError(
        "no Table Storage configured: set HYBRIDNET_TABLES_CONNECTION_STRING (or AzureWebJobsStorage), "
        "or HYBRIDNET_TABLES_ACCOUNT_URL to use the managed identity"
    )
