"""The health report as one self-contained HTML page (pure): inline CSS and inline SVG, no scripts, no
external assets, so it works offline under `CONTENT_SECURITY_POLICY`. Every value from the report is
escaped (names come from the spec and from ARM)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from html import escape
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

COLORS = {"healthy": "#1e7b34", "degraded": "#b26a00", "failover": "#c2410c", "outage": "#b91c1c"}
KIND_COLORS = {
    "failover": "#c2410c",
    "failback": "#1e7b34",
    "outage": "#b91c1c",
    "recovery": "#1e7b34",
    "backup-lost": "#b26a00",
    "backup-restored": "#2563eb",
}

CSS = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2937;background:#f3f4f6}
main{max-width:1100px;margin:0 auto;padding:16px}
.banner{color:#fff;padding:18px 24px}
.banner h1{margin:0;font-size:30px;letter-spacing:.5px}
.banner p{margin:6px 0 0}
.s-healthy{background:#1e7b34}.s-degraded{background:#b26a00}.s-failover{background:#c2410c}.s-outage{background:#b91c1c}
.stale{background:#fef3c7;color:#78350f;padding:8px 24px;font-weight:600}
section.site{background:#fff;border-radius:8px;margin:16px 0;padding:16px 20px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{margin:0 0 4px;font-size:20px}h3{margin:18px 0 6px;font-size:15px}
.badge{display:inline-block;color:#fff;border-radius:4px;padding:1px 8px;font-size:12px;vertical-align:middle;text-transform:uppercase}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top}
th{background:#f9fafb;font-weight:600}
.muted{color:#6b7280}
.sev-critical{color:#b91c1c;font-weight:700}.sev-high{color:#c2410c;font-weight:700}
.sev-medium{color:#b26a00}.sev-low{color:#4b5563}
svg{display:block;max-width:100%;height:auto}
footer{color:#6b7280;font-size:12px;margin:12px 0 24px}
time{border-bottom:1px dotted #9ca3af;cursor:help}
tr.fixed td{color:#6b7280}
.st-fixed{color:#1e7b34;font-weight:700}.st-open{color:#b91c1c;font-weight:700}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def bytes_text(value: Any) -> str:
    if not isinstance(value, int | float):
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def age_text(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "unknown"
    whole = int(seconds)
    if whole < 120:
        return f"{whole}s"
    if whole < 7200:
        return f"{whole // 60}m"
    if whole < 172800:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600}h"


@dataclass(frozen=True)
class Times:
    """How the page shows a moment: readable, in `zone`, with its age against `now`; the ISO value
    stays in `<time datetime>` and in the hover title."""

    now: datetime | None = None
    zone: tzinfo = UTC

    def moment(self, value: Any) -> datetime | None:
        if not isinstance(value, str) or not value:
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def readable(self, value: Any) -> str:
        """`2 Dec 2026 04:26:30 UTC (3m ago)` (plain text, not escaped)."""
        moment = self.moment(value)
        if moment is None:
            return "—" if value in (None, "") else str(value)
        local = moment.astimezone(self.zone)
        text = f"{local.day} {local:%b %Y %H:%M:%S} {local.tzname() or ''}".rstrip()
        if self.now is not None:
            delta = (self.now - moment).total_seconds()
            text += f" ({age_text(delta)} ago)" if delta >= 0 else f" (in {age_text(-delta)})"
        return text

    def show(self, value: Any) -> str:
        """A `<time>` element: readable text, the ISO value on hover (escaped)."""
        moment = self.moment(value)
        if moment is None:
            return _e("—" if value in (None, "") else value)
        iso = moment.isoformat()
        return f'<time datetime="{_e(iso)}" title="{_e(iso)}">{_e(self.readable(value))}</time>'


def time_zone(name: str | None) -> tzinfo:
    """The zone times are shown in: an IANA name (as WEBSITE_TIME_ZONE holds on Linux plans), else UTC."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _path_state(site: dict[str, Any], key: str) -> tuple[str, str, bool]:
    """(color, label, dashed) of one path's line."""
    connection = (site.get("connections") or {}).get(key) or {}
    status = connection.get("connectionStatus") or (
        "missing" if connection and not connection.get("exists") else "unknown"
    )
    active = site.get("activePath") == ("expressroute" if key == "expressRoute" else "vpn")
    if status == "Connected":
        return (
            ("#1e7b34", f"{status} — carries traffic", False)
            if active
            else ("#2563eb", f"{status} — standby", True)
        )
    return "#b91c1c", f"{status} — down", True


