"""Build the health report from plain inputs (pure: no I/O, no Azure SDK).

Inputs: the snapshot the failover poll persists (shared.report.snapshot), and per site the latest
reconcile run, the newest failover events and the key rotation status, plus `now`.

Status of a site, most severe first:
    outage    no working path (neither connection Connected)
    failover  the VPN carries traffic (ExpressRoute down)
    degraded  ExpressRoute carries but something needs attention: the VPN preferred for a prefix (a more
              specific route), the private peering not redundant (one BGP session down), a declared
              prefix carried by no path, VPN backup down, a gateway not
              Succeeded or missing, connections unreadable, no or stale observation, open critical/high
              drift, a failed reconcile run, a rotation rolled back or overdue, the key not matching
              Key Vault
    healthy   none of the above
The overall status is the most severe site status; its reason names the sites that are not healthy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.report.schema import SCHEMA_VERSION
from shared.report.snapshot import PATHS

STATUSES = ("healthy", "degraded", "failover", "outage")
RANK = {status: rank for rank, status in enumerate(STATUSES)}
SEVERITIES = ("critical", "high", "medium", "low")
TIMELINE_DAYS = 30
RECENT_EVENTS = 10
MAX_FINDINGS = 50
ATTENTION_SEVERITIES = ("critical", "high")
FAILED_ROTATION_STATES = ("rolled-back",)
EVENT_FIELDS = (
    "eventId",
    "kind",
    "fromPath",
    "toPath",
    "backupUp",
    "startedAt",
    "detectedAt",
    "detectedBy",
    "expressRouteStatus",
    "vpnStatus",
    "durationSeconds",
    "subject",
)
FINDING_FIELDS = ("severity", "kind", "fix", "resourceId", "field", "message")
RUN_FIELDS = ("runId", "trigger", "mode", "outcome", "startedAt", "finishedAt", "error")
ROTATION_FIELDS = (
    "state",
    "keyAgeDays",
    "lastRotatedAt",
    "adoptedAt",
    "nextDueAt",
    "keyMatchesVault",
    "detail",
)
NOT_ENABLED_NOTICE = (
    "key rotation is not enabled for this site (spec: rotation.enabled false): its IPsec key is adopted "
    "and watched but never rotated, so it only grows older. Enable it once the on-premises appliance "
    "takes its key from Key Vault; before that, a new key would take the VPN backup down"
)
REPORT_MODE_NOTICE = (
    "HYBRIDNET_ROTATION_MODE is report: due keys are recorded, not rotated (nothing is written to Azure)"
)
LABEL = {"expressRoute": "ExpressRoute", "vpn": "VPN"}


@dataclass(frozen=True)
class SiteInputs:
    """What the report shows about one site besides the snapshot (all from Table Storage)."""

    name: str
    on_premises_prefixes: list[str] = field(default_factory=list)
    latest_run: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)  # newest first
    rotation: dict[str, Any] = field(default_factory=lambda: {"state": "unknown"})
    # {"last": {...} | None, "lastPassAt": ISO | None, "maxAgeDays": number | None} (shared.services.drill)
    drill: dict[str, Any] = field(default_factory=dict)


def _dt(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _age(value: Any, now: datetime) -> float | None:
    moment = _dt(value)
    return None if moment is None else round(max(0.0, (now - moment).total_seconds()), 3)


def _pick(source: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: source.get(key) for key in keys}


def _gateway(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": raw.get("name"),
        "exists": bool(raw.get("exists")),
        "sku": raw.get("sku"),
        "provisioningState": raw.get("provisioningState"),
        "error": raw.get("error"),
    }


def _connection(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": raw.get("name"),
        "exists": bool(raw.get("exists")),
        "connectionStatus": raw.get("connectionStatus"),
        "provisioningState": raw.get("provisioningState"),
        "ingressBytes": raw.get("ingressBytes"),
        "egressBytes": raw.get("egressBytes"),
        "statusSince": raw.get("statusSince"),
        "error": raw.get("error"),
    }


# Outcomes of a run that applied fixes and observed again: a finding it saw that is no longer there
# was fixed by it. Any other outcome fixed nothing it can vouch for.
REOBSERVED_OUTCOMES = ("fixed", "drift-remains", "partial")


def _finding_identity(finding: dict[str, Any]) -> tuple[str, str, str]:
    return (str(finding.get("kind")), str(finding.get("resourceId")), str(finding.get("field")))


def _finding_status(run: dict[str, Any]) -> Callable[[dict[str, Any]], str]:
    """`fixed` or `open` for each finding of the run."""
    remaining = run.get("remaining")
    if not isinstance(remaining, list):  # a row recorded before `remaining` was: all or nothing
        return lambda _f: "fixed" if run.get("outcome") == "fixed" else "open"
    still = {_finding_identity(f) for f in remaining if isinstance(f, dict)}
    reobserved = run.get("outcome") in REOBSERVED_OUTCOMES
    return lambda f: "fixed" if reobserved and _finding_identity(f) not in still else "open"


def _drift(run: dict[str, Any] | None) -> dict[str, Any]:
    if run is None:
        return {"latestRun": None, "openFindings": {"total": 0, "bySeverity": {}}, "findings": []}
    by_severity = {
        s: int(n) for s, n in (run.get("openBySeverity") or {}).items() if isinstance(n, int | float)
    }
    status = _finding_status(run)
    findings = [{**f, "status": status(f)} for f in run.get("findings") or [] if isinstance(f, dict)]
    order = {s: i for i, s in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: (f["status"] != "open", order.get(str(f.get("severity")), len(order))))
    return {
        "latestRun": _pick(run, RUN_FIELDS),
        "openFindings": {"total": sum(by_severity.values()), "bySeverity": by_severity},
        "findings": [
            {k: (None if f.get(k) is None else str(f.get(k))) for k in (*FINDING_FIELDS, "status")}
            for f in findings[:MAX_FINDINGS]
        ],
    }


def _failovers(events: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    start = now - timedelta(days=TIMELINE_DAYS)
    last = events[0] if events else None
    window = [e for e in events if (_dt(e.get("detectedAt")) or start) > start]
    return {
        "lastEventAt": last["detectedAt"] if last else None,
        "lastEventKind": last["kind"] if last else None,
        "secondsSinceLast": _age(last["detectedAt"], now) if last else None,
        "countLast30Days": len(window),
        "recent": [_pick(e, EVENT_FIELDS) for e in events[:RECENT_EVENTS]],
        "timeline": {
            "from": start.isoformat(),
            "to": now.isoformat(),
            "events": [
                {
                    "at": e["detectedAt"],
                    "kind": e["kind"],
                    "fromPath": e["fromPath"],
                    "toPath": e["toPath"],
                    "durationSeconds": e.get("durationSeconds"),
                }
                for e in window
            ],
        },
    }


def _learned_routes(events: list[dict[str, Any]], active_path: str) -> dict[str, Any] | None:
    """The newest recorded BGP evidence (the gateways' learned on-premises routes, read when a transition
    was recorded: getLearnedRoutes is a POST, never issued per report)."""
    for event in events:
        evidence = event.get("evidence") or {}
        er, vpn = evidence.get("onPremRoutesViaExpressRoute"), evidence.get("onPremRoutesViaVpn")
        if er is None and vpn is None:
            continue
        carrier = "expressroute" if er else "vpn" if vpn else "none"
        return {
            "at": event["detectedAt"],
            "eventId": event.get("eventId"),
            "onPremRoutesViaExpressRoute": er,
            "onPremRoutesViaVpn": vpn,
            "carrier": carrier,
            "matchesActivePath": carrier == active_path,
        }
    return None


def _rotation(raw: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[str]]:
    rotation = {k: raw.get(k) for k in ROTATION_FIELDS}
    rotation["state"] = str(raw.get("state") or "unknown")
    rotation["enabled"] = raw.get("enabled") is True
    rotation["mode"] = raw.get("mode") if raw.get("mode") in ("report", "enforce") else None
    if not rotation["enabled"]:
        rotation["notice"] = NOT_ENABLED_NOTICE
    elif rotation["mode"] == "report":
        rotation["notice"] = REPORT_MODE_NOTICE
    else:
        rotation["notice"] = None
    reasons = []
    if rotation["state"] in FAILED_ROTATION_STATES:
        reasons.append(f"key rotation {rotation['state']}")
    due = _dt(rotation.get("nextDueAt"))
    rotation["overdue"] = bool(due and due < now)
    if rotation["overdue"]:
        reasons.append(f"shared key rotation overdue since {rotation['nextDueAt']}")
    if rotation.get("keyMatchesVault") is False:
        reasons.append("the connection's shared key does not match Key Vault")
    return rotation, reasons


def _drill(raw: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[str]]:
    """The last failover drill and days since the last passing one; degraded past maxAgeDays (when set)."""
    last_pass = _dt(raw.get("lastPassAt"))
    days = round((now - last_pass).total_seconds() / 86400, 2) if last_pass else None
    max_age = raw.get("maxAgeDays")
    degraded = max_age is not None and (days is None or days > max_age)
    drill = {
        "last": raw.get("last"),
        "lastPassAt": raw.get("lastPassAt"),
        "daysSincePass": days,
        "maxAgeDays": max_age,
        "degraded": degraded,
    }
    reasons = []
    if degraded:
        reasons.append(
            f"no passing failover drill in the last {max_age:g} days"
            + (f" (last passed {days:g} days ago)" if days is not None else " (none passed)")
        )
    return drill, reasons


def _carrier_text(carrier: dict[str, Any] | None) -> str:
    if not carrier:
        return "nothing"
    path = "ExpressRoute" if carrier.get("path") == "expressroute" else "the VPN"
    return f"{path} ({carrier.get('connection')}, route {carrier.get('prefix')})"


def _route_reasons(routes: dict[str, Any] | None, status: str) -> list[str]:
    """Plain reasons from the latest route check's confirmed facts (the ones the history records)."""
    if not routes:
        return []
    active = set(routes.get("activeFacts") or [])
    rows = {r.get("prefix"): r for r in routes.get("prefixes") or [] if isinstance(r, dict)}
    reasons: list[str] = []
    for fact in sorted(active):
        kind, _, subject = fact.partition(" ")
        row = rows.get(subject) or {}
        if kind == "backup-preferred":
            reasons.append(
                f"backup preferred for {subject}: production traffic crosses the internet because the VPN "
                f"announces a more specific route than ExpressRoute (carried by {_carrier_text(row.get('carriedBy'))}, "
                f"ExpressRoute's route: {_carrier_text(row.get('alternative'))})"
            )
        elif kind == "redundancy-lost":
            red = next((r for r in routes.get("redundancy") or [] if r.get("gateway") == subject), {})
            down = [s.get("neighbor") for s in red.get("sessions") or [] if s.get("state") != "Connected"]
            reasons.append(
                f"ExpressRoute private peering on {subject} is not redundant: {red.get('connected')} of "
                f"{red.get('total')} BGP sessions up (down: {', '.join(map(str, down)) or 'unknown'}); the "
                "next single failure is an outage"
            )
        elif kind == "prefix-unreachable" and status != "outage":
            reasons.append(
                f"on-premises prefix {subject} is carried by no path (neither ExpressRoute nor the VPN)"
            )
    return reasons


