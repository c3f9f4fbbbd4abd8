"""The credential every Azure client uses: DefaultAzureCredential (built by shared.azure.clients).

In Azure the Functions host sets IDENTITY_ENDPOINT/IDENTITY_HEADER and this yields managed-identity
tokens; locally the simulator serves the same endpoint, so there is no special case for development.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.azure import clients

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


def default_credential() -> TokenCredential:
    return clients.credential()