def _paths_svg(site: dict[str, Any]) -> str:
    er_color, er_label, er_dashed = _path_state(site, "expressRoute")
    vpn_color, vpn_label, vpn_dashed = _path_state(site, "vpn")
    names = site.get("connections") or {}
    er_name = (names.get("expressRoute") or {}).get("name") or "ExpressRoute"
    vpn_name = (names.get("vpn") or {}).get("name") or "VPN"

    def line(y: int, color: str, dashed: bool, title: str, label: str, name: str) -> str:
        dash = ' stroke-dasharray="10 7"' if dashed else ""
        return (
            f'<path d="M190 {y} L810 {y}" stroke="{color}" stroke-width="8" fill="none"{dash}/>'
            f'<text x="500" y="{y - 12}" text-anchor="middle" font-size="15" font-weight="700" fill="{color}">'
            f"{_e(title)}: {_e(label)}</text>"
            f'<text x="500" y="{y + 24}" text-anchor="middle" font-size="12" fill="#4b5563">{_e(name)}</text>'
        )

    return (
        '<svg viewBox="0 0 1000 200" role="img" aria-label="paths" xmlns="http://www.w3.org/2000/svg">'
        '<rect x="10" y="40" width="180" height="120" rx="10" fill="#e5e7eb" stroke="#6b7280"/>'
        '<text x="100" y="95" text-anchor="middle" font-size="16" font-weight="700">On-premises</text>'
        f'<text x="100" y="118" text-anchor="middle" font-size="12">{_e(", ".join((site.get("routes") or {}).get("onPremPrefixes") or []))}</text>'
        '<rect x="810" y="40" width="180" height="120" rx="10" fill="#dbeafe" stroke="#2563eb"/>'
        '<text x="900" y="105" text-anchor="middle" font-size="16" font-weight="700">Azure VNet</text>'
        + line(70, er_color, er_dashed, "ExpressRoute", er_label, er_name)
        + line(150, vpn_color, vpn_dashed, "VPN (IPsec)", vpn_label, vpn_name)
        + "</svg>"
    )


MARK_R = 7  # radius of an event's mark on the timeline
MARK_GAP = 2 * MARK_R + 3  # marks closer than this would overlap: the later one goes a lane up
LANE = 18
MAX_LANES = 5  # beyond: one "+N" mark listing the rest in its title