def _routes(inputs: SiteInputs, entry: dict[str, Any] | None, active_path: str) -> dict[str, Any]:
    view = (entry or {}).get("routes") or {}
    return {
        "onPremPrefixes": list(inputs.on_premises_prefixes),
        "carrierByConnectionStatus": active_path,
        "learnedRoutes": _learned_routes(inputs.events, active_path),
        "checkedAt": view.get("checkedAt"),
        "withdrawn": [p for p in view.get("withdrawn") or [] if p in ("expressroute", "vpn")],
        "prefixes": [
            {k: r.get(k) for k in ("prefix", "declared", "state", "carriedBy", "alternative", "since")}
            for r in view.get("prefixes") or []
            if isinstance(r, dict)
        ],
        "redundancy": [
            {k: r.get(k) for k in ("gateway", "state", "connected", "total", "sessions")}
            for r in view.get("redundancy") or []
            if isinstance(r, dict)
        ],
        "errors": {str(k): str(v) for k, v in (view.get("errors") or {}).items()},
    }


def _path_reasons(entry: dict[str, Any]) -> tuple[str, list[str]]:
    """The site status from its observed paths, and the reasons."""
    connections, gateways = entry["connections"], entry["gateways"]
    er, vpn = connections["expressRoute"], connections["vpn"]

    def state(c: dict[str, Any]) -> str:
        return c.get("connectionStatus") or ("missing" if not c.get("exists") else "unknown")

    if entry.get("error"):
        return "degraded", [f"connections could not be read: {entry['error']}"]
    reasons: list[str] = []
    path = entry.get("activePath")
    if path == "none":
        status = "outage"
        reasons.append(
            f"no working path: ExpressRoute connection {er.get('name')} {state(er)}, "
            f"VPN connection {vpn.get('name')} {state(vpn)}"
        )
    elif path == "vpn":
        status = "failover"
        withdrawn = "expressroute" in ((entry.get("routes") or {}).get("withdrawn") or [])
        if withdrawn and er.get("connectionStatus") == "Connected":
            reasons.append(
                f"the VPN carries traffic: ExpressRoute connection {er.get('name')} is Connected but its "
                "routes are withdrawn (BGP announces no on-premises prefix)"
            )
        else:
            reasons.append(f"the VPN carries traffic: ExpressRoute connection {er.get('name')} {state(er)}")
    else:
        status = "healthy"
        if vpn.get("connectionStatus") != "Connected":
            reasons.append(f"the VPN backup is down: connection {vpn.get('name')} {state(vpn)}")
    for key in PATHS:
        gateway = gateways[key]
        if gateway.get("error"):
            reasons.append(f"{LABEL[key]} gateway {gateway.get('name')} unreadable: {gateway['error']}")
        elif not gateway.get("exists"):
            reasons.append(f"{LABEL[key]} gateway {gateway.get('name')} missing")
        elif gateway.get("provisioningState") != "Succeeded":
            reasons.append(
                f"{LABEL[key]} gateway {gateway.get('name')} provisioning state {gateway.get('provisioningState')}"
            )
    return status, reasons


