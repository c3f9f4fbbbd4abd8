"""Who this process is, for leases: the Functions instance id in Azure, host and pid elsewhere."""

from __future__ import annotations

import os
import socket
from functools import lru_cache


@lru_cache(maxsize=1)
def instance_id() -> str:
    return os.environ.get("WEBSITE_INSTANCE_ID") or f"{socket.gethostname()}:{os.getpid()}"
