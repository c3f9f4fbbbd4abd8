"""Event Grid advanced filters, evaluated on the event as it would be delivered.

Semantics from Microsoft's "Understand event filtering for Event Grid subscriptions": the key is a dotted
path into the event (``data.claims.appid``); string comparisons ignore case; all filters must match (AND);
within one filter any value may match (OR); when the key is absent from the event, only the negated
operators (``...NotIn``, ``StringNot...``) and ``IsNullOrUndefined`` match. ``claims`` delivered as a JSON
string has no ``appid`` key, so a ``StringNotIn`` on it lets the event through (the app re-checks).

The deployment's own filter comes from ``infra/app-contract.json`` (``appEventFilter``), the file
``infra/modules/site.bicep`` reads: :func:`deployed_filters` builds the same list for the local
subscriptions (``hybridnet up``) with the simulated identity's client id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hybridnet_dev.armsim.ids import ArmError

_MISSING = object()


def _s(v: Any) -> str:
    return str(v).lower()


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


OPERATORS: dict[str, tuple[bool, Callable[[Any, list[Any]], bool]]] = {
    # operator -> (matches when the key is absent, test(value, values))
    "StringIn": (False, lambda v, vs: isinstance(v, str) and _s(v) in {_s(x) for x in vs}),
    "StringNotIn": (True, lambda v, vs: not (isinstance(v, str) and _s(v) in {_s(x) for x in vs})),
    "StringBeginsWith": (
        False,
        lambda v, vs: isinstance(v, str) and any(_s(v).startswith(_s(x)) for x in vs),
    ),
    "StringNotBeginsWith": (True, lambda v, vs: not any(_s(v).startswith(_s(x)) for x in vs)),
    "StringEndsWith": (False, lambda v, vs: isinstance(v, str) and any(_s(v).endswith(_s(x)) for x in vs)),
    "StringNotEndsWith": (True, lambda v, vs: not any(_s(v).endswith(_s(x)) for x in vs)),
    "StringContains": (False, lambda v, vs: isinstance(v, str) and any(_s(x) in _s(v) for x in vs)),
    "StringNotContains": (True, lambda v, vs: not any(_s(x) in _s(v) for x in vs)),
    "NumberIn": (False, lambda v, vs: _num(v) is not None and _num(v) in {float(x) for x in vs}),
    "NumberNotIn": (True, lambda v, vs: _num(v) is None or _num(v) not in {float(x) for x in vs}),
    "BoolEquals": (False, lambda v, vs: isinstance(v, bool) and v is bool(vs[0])),
    "IsNullOrUndefined": (True, lambda v, vs: v is None),
    "IsNotNull": (False, lambda v, vs: v is not None),
}


def validate(filters: Any) -> list[dict[str, Any]]:
    """The advancedFilters of a subscription request, or a 400 naming what is wrong."""
    if filters is None:
        return []
    if not isinstance(filters, list):
        raise ArmError(400, "InvalidSubscription", "'advancedFilters' must be a list.")
    out = []
    for i, f in enumerate(filters):
        op = f.get("operatorType") if isinstance(f, dict) else None
        if op not in OPERATORS:
            raise ArmError(
                400,
                "InvalidSubscription",
                f"advancedFilters[{i}].operatorType must be one of {', '.join(OPERATORS)}.",
            )
        key = f.get("key")
        if not isinstance(key, str) or not key:
            raise ArmError(
                400, "InvalidSubscription", f"advancedFilters[{i}].key must be a non-empty string."
            )
        values = f.get("values", [f["value"]] if "value" in f else [])
        if not isinstance(values, list):
            raise ArmError(400, "InvalidSubscription", f"advancedFilters[{i}].values must be a list.")
        out.append({"operatorType": op, "key": key, "values": values})
    return out


def _lookup(event: dict[str, Any], key: str) -> Any:
    value: Any = event
    for part in key.split("."):
        if not isinstance(value, dict):
            return _MISSING
        found = [v for k, v in value.items() if k.lower() == part.lower()]
        if not found:
            return _MISSING
        value = found[0]
    return value


def matches(event: dict[str, Any], filters: list[dict[str, Any]]) -> bool:
    for f in filters:
        absent_ok, test = OPERATORS[f["operatorType"]]
        value = _lookup(event, f["key"])
        if value is _MISSING:
            if not absent_ok:
                return False
            continue
        if not test(value, f["values"]):
            return False
    return True


def deployed_filters(contract: dict[str, Any], *, client_id: str) -> list[dict[str, Any]]:
    """The advanced filters ``infra/modules/site.bicep`` creates, for an app identity's client id."""
    spec = contract.get("appEventFilter")
    if not isinstance(spec, dict):
        return []
    return [{"operatorType": spec["operatorType"], "key": spec["key"], "values": [client_id]}]
