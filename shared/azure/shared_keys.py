"""A connection's pre-shared key through ARM. Only the `sharedkey` endpoint changes it (a PUT of the
connection does not). The key is an argument or a return value here, never logged or raised."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.errors import redact

if TYPE_CHECKING:
    from azure.mgmt.network import NetworkManagementClient


class SharedKeyError(Exception):
    """ARM refused or failed. The message names the connection and the status, never the key."""


class SharedKeySetRunning(SharedKeyError):
    """ARM accepted the set, and it was still running when the caller's time ran out. The new key is in
    force only once the operation succeeds: until then a read returns the old one."""


def _fail(operation: str, connection: str, exc: Exception, secret: str | None = None) -> SharedKeyError:
    from shared.azure.lro_errors import lro_failure

    failure = lro_failure(exc, secret=secret)  # a failed operation names its own error code and message
    if failure:
        return SharedKeyError(f"{operation} of the shared key of connection {connection} failed: {failure}")
    status = getattr(exc, "status_code", None)
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) if error is not None else None
    text = f"{operation} of the shared key of connection {connection} failed ({status or type(exc).__name__}"
    text += f" {code})" if code else ")"
    return SharedKeyError(redact(text, secrets=(secret,)))


def read_shared_key(client: NetworkManagementClient, resource_group: str, connection: str) -> str:
    from azure.core.exceptions import AzureError

    try:
        result = client.virtual_network_gateway_connections.get_shared_key(resource_group, connection)
    except AzureError as exc:
        raise _fail("read", connection, exc) from None
    if not result.value:
        raise SharedKeyError(f"connection {connection}: ARM returned no shared key")
    return str(result.value)


def write_shared_key(
    client: NetworkManagementClient, resource_group: str, connection: str, value: str, *, timeout: float
) -> None:
    """Set the key and wait for the long-running operation (bounded)."""
    from azure.core.exceptions import AzureError

    try:
        poller = client.virtual_network_gateway_connections.begin_set_shared_key(
            resource_group, connection, {"value": value}
        )
        poller.wait(timeout=timeout)
        if not poller.done():
            raise SharedKeySetRunning(
                f"setting the shared key of connection {connection} did not finish in {timeout:g}s"
            )
        poller.result()
    except AzureError as exc:
        raise _fail("write", connection, exc, value) from None