def _timeline_svg(failovers: dict[str, Any], times: Times) -> str:
    """The last 30 days; events too close to tell apart (the same minute, a flapping link) are stacked
    in lanes above each other, each mark with its own title."""
    timeline = failovers.get("timeline") or {}
    try:
        start = datetime.fromisoformat(timeline["from"])
        end = datetime.fromisoformat(timeline["to"])
    except (KeyError, TypeError, ValueError):
        return ""
    span = max(1.0, (end - start).total_seconds())
    placed: list[tuple[float, int, dict[str, Any]]] = []  # x, lane, event
    overflow: list[tuple[float, list[dict[str, Any]]]] = []  # x of a "+N" mark, its events
    lane_ends: list[float] = []  # x of the last mark in each lane
    dated = []
    for event in timeline.get("events") or []:
        try:
            dated.append((datetime.fromisoformat(event["at"]), event))
        except (KeyError, TypeError, ValueError):
            continue
    for at, event in sorted(dated, key=lambda pair: pair[0]):
        x = 20 + 960 * min(1.0, max(0.0, (at - start).total_seconds() / span))
        lane = next((i for i, last in enumerate(lane_ends) if x - last >= MARK_GAP), None)
        if lane is None and len(lane_ends) < MAX_LANES:
            lane_ends.append(x)
            lane = len(lane_ends) - 1
        if lane is None:
            if overflow and x - overflow[-1][0] < MARK_GAP:
                overflow[-1][1].append(event)
            else:
                overflow.append((x, [event]))
            continue
        lane_ends[lane] = x
        placed.append((x, lane, event))
    rows = max(1, len(lane_ends)) + (1 if overflow else 0)
    axis = 40 + (rows - 1) * LANE

    def label(event: dict[str, Any]) -> str:
        return (
            f"{event.get('kind')} {event.get('fromPath')} → {event.get('toPath')} at "
            f"{times.readable(event.get('at'))} ({event.get('at')})"
        )

    marks = [
        f'<circle cx="{x:.1f}" cy="{axis - lane * LANE}" r="{MARK_R}" '
        f'fill="{KIND_COLORS.get(str(event.get("kind")), "#374151")}" stroke="#fff" stroke-width="1.5">'
        f"<title>{_e(label(event))}</title></circle>"
        for x, lane, event in placed
    ]
    for x, events in overflow:
        titles = "\n".join(label(e) for e in events[:20]) + (
            f"\n… and {len(events) - 20} more" if len(events) > 20 else ""
        )
        marks.append(
            f'<text x="{x:.1f}" y="{axis - len(lane_ends) * LANE + 4}" text-anchor="middle" font-size="12" '
            f'font-weight="700" fill="#374151">+{len(events)}<title>{_e(titles)}</title></text>'
        )
    ticks = "".join(
        f'<line x1="{20 + 960 * d / 30:.1f}" y1="{axis - 10}" x2="{20 + 960 * d / 30:.1f}" y2="{axis + 10}" '
        'stroke="#d1d5db"/>'
        for d in range(0, 31, 5)
    )
    return (
        f'<svg viewBox="0 0 1000 {axis + 40}" role="img" aria-label="failover timeline" '
        'xmlns="http://www.w3.org/2000/svg">'
        f'<line x1="20" y1="{axis}" x2="980" y2="{axis}" stroke="#9ca3af" stroke-width="2"/>'
        + ticks
        + "".join(marks)
        + f'<text x="20" y="{axis + 32}" font-size="12" fill="#6b7280">30 days ago</text>'
        f'<text x="980" y="{axis + 32}" font-size="12" text-anchor="end" fill="#6b7280">now</text>'
        "</svg>"
    )


def _resources_table(site: dict[str, Any], times: Times) -> str:
    gateways = site.get("gateways")
    connections = site.get("connections")
    if not gateways or not connections:
        return '<p class="muted">Not observed yet.</p>'
    rows = []
    for key, label in (("expressRoute", "ExpressRoute"), ("vpn", "VPN")):
        g, c = gateways[key], connections[key]
        rows.append(
            f"<tr><td>{label} gateway</td><td>{_e(g.get('name'))}</td><td>{_e(g.get('sku') or '—')}</td>"
            f"<td>{_e(g.get('provisioningState') or ('missing' if not g.get('exists') else '—'))}</td>"
            f"<td>—</td><td>—</td><td>—</td><td>{_e(g.get('error') or '')}</td></tr>"
        )
        rows.append(
            f"<tr><td>{label} connection</td><td>{_e(c.get('name'))}</td><td>—</td>"
            f"<td>{_e(c.get('provisioningState') or ('missing' if not c.get('exists') else '—'))}</td>"
            f"<td>{_e(c.get('connectionStatus') or '—')}</td>"
            f"<td>{_e(bytes_text(c.get('ingressBytes')))} / {_e(bytes_text(c.get('egressBytes')))}</td>"
            f"<td>{times.show(c.get('statusSince'))}</td><td>{_e(c.get('error') or '')}</td></tr>"
        )
    return (
        "<table><tr><th>Resource</th><th>Name</th><th>SKU</th><th>Provisioning</th><th>Status</th>"
        "<th>In / out</th><th>Status since</th><th>Error</th></tr>" + "".join(rows) + "</table>"
    )


