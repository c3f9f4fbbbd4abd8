"""The one factory for Azure SDK clients and credentials.

Every adapter gets its clients here (ARM's NetworkManagementClient, Table Storage, Key Vault's
SecretClient, the Event Grid publisher), so they share one policy:

* credential: `DefaultAzureCredential` without interactive fallbacks (managed identity in Azure, the
  simulator's identity endpoint locally), one per distinct identity environment;
* transport: a pooled `requests` session that does not scan the environment on every request (proxies
  and CA bundles come from settings: `connection_verify` is the configured CA bundle);
* retries: azure-core's RetryPolicy (429 with Retry-After, 5xx, connection errors), capped in count
  and, where a call timeout is given, in total time so a call can never outlive the function;
* timeouts: connect at most 10 s, read at most the call timeout;
* user agent: `hybridnet/<version>` ahead of the SDK's own.

Nothing else in `shared/` constructs an SDK client, transport or credential
(tests/test_clients_platform.py checks the source).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.pipeline.transport import RequestsTransport
    from azure.data.tables import TableServiceClient
    from azure.eventgrid import EventGridPublisherClient
    from azure.keyvault.secrets import SecretClient
    from azure.mgmt.network import NetworkManagementClient

VERSION = "0.1.0"  # pyproject.toml's [project] version (the code is deployed as files, without metadata)
USER_AGENT = f"hybridnet/{VERSION}"

ARM_SCOPE = "https://management.azure.com/.default"
MAX_CONCURRENT_CALLS = 64  # pooled connections to ARM: sites are observed concurrently
TABLE_POOL_SIZE = 32
CONNECT_TIMEOUT = 10.0
EVENT_RETRY_TOTAL = 2  # a notification: the table row is the record, so retry little
EVENT_RETRY_BACKOFF_MAX = 5.0
EVENT_CALL_TIMEOUT_MAX = 30.0

# The environment DefaultAzureCredential reads when it is built: one credential per distinct value.
_IDENTITY_ENV = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "AZURE_CLIENT_ID", "AZURE_TENANT_ID")


# --- credential --------------------------------------------------------------------------------------


def credential(*, managed_identity_client_id: str | None = None) -> TokenCredential:
    """The credential every client uses. `managed_identity_client_id` picks a user-assigned identity
    other than AZURE_CLIENT_ID's (Application Insights' `ClientId=` names one)."""
    environment = tuple(os.environ.get(name, "") for name in _IDENTITY_ENV)
    return _credential(environment, managed_identity_client_id or None)


@lru_cache(maxsize=4)
def _credential(_identity_env: tuple[str, ...], client_id: str | None) -> TokenCredential:
    from azure.identity import DefaultAzureCredential

    options: dict[str, Any] = {"exclude_interactive_browser_credential": True}  # a server process
    if client_id:
        options["managed_identity_client_id"] = client_id
    return DefaultAzureCredential(**options)


_default_credential = credential  # `credential` is also a parameter name below


# --- transport and pipeline options -------------------------------------------------------------------


def _transport(
    *,
    pool_size: int,
    ca_bundle: str | None = None,
    call_timeout: float | None = None,
    plain_http: bool = False,
) -> RequestsTransport:
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    # requests' trust_env walks os.environ on every call: measurable at hundreds of calls per pass.
    session.trust_env = False
    session.mount("https://", HTTPAdapter(pool_connections=4, pool_maxsize=pool_size))
    if plain_http:  # Azurite and the Storage emulator speak http
        session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=pool_size))
    options: dict[str, Any] = {}
    if call_timeout is not None:
        options["connection_timeout"] = min(CONNECT_TIMEOUT, call_timeout)
        options["read_timeout"] = call_timeout
    if ca_bundle:
        options["connection_verify"] = ca_bundle
    return RequestsTransport(session=session, session_owner=False, **options)


def _retry(retry_total: int | None, call_timeout: float | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if retry_total is not None:
        options["retry_total"] = retry_total
    if call_timeout is not None:
        options["retry_backoff_max"] = min(30.0, call_timeout / 2)
        options["timeout"] = call_timeout  # the retry policy's absolute cap on one call, retries included
    return options


# --- the clients --------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def network_client(
    *,
    subscription_id: str,
    endpoint: str,
    ca_bundle: str | None,
    polling_interval: float,
    call_timeout: float,
    retry_total: int,
) -> NetworkManagementClient:
    from azure.mgmt.network import NetworkManagementClient

    return NetworkManagementClient(
        credential(),
        subscription_id,
        base_url=endpoint,
        credential_scopes=[ARM_SCOPE],
        polling_interval=polling_interval,
        transport=_transport(pool_size=MAX_CONCURRENT_CALLS, ca_bundle=ca_bundle, call_timeout=call_timeout),
        user_agent=USER_AGENT,
        per_retry_policies=_arm_budget_policies(),
        **_retry(retry_total, call_timeout),
    )


def _arm_budget_policies() -> list[Any]:
    """The process's ARM budget (shared.azure.budget), after the RetryPolicy: each attempt draws."""
    from shared.azure.budget import ArmBudgetPolicy, arm_budget

    return [ArmBudgetPolicy(arm_budget())]


