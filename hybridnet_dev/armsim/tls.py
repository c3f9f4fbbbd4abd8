"""A throwaway certificate authority (trustme) and the simulator's server certificate."""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme


def server_context(state_dir: Path) -> tuple[ssl.SSLContext, Path]:
    """An SSL context for 127.0.0.1/localhost, and the CA's PEM file the client must trust."""
    ca = trustme.CA(organization_name="hybridnet ARM simulator")
    cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    state_dir.mkdir(parents=True, exist_ok=True)
    ca_file = state_dir / "armsim-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return ctx, ca_file
