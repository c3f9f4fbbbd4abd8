"""Keys never reach the host's log: a filter on the log handlers that masks the host's keys and any
`code=` query value wherever they appear (a message, its arguments, a traceback), whoever logs them
(the host, the app logging the URL it was called with, an SDK)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "[REDACTED]"
_CODE_QUERY = re.compile(r"(?i)(\bcode=)[^&\s'\"<>]+")


class KeyRedactingFilter(logging.Filter):
    """Masks `secrets` (the host's keys) and every `code=VALUE` in each record it passes."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return _CODE_QUERY.sub(rf"\g<1>{MASK}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def install(secrets: Iterable[str], logger: logging.Logger | None = None) -> KeyRedactingFilter:
    """Put the filter on every handler of `logger` (default: the root logger): handler filters see the
    records of every logger that propagates to it."""
    target = logger or logging.getLogger()
    redacting = KeyRedactingFilter(secrets)
    for handler in target.handlers:
        handler.addFilter(redacting)
    return redacting
