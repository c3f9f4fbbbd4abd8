"""Azure Resource Graph in the simulator: `POST /providers/Microsoft.ResourceGraph/resources`.

What it answers (the documented KQL subset the app sends, and nothing more; anything else is a 400
`BadRequest` as Graph answers an unparsable query):

    resources
    | where type in~ ('microsoft.network/...', ...) [and resourceGroup in~ ('rg', ...)]
    | project col, col, ...

Behaviour copied from Azure (https://learn.microsoft.com/azure/governance/resource-graph/concepts/
work-with-data, .../guidance-for-throttled-requests; api-version 2021-03-01 of the REST API):
- rows come in pages of `options.$top` rows (at most 1,000; 100 when absent), with `$skipToken` for the
  next page;
  `resultFormat` `objectArray` (rows as objects) or `table` (columns + rows);
- the data LAGS ARM: a change becomes visible `lag` seconds of Azure's time after it was made (configurable,
  default 5 s; Azure: seconds to minutes), a deletion too. Like every Azure duration in the simulator
  (lro.DURATIONS) the lag is multiplied by the time scale (`--time-scale`): `lagSeconds` is Azure's lag,
  what a client waits in real time is `lagSeconds * timeScale` (GET /_sim/resourcegraph shows both). The
  quota window is not scaled: it limits how fast a client sends queries, in the client's real time, as
  ARM's throttling buckets (throttle.py) do;
- no ETag, and no live connection status (rows carry what ARM stored, never `connectionStatus`), and
  never a `sharedKey`;
- its own per-user quota, separate from ARM's buckets: `quota` queries per `window` seconds (default
  15 per 5 s) per caller; every answer carries `x-ms-user-quota-remaining` and
  `x-ms-user-quota-resets-after` (hh:mm:ss); over quota: 429 with `Retry-After`.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hybridnet_dev.armsim.ids import ArmError, ResourceId

if TYPE_CHECKING:
    from hybridnet_dev.armsim.sim import Simulator

API_VERSIONS = ("2021-03-01", "2022-10-01", "2024-04-01")
MAX_PAGE = 1000
DEFAULT_PAGE = 100
HIDDEN_PROPERTIES = ("sharedKey", "connectionStatus")

_WHERE = re.compile(
    r"^\s*resources\s*\|\s*where\s+type\s+in~\s*\((?P<types>[^)]*)\)"
    r"(?:\s+and\s+resourceGroup\s+in~\s*\((?P<groups>[^)]*)\))?"
    r"(?:\s*\|\s*project\s+(?P<project>[\w\s,]+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_LITERAL = re.compile(r"\s*'((?:[^'\\]|\\.)*)'\s*(?:,|$)")
COLUMNS = (
    "id",
    "name",
    "type",
    "tenantId",
    "kind",
    "location",
    "resourceGroup",
    "subscriptionId",
    "managedBy",
    "sku",
    "plan",
    "properties",
    "tags",
    "identity",
    "zones",
    "extendedLocation",
)


def _literals(text: str) -> list[str]:
    out: list[str] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _LITERAL.match(text, position)
        if not match:
            raise ArmError(
                400, "BadRequest", "Please provide below info when asking for support: query is invalid"
            )
        out.append(match.group(1).replace("\\'", "'").replace("\\\\", "\\"))
        position = match.end()
    return out


@dataclass(frozen=True)
class Query:
    types: frozenset[str]
    groups: frozenset[str] | None
    project: tuple[str, ...]


def parse_query(text: str) -> Query:
    match = _WHERE.match(text or "")
    if not match:
        raise ArmError(
            400,
            "BadRequest",
            "Please provide below info when asking for support: the query is not one this simulator "
            "answers (resources | where type in~ (...) [and resourceGroup in~ (...)] | project ...)",
        )
    project = tuple(c.strip() for c in (match.group("project") or "").split(",") if c.strip()) or COLUMNS
    unknown = [c for c in project if c not in COLUMNS]
    if unknown:
        raise ArmError(400, "BadRequest", f"Query is invalid: unknown column(s) {', '.join(unknown)}")
    groups = match.group("groups")
    return Query(
        types=frozenset(t.lower() for t in _literals(match.group("types"))),
        groups=None if groups is None else frozenset(g.lower() for g in _literals(groups)),
        project=project,
    )


@dataclass
class _Quota:
    used: int = 0
    window_start: float = 0.0


@dataclass
class GraphSettings:
    lag: float = 5.0
    quota: int = 15
    window: float = 5.0


@dataclass
class _Entry:
    visible: dict[str, Any] | None  # the row Graph shows (None: not yet, or deleted)
    pending: list[tuple[float, dict[str, Any] | None]] = field(default_factory=list)


class ResourceGraph:
    """The Graph view of the simulator's store, lagging it by `settings.lag` seconds."""

    def __init__(self, sim: Simulator, settings: GraphSettings | None = None) -> None:
        self.sim = sim
        self.settings = settings or GraphSettings()
        self._entries: dict[str, _Entry] = {}
        self._quotas: dict[str, _Quota] = {}
        self._lock = threading.Lock()
        self.queries = 0
        self.throttled = 0
        for record in sim.store.all():  # what exists when Graph starts is already indexed
            self._entries[record.rid.key] = _Entry(self._row(record.rid))
        sim.store.listeners.append(self._on_change)

    # --- the lagging index --------------------------------------------------------------------------
    def _row(self, rid: ResourceId) -> dict[str, Any] | None:
        record = self.sim.store.get(rid.parent)
        if record is None:
            return None
        body = copy.deepcopy(record.body)
        body.pop("etag", None)  # Graph has no ETag column
        properties = body.get("properties") or {}
        for hidden in HIDDEN_PROPERTIES:
            properties.pop(hidden, None)
        rid_top = record.rid
        return {
            "id": body.get("id") or str(rid_top),
            "name": body.get("name") or rid_top.name,
            "type": f"microsoft.network/{rid_top.type}".lower(),
            "tenantId": "00000000-0000-0000-0000-000000000000",
            "kind": "",
            "location": body.get("location", ""),
            "resourceGroup": rid_top.resource_group.lower(),
            "subscriptionId": rid_top.subscription,
            "managedBy": "",
            "sku": body.get("sku"),
            "plan": None,
            "properties": properties,
            "tags": body.get("tags") or {},
            "identity": None,
            "zones": body.get("zones"),
            "extendedLocation": None,
        }

    def _on_change(self, rid_text: str, operation: str) -> None:
        try:
            rid = ResourceId.parse(rid_text).parent
        except Exception:  # not a resource the index knows
            return
        row = None if operation == "delete" else self._row(rid)
        with self._lock:
            entry = self._entries.setdefault(rid.key, _Entry(None))
            entry.pending.append((time.monotonic() + self.lag_seconds(), row))

    def lag_seconds(self) -> float:
        """The lag in real seconds: Azure's (``settings.lag``) at the simulator's time scale."""
        return self.settings.lag * float(self.sim.operations.time_scale)

    def rows(self, subscriptions: list[str], query: Query) -> list[dict[str, Any]]:
        now = time.monotonic()
        subs = {s.lower() for s in subscriptions}
        out = []
        with self._lock:
            for key in sorted(self._entries):
                entry = self._entries[key]
                while entry.pending and entry.pending[0][0] <= now:
                    entry.visible = entry.pending.pop(0)[1]
                row = entry.visible
                if row is None or row["type"] not in query.types:
                    continue
                if subs and str(row["subscriptionId"]).lower() not in subs:
                    continue
                if query.groups is not None and row["resourceGroup"] not in query.groups:
                    continue
                out.append({c: copy.deepcopy(row.get(c)) for c in query.project})
        return out

    # --- the quota ----------------------------------------------------------------------------------
    def _charge(self, caller: str) -> tuple[bool, int, float]:
        """(allowed, remaining, seconds until the window resets) for one query by `caller`."""
        now = time.monotonic()
        with self._lock:
            quota = self._quotas.setdefault(caller, _Quota(0, now))
            if now - quota.window_start >= self.settings.window:
                quota.used, quota.window_start = 0, now
            resets = max(0.0, quota.window_start + self.settings.window - now)
            if quota.used >= self.settings.quota:
                return False, 0, resets
            quota.used += 1
            return True, self.settings.quota - quota.used, resets

    # --- HTTP ---------------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.Response:
        if request.query.get("api-version") not in API_VERSIONS:
            raise ArmError(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{request.query.get('api-version')}' is invalid. The supported versions "
                f"are '{', '.join(API_VERSIONS)}'.",
            )
        caller = request.headers.get("Authorization", "")[-32:]
        allowed, remaining, resets = self._charge(caller)
        headers = {
            "x-ms-user-quota-remaining": str(remaining),
            "x-ms-user-quota-resets-after": _hms(resets),
        }
        if not allowed:
            self.throttled += 1
            body = {
                "error": {
                    "code": "RateLimiting",
                    "message": "Please provide below info when asking for support: the user quota is exhausted",
                }
            }
            headers["Retry-After"] = str(max(1, int(resets + 0.999)))
            return web.json_response(body, status=429, headers=headers)
        self.queries += 1
        try:
            payload = await request.json()
        except ValueError:
            raise ArmError(400, "BadRequest", "The request body is not valid JSON.") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            raise ArmError(400, "BadRequest", "The request content is missing the required 'query'.")
        query = parse_query(payload["query"])
        options = payload.get("options") or {}
        top = int(options.get("$top") or DEFAULT_PAGE)
        if not 1 <= top <= MAX_PAGE:
            raise ArmError(400, "BadRequest", f"$top must be between 1 and {MAX_PAGE}")
        skip = _skip(options.get("$skipToken")) + int(options.get("$skip") or 0)
        rows = self.rows(list(payload.get("subscriptions") or []), query)
        chunk = rows[skip : skip + top]
        nxt = skip + top if skip + top < len(rows) else None
        data: Any = chunk
        if options.get("resultFormat") == "table":
            data = {
                "columns": [{"name": c, "type": "object"} for c in query.project],
                "rows": [[row[c] for c in query.project] for row in chunk],
            }
        body = {
            "totalRecords": len(rows),
            "count": len(chunk),
            "resultTruncated": "false",
            "data": data,
            "facets": [],
        }
        if nxt is not None:
            body["$skipToken"] = base64.b64encode(json.dumps({"o": nxt}).encode()).decode()
        return web.json_response(body, headers=headers)

    # --- control ------------------------------------------------------------------------------------
    async def get_settings(self, request: web.Request) -> web.Response:
        return web.json_response(self._describe())

    async def put_settings(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body, dict) or set(body) - {"lagSeconds", "quota", "windowSeconds"}:
            return web.json_response(
                {"error": "expected {lagSeconds, quota, windowSeconds} (any of them)"}, status=400
            )
        try:
            lag = float(body.get("lagSeconds", self.settings.lag))
            quota = int(body.get("quota", self.settings.quota))
            window = float(body.get("windowSeconds", self.settings.window))
        except (TypeError, ValueError):
            return web.json_response(
                {"error": "lagSeconds/windowSeconds are numbers, quota an integer"}, status=400
            )
        if lag < 0 or quota < 1 or window <= 0:
            return web.json_response({"error": "lagSeconds >= 0, quota >= 1, windowSeconds > 0"}, status=400)
        self.settings = GraphSettings(lag=lag, quota=quota, window=window)
        return web.json_response(self._describe())

    def _describe(self) -> dict[str, Any]:
        return {
            "lagSeconds": self.settings.lag,
            "timeScale": self.sim.operations.time_scale,
            "effectiveLagSeconds": self.lag_seconds(),
            "quota": self.settings.quota,
            "windowSeconds": self.settings.window,
            "queries": self.queries,
            "throttled": self.throttled,
        }


def _skip(token: Any) -> int:
    if not token:
        return 0
    try:
        return int(json.loads(base64.b64decode(str(token)))["o"])
    except (ValueError, KeyError, TypeError):
        raise ArmError(400, "BadRequest", "The $skipToken is invalid.") from None


def _hms(seconds: float) -> str:
    whole = int(seconds + 0.999)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


_graphs: weakref.WeakKeyDictionary[Any, ResourceGraph] = weakref.WeakKeyDictionary()


def graph_of(sim: Simulator) -> ResourceGraph:
    """The simulator's one Resource Graph (shared by the ARM listener and the control API)."""
    graph = _graphs.get(sim)
    if graph is None:
        graph = _graphs[sim] = ResourceGraph(sim)
    return graph


def register(app: web.Application, sim: Simulator) -> None:
    """On the ARM listener, before its catch-all route."""
    app.router.add_post("/providers/Microsoft.ResourceGraph/resources", graph_of(sim).handle)


def register_control(app: web.Application, sim: Simulator) -> None:
    app.router.add_get("/_sim/resourcegraph", graph_of(sim).get_settings)
    app.router.add_put("/_sim/resourcegraph", graph_of(sim).put_settings)
