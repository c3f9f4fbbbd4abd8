"""The Azure Resource Manager network client for the app settings (built by shared.azure.clients)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.azure import clients
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.mgmt.network import NetworkManagementClient


MAX_CONCURRENT_CALLS = clients.MAX_CONCURRENT_CALLS


def network_client(settings: Settings) -> NetworkManagementClient:
    """A NetworkManagementClient for the configured subscription and ARM endpoint.

    Retries are the SDK's own (429 with Retry-After, 5xx, connection errors), capped in count and in
    total time so a call can never outlive the function's timeout.
    """
    return clients.network_client(
        subscription_id=settings.require_subscription(),
        endpoint=settings.arm_endpoint,
        ca_bundle=settings.arm_ca_bundle,
        polling_interval=settings.arm_polling_interval,
        call_timeout=settings.arm_call_timeout,
        retry_total=settings.arm_retry_total,
    )
