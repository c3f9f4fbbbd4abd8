"""Any exception -> the app's hierarchy, SDK exceptions included (translated by the adapters), for the
triggers, which must not import adapters themselves."""

from __future__ import annotations

from shared.azure.errors import translate
from shared.errors import AppError, as_app_error


def app_error(exc: BaseException) -> AppError:
    return as_app_error(exc, translate=translate)