def _carrier(c: Any) -> str:
    if not isinstance(c, dict):
        return "—"
    path = "ExpressRoute" if c.get("path") == "expressroute" else "VPN"
    return f'{_e(path)} {_e(c.get("connection"))} <span class="muted">({_e(c.get("prefix"))})</span>'


def _routes_table(site: dict[str, Any], times: Times) -> str:
    """The per-prefix table of the latest route check and the private peering's redundancy."""
    routes = site.get("routes") or {}
    rows = routes.get("prefixes") or []
    if not routes.get("checkedAt"):
        return '<p class="muted">No route check yet (learned routes and BGP peers are read on their own schedule).</p>'
    more = ' <span class="muted">(more specific)</span>'
    body = "".join(
        f'<tr class="r-{_e(r.get("state"))}"><td>{_e(r.get("prefix"))}{"" if r.get("declared") else more}</td>'
        f"<td>{_e(r.get('state'))}</td><td>{_carrier(r.get('carriedBy'))}</td>"
        f"<td>{_carrier(r.get('alternative'))}</td><td>{times.show(r.get('since'))}</td></tr>"
        for r in rows
    )
    redundancy = "".join(
        f"<li>Private peering on {_e(r.get('gateway'))}: <strong>{_e(r.get('state'))}</strong> "
        f"({_e(r.get('connected'))} of {_e(r.get('total'))} BGP sessions up)</li>"
        for r in routes.get("redundancy") or []
    )
    withdrawn = routes.get("withdrawn") or []
    note = (
        f"<p><strong>Routes withdrawn</strong> on {_e(', '.join(withdrawn))} while its connection is Connected.</p>"
        if withdrawn
        else ""
    )
    return (
        f'<p class="muted">Route check {times.show(routes.get("checkedAt"))}.</p>'
        + note
        + "<table><tr><th>Prefix</th><th>State</th><th>Carried by</th><th>Alternative</th><th>Since</th></tr>"
        + body
        + "</table>"
        + (f"<ul>{redundancy}</ul>" if redundancy else "")
    )


def _severity_counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{n} {s}" for s, n in counts.items())


def _drift(site: dict[str, Any], times: Times) -> str:
    """The latest run and its findings, each `fixed` (the run fixed it and observed again) or `open`."""
    drift = site.get("drift") or {}
    run = drift.get("latestRun")
    if not run:
        return '<p class="muted">No reconcile run recorded.</p>'
    findings = drift.get("findings") or []
    fixed: dict[str, int] = {}
    for finding in findings:
        if finding.get("status") == "fixed":
            severity = str(finding.get("severity"))
            fixed[severity] = fixed.get(severity, 0) + 1
    counts = (drift.get("openFindings") or {}).get("bySeverity") or {}
    if run.get("outcome") == "error" and findings and not counts:
        open_text = "not known (the run ended before it observed again)"
    else:
        open_text = _severity_counts(counts) or "none"
    fixed_text = f" Fixed by this run: {sum(fixed.values())} ({_severity_counts(fixed)})." if fixed else ""
    head = (
        f"<p>Latest run {times.show(run.get('finishedAt'))} ({_e(run.get('trigger'))}, mode "
        f"{_e(run.get('mode'))}): <strong>{_e(run.get('outcome'))}</strong>. "
        f"Open findings: {_e(open_text)}.{_e(fixed_text)}</p>"
    )
    if not findings:
        return head
    rows = "".join(
        f'<tr class="{_e(f.get("status") or "open")}"><td class="st-{_e(f.get("status") or "open")}">'
        f"{_e(f.get('status') or 'open')}</td>"
        f'<td class="sev-{_e(f.get("severity"))}">{_e(f.get("severity"))}</td><td>{_e(f.get("kind"))}</td>'
        f"<td>{_e(f.get('message'))}</td><td>{_e(f.get('fix'))}</td></tr>"
        for f in findings
    )
    return head + (
        "<table><tr><th>Status</th><th>Severity</th><th>Kind</th><th>Finding</th><th>Fix</th></tr>"
        f"{rows}</table>"
    )


