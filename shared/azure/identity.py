"""The credential every Azure client uses: DefaultAzureCredential.

In Azure the Functions host sets IDENTITY_ENDPOINT/IDENTITY_HEADER and this yields managed-identity
tokens; locally the simulator serves the same endpoint, so there is no special case for development.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

# The environment DefaultAzureCredential reads when it is built: one credential per distinct value.
_IDENTITY_ENV = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "AZURE_CLIENT_ID", "AZURE_TENANT_ID")


def default_credential() -> TokenCredential:
    return _credential(tuple(os.environ.get(name, "") for name in _IDENTITY_ENV))


@lru_cache(maxsize=4)
def _credential(_identity_env: tuple[str, ...]) -> TokenCredential:
    from azure.identity import DefaultAzureCredential

    # No interactive fallbacks in a server process.
    return DefaultAzureCredential(exclude_interactive_browser_credential=True)