def site_report(
    inputs: SiteInputs, entry: dict[str, Any] | None, *, now: datetime, stale_after: float
) -> dict[str, Any]:
    reasons: list[str] = []
    if entry is None:
        status, age, stale = "degraded", None, True
        reasons.append("not observed yet: no snapshot written by the failover poll")
        active_path, condition = "unknown", None
        gateways = connections = None
    else:
        status, reasons = _path_reasons(entry)
        if not entry.get("error"):
            reasons += _route_reasons(entry.get("routes"), status)
        age = _age(entry.get("observedAt"), now)
        stale = age is None or age > stale_after
        if stale:
            reasons.append(
                f"observation is {age if age is None else round(age)}s old (stale after {stale_after:g}s)"
            )
        active_path = "unknown" if entry.get("error") else entry.get("activePath") or "unknown"
        condition = entry.get("condition")
        gateways = {k: _gateway(entry["gateways"][k]) for k in PATHS}
        connections = {k: _connection(entry["connections"][k]) for k in PATHS}
    drift = _drift(inputs.latest_run)
    attention = sum(drift["openFindings"]["bySeverity"].get(s, 0) for s in ATTENTION_SEVERITIES)
    if attention:
        reasons.append(f"{attention} open critical/high drift finding(s)")
    run = drift["latestRun"]
    if run and run.get("outcome") in ("error", "partial"):
        reasons.append(f"the latest reconcile run ended {run['outcome']}")
    rotation, rotation_reasons = _rotation(inputs.rotation, now)
    reasons += rotation_reasons
    drill, drill_reasons = _drill(inputs.drill, now)
    reasons += drill_reasons
    if reasons and status == "healthy":
        status = "degraded"
    return {
        "name": inputs.name,
        "status": status,
        "reason": "; ".join(reasons) if reasons else "ExpressRoute carries traffic, the VPN backup is up",
        "reasons": reasons,
        "condition": condition,
        "activePath": active_path,
        "observedAt": entry.get("observedAt") if entry else None,
        "observedBy": entry.get("observedBy") if entry else None,
        "ageSeconds": age,
        "stale": stale,
        "error": entry.get("error") if entry else None,
        "gateways": gateways,
        "connections": connections,
        "routes": _routes(inputs, entry, active_path),
        "drift": drift,
        "failovers": _failovers(inputs.events, now),
        "drill": drill,
        "keyRotation": rotation,
    }


