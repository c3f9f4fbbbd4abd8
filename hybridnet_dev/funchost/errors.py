"""The one error type the local Functions host raises for configuration and loading problems."""

from __future__ import annotations


class FunctionHostError(RuntimeError):
    """A problem with the app, its settings or host.json: the message says what and how to fix it."""
