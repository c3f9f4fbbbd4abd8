"""Construction of the Azure Resource Manager network client from app settings."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from shared.azure.identity import default_credential
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.mgmt.network import NetworkManagementClient


MAX_CONCURRENT_CALLS = 64


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
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from azure.mgmt.network import NetworkManagementClient
    from requests.adapters import HTTPAdapter

    # Sites are observed concurrently: room for that many pooled connections to ARM.
    session = requests.Session()
    # Proxies and CA bundles come from settings, not from scanning the environment on every request
    # (requests' trust_env walks os.environ per call: measurable at hundreds of calls per pass).
    session.trust_env = False
    session.mount("https://", HTTPAdapter(pool_connections=4, pool_maxsize=MAX_CONCURRENT_CALLS))
    transport_options: dict[str, object] = {
        "connection_timeout": min(10.0, call_timeout),
        "read_timeout": call_timeout,
    }
    if ca_bundle:
        transport_options["connection_verify"] = ca_bundle
    transport = RequestsTransport(session=session, session_owner=False, **transport_options)
    return NetworkManagementClient(
        default_credential(),
        subscription_id,
        base_url=endpoint,
        credential_scopes=["https://management.azure.com/.default"],
        polling_interval=polling_interval,
        retry_total=retry_total,
        retry_backoff_max=min(30.0, call_timeout / 2),
        timeout=call_timeout,  # the retry policy's absolute cap on one call, retries included
        transport=transport,
    )