@lru_cache(maxsize=8)
def resource_graph_client(
    *, endpoint: str, ca_bundle: str | None, call_timeout: float, retry_total: int
) -> Any:
    """Resource Graph (azure-mgmt-resourcegraph) on the ARM endpoint, with its own per-user quota
    (shared.azure.budget.GraphQuotaPolicy) instead of ARM's read bucket."""
    from azure.mgmt.resourcegraph import ResourceGraphClient

    from shared.azure.budget import GraphQuotaPolicy, arm_budget, graph_quota

    return ResourceGraphClient(
        credential(),
        base_url=endpoint,
        credential_scopes=[ARM_SCOPE],
        transport=_transport(pool_size=8, ca_bundle=ca_bundle, call_timeout=call_timeout),
        user_agent=USER_AGENT,
        per_retry_policies=[GraphQuotaPolicy(arm_budget(), graph_quota())],
        **_retry(retry_total, call_timeout),
    )


@lru_cache(maxsize=4)
def table_service_from_connection_string(connection_string: str) -> TableServiceClient:
    from azure.data.tables import TableServiceClient

    return TableServiceClient.from_connection_string(
        connection_string,
        transport=_transport(pool_size=TABLE_POOL_SIZE, plain_http=True),
        user_agent=USER_AGENT,
    )


@lru_cache(maxsize=4)
def table_service_from_account_url(account_url: str) -> TableServiceClient:
    from azure.data.tables import TableServiceClient

    return TableServiceClient(
        endpoint=account_url,
        credential=credential(),
        transport=_transport(pool_size=TABLE_POOL_SIZE, plain_http=True),
        user_agent=USER_AGENT,
    )


@lru_cache(maxsize=4)
def secret_client(
    vault_url: str, *, ca_bundle: str | None, retry_total: int, credential: TokenCredential | None = None
) -> SecretClient:
    """`credential`: the one :func:`credential` returns (shared.azure.identity.default_credential) when
    not given."""
    from azure.keyvault.secrets import SecretClient

    return SecretClient(
        vault_url,
        credential or _default_credential(),
        transport=_transport(pool_size=8, ca_bundle=ca_bundle),
        user_agent=USER_AGENT,
        **_retry(retry_total, None),
    )


@lru_cache(maxsize=4)
def event_grid_publisher(endpoint: str, key: str) -> EventGridPublisherClient:
    """The publisher for an Event Grid topic (access key). azure-eventgrid 4.22 builds its basic-topic
    client without the constructor's keyword arguments, so the transport options, retries, timeouts
    and user agent go with each call: :func:`event_grid_send_options`."""
    from azure.core.credentials import AzureKeyCredential
    from azure.eventgrid import EventGridPublisherClient

    return EventGridPublisherClient(endpoint, AzureKeyCredential(key), user_agent=USER_AGENT)


def event_grid_send_options(*, ca_bundle: str | None, call_timeout: float) -> dict[str, Any]:
    """Per-call options for `EventGridPublisherClient.send`, which azure-core's pipeline honours."""
    timeout = min(EVENT_CALL_TIMEOUT_MAX, call_timeout)
    options: dict[str, Any] = {
        "retry_total": EVENT_RETRY_TOTAL,
        "retry_backoff_max": EVENT_RETRY_BACKOFF_MAX,
        "connection_timeout": min(CONNECT_TIMEOUT, timeout),
        "read_timeout": timeout,
        "user_agent": USER_AGENT,
    }
    if ca_bundle:
        options["connection_verify"] = ca_bundle
    return options
