"""Construction of the Azure Resource Manager network client from app settings."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from shared.azure.identity import default_credential
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.mgmt.network import NetworkManagementClient


def network_client(settings: Settings) -> NetworkManagementClient:
    """A NetworkManagementClient for the configured subscription and ARM endpoint.

    Retries are the SDK's own (429 with Retry-After, 5xx, connection errors), capped in count and in
    total time so a call can never outlive the function's timeout.
    """
    return _cached_client(
        settings.require_subscription(),
        settings.arm_endpoint,
        settings.arm_ca_bundle,
        settings.arm_polling_interval,
        settings.arm_call_timeout,
        settings.arm_retry_total,
    )


@lru_cache(maxsize=8)
def _cached_client(
    subscription_id: str,
    endpoint: str,
    ca_bundle: str | None,
    polling_interval: float,
    call_timeout: float,
    retry_total: int,
) -> NetworkManagementClient:
    from azure.mgmt.network import NetworkManagementClient

    kwargs: dict[str, object] = {}
    if ca_bundle:
        kwargs["connection_verify"] = ca_bundle
    return NetworkManagementClient(
        default_credential(),
        subscription_id,
        base_url=endpoint,
        credential_scopes=["https://management.azure.com/.default"],
        polling_interval=polling_interval,
        retry_total=retry_total,
        retry_backoff_max=min(30.0, call_timeout / 2),
        timeout=call_timeout,  # the retry policy's absolute cap on one call, retries included
        connection_timeout=min(10.0, call_timeout),
        read_timeout=call_timeout,
        **kwargs,
    )