def build_report(
    snapshot: dict[str, Any] | None,
    sites: list[SiteInputs],
    *,
    now: datetime,
    stale_after: float,
    refresh: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole report (JSON-ready), sites in the order given (the spec's)."""
    entries = (snapshot or {}).get("sites") or {}
    reports = [site_report(s, entries.get(s.name), now=now, stale_after=stale_after) for s in sites]
    taken_at = (snapshot or {}).get("takenAt")
    stale = any(r["stale"] for r in reports) or snapshot is None
    status = max((r["status"] for r in reports), key=RANK.__getitem__, default="healthy")
    troubled = sorted((r for r in reports if r["status"] != "healthy"), key=lambda r: -RANK[r["status"]])
    if troubled:
        reason = "; ".join(f"{r['name']}: {r['status']} ({r['reason']})" for r in troubled)
    elif reports:
        reason = f"all {len(reports)} site(s) healthy: ExpressRoute carries traffic, the VPN backup is up"
    else:
        reason = "no sites in the spec"
    not_enabled = [r["name"] for r in reports if not r["keyRotation"]["enabled"]]
    return {
        "schemaVersion": SCHEMA_VERSION,
        "generatedAt": now.isoformat(),
        "status": status,
        "reason": reason,
        "stale": stale,
        "snapshot": {
            "takenAt": taken_at,
            "source": (snapshot or {}).get("source"),
            "ageSeconds": _age(taken_at, now),
            "staleAfterSeconds": stale_after,
        },
        "refresh": refresh or {"requested": False, "performed": False, "detail": ""},
        "keyRotation": {
            "notEnabled": not_enabled,
            "detail": (
                f"key rotation is not enabled for {len(not_enabled)} site(s): {', '.join(not_enabled)}. "
                "Their keys are never rotated; enable rotation.enabled per site once its appliance "
                "takes its key from Key Vault"
                if not_enabled
                else "key rotation is enabled for every site"
            ),
        },
        "sites": reports,
    }


def http_status(report: dict[str, Any], unavailable_on: tuple[str, ...]) -> int:
    """503 when a site has no working path ("outage") or the data is stale ("stale"), as configured."""
    if "outage" in unavailable_on and any(s["activePath"] == "none" for s in report["sites"]):
        return 503
    if "stale" in unavailable_on and report["stale"]:
        return 503
    return 200
