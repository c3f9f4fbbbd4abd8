"""Pre-shared keys that Azure accepts and appliance configurations do not mangle.

Azure accepts printable ASCII except space, '-' and '~', 1-128 characters. strongSwan reads a key
that starts with `0x` as hex and `0s` as base64, so no key starts with those. The default alphabet is
letters and digits; SAFE_SYMBOLS is an optional, documented extension without shell or config
metacharacters (no quotes, '$', '#', ';', '\\', '!', '&', '|', '`', '*', '?')."""

from __future__ import annotations

import secrets
import string

DEFAULT_LENGTH = 48
ALPHANUMERIC = string.ascii_letters + string.digits
SAFE_SYMBOLS = "%+,./:=@_^"
AZURE_FORBIDDEN = frozenset(" -~")


class KeySpecError(ValueError):
    pass


def generate_shared_key(length: int = DEFAULT_LENGTH, *, symbols: bool = False) -> str:
    if not 1 <= length <= 128:
        raise KeySpecError(f"shared key length {length} is outside Azure's 1-128")
    alphabet = ALPHANUMERIC + (SAFE_SYMBOLS if symbols else "")
    while True:
        key = "".join(secrets.choice(alphabet) for _ in range(length))
        if not key.lower().startswith(("0x", "0s")):
            return key


def acceptable_shared_key(key: str) -> bool:
    """Azure's rule plus the appliance-safety prefix rule."""
    return (
        1 <= len(key) <= 128
        and all(32 < ord(c) < 127 and c not in AZURE_FORBIDDEN for c in key)
        and not key.lower().startswith(("0x", "0s"))
    )