def _events(failovers: dict[str, Any], times: Times) -> str:
    recent = failovers.get("recent") or []
    since = failovers.get("secondsSinceLast")
    head = (
        f"<p>{_e(failovers.get('countLast30Days'))} event(s) in the last 30 days; last one "
        f"{_e(age_text(since))} ago ({_e(failovers.get('lastEventKind'))}).</p>"
        if since is not None
        else '<p class="muted">No failover event recorded.</p>'
    )
    if not recent:
        return head
    rows = "".join(
        f"<tr><td>{times.show(e.get('detectedAt'))}</td><td>{_e(e.get('kind'))}</td>"
        f"<td>{_e(e.get('fromPath'))} → {_e(e.get('toPath'))}</td><td>{_e(age_text(e.get('durationSeconds')) if e.get('durationSeconds') is not None else '')}</td>"
        f"<td>{_e(e.get('detectedBy'))}</td></tr>"
        for e in recent
    )
    return head + (
        f"<table><tr><th>Detected</th><th>Kind</th><th>Path</th><th>Duration</th><th>By</th></tr>{rows}</table>"
    )


def _key(site: dict[str, Any], times: Times) -> str:
    key = site.get("keyRotation") or {}
    age = key.get("keyAgeDays")
    return (
        "<table><tr><th>State</th><th>Key age</th><th>Last rotated</th><th>Next due</th><th>Detail</th></tr>"
        f"<tr><td>{_e(key.get('state'))}{' (overdue)' if key.get('overdue') else ''}</td>"
        f"<td>{_e(f'{age:g} days' if isinstance(age, int | float) else 'unknown')}</td>"
        f"<td>{times.show(key.get('lastRotatedAt'))}</td><td>{times.show(key.get('nextDueAt'))}</td>"
        f"<td>{_e(key.get('detail') or '')}{_e(' ' + key['notice']) if key.get('notice') else ''}</td></tr></table>"
    )


def _drill(site: dict[str, Any], times: Times) -> str:
    drill = site.get("drill") or {}
    last = drill.get("last") or {}
    days = drill.get("daysSincePass")

    def secs(value: Any) -> str:
        return f"{value:g} s" if isinstance(value, int | float) else ""

    return (
        "<table><tr><th>Last drill</th><th>Result</th><th>Failover</th><th>Failback</th>"
        "<th>Days since a passing drill</th></tr>"
        f"<tr><td>{times.show(last.get('at')) if last else 'none'}</td>"
        f"<td>{_e(last.get('result') or last.get('phase') or '')} {_e(last.get('reason') or '')}</td>"
        f"<td>{_e(secs(last.get('failoverSeconds')))}</td><td>{_e(secs(last.get('failbackSeconds')))}</td>"
        f"<td>{_e(f'{days:g}' if isinstance(days, int | float) else 'never')}"
        f"{' (overdue)' if drill.get('degraded') else ''}</td></tr></table>"
    )


def _site(site: dict[str, Any], times: Times) -> str:
    status = str(site.get("status"))
    color = COLORS.get(status, "#374151")
    observed = (
        f"observed {_e(age_text(site.get('ageSeconds')))} ago by {_e(site.get('observedBy'))}"
        + (" — stale" if site.get("stale") else "")
        if site.get("observedAt")
        else "not observed yet"
    )
    learned = (site.get("routes") or {}).get("learnedRoutes")
    evidence = (
        f"<p>BGP evidence ({times.show(learned.get('at'))}): on-premises routes learned via ExpressRoute "
        f"{_e(learned.get('onPremRoutesViaExpressRoute'))}, via VPN {_e(learned.get('onPremRoutesViaVpn'))}.</p>"
        if learned
        else ""
    )
    return (
        f'<section class="site" id="site-{_e(site.get("name"))}">'
        f'<h2>{_e(site.get("name"))} <span class="badge" style="background:{color}">{_e(status)}</span></h2>'
        f'<p>{_e(site.get("reason"))}</p><p class="muted">Active path: <strong>{_e(site.get("activePath"))}</strong>; '
        f"{observed}.</p>"
        + _paths_svg(site)
        + evidence
        + "<h3>Gateways and connections</h3>"
        + _resources_table(site, times)
        + "<h3>Routes per on-premises prefix</h3>"
        + _routes_table(site, times)
        + "<h3>Failovers — last 30 days</h3>"
        + _timeline_svg(site.get("failovers") or {}, times)
        + _events(site.get("failovers") or {}, times)
        + "<h3>Drift</h3>"
        + _drift(site, times)
        + "<h3>Shared key</h3>"
        + _key(site, times)
        + "<h3>Failover drill</h3>"
        + _drill(site, times)
        + "</section>"
    )


def banner_text(report: dict[str, Any]) -> str:
    return f"Status: {str(report.get('status')).upper()}"


def render_html(report: dict[str, Any], *, zone: tzinfo = UTC) -> str:
    """The page. Times are shown in `zone` (see `time_zone`), with their age at the report's
    generation and the ISO value on hover."""
    times = Times(now=Times().moment(report.get("generatedAt")), zone=zone)
    status = str(report.get("status"))
    snapshot = report.get("snapshot") or {}
    stale = (
        f'<div class="stale">Data is stale: snapshot taken {_e(age_text(snapshot.get("ageSeconds")))} ago '
        f"(stale after {_e(snapshot.get('staleAfterSeconds'))}s). Is the failover poll running?</div>"
        if report.get("stale")
        else ""
    )
    refresh = report.get("refresh") or {}
    refreshed = f"<p>{_e(refresh.get('detail'))}</p>" if refresh.get("requested") else ""
    return (
        "<!DOCTYPE html>"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>hybridnet health: {_e(status)}</title><style>{CSS}</style></head><body>"
        f'<header class="banner s-{_e(status)}" id="banner"><h1>{_e(banner_text(report))}</h1>'
        f"<p>{_e(report.get('reason'))}</p>"
        f"<p>Data age: {_e(age_text(snapshot.get('ageSeconds')))} (snapshot {times.show(snapshot.get('takenAt')) if snapshot.get('takenAt') else 'none'}, "
        f"by {_e(snapshot.get('source') or '—')}).</p>{refreshed}</header>"
        + stale
        + pager(report)
        + "<main>"
        + "".join(_site(s, times) for s in report.get("sites") or [])
        + f"<footer>Generated {times.show(report.get('generatedAt'))} — report schema {_e(report.get('schemaVersion'))}"
        " (GET /api/health/schema).</footer></main></body></html>"
    )


def pager(report: dict[str, Any]) -> str:
    """Which sites this page shows, and how to see the others (the page's URL keeps its key, so the
    page names the parameters rather than linking with the key in it)."""
    page = report.get("page")
    if not page or (page.get("pages", 1) <= 1 and not page.get("status") and not page.get("name")):
        return ""
    first = (page["number"] - 1) * page["size"] + 1
    last = first + page["shownSites"] - 1
    filters = []
    if page.get("status"):
        filters.append("status " + ", ".join(page["status"]))
    if page.get("name"):
        filters.append(f"name containing {page['name']}")
    which = f" matching {' and '.join(filters)}" if filters else ""
    shown = f"sites {first} to {last}" if page["shownSites"] else "no sites"
    return (
        f'<nav class="pager" id="pager"><p>{_e(shown)} of {_e(page["matchingSites"])}{_e(which)} '
        f"({_e(page['totalSites'])} in the spec), page {_e(page['number'])} of {_e(page['pages'])}. "
        "Add <code>&amp;page=N</code>, <code>&amp;pageSize=N</code> (up to 500), "
        "<code>&amp;status=failover,outage</code> or <code>&amp;name=PART</code> to the URL.</p></nav>"
    )
