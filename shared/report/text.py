"""The health report as a terminal summary (pure): `hybridnet health`."""

from __future__ import annotations

from typing import Any

from shared.report.html import age_text, bytes_text


def render_text(report: dict[str, Any]) -> str:
    snapshot = report.get("snapshot") or {}
    lines = [
        f"{str(report['status']).upper()}: {report['reason']}",
        f"data: snapshot {snapshot.get('takenAt') or 'none'} ({age_text(snapshot.get('ageSeconds'))} old"
        f"{', STALE' if report.get('stale') else ''}, stale after {snapshot.get('staleAfterSeconds'):g}s)",
    ]
    rotation = report.get("keyRotation") or {}
    if rotation.get("notEnabled"):
        lines.append(str(rotation.get("detail")))
    refresh = report.get("refresh") or {}
    if refresh.get("requested"):
        lines.append(f"refresh: {refresh.get('detail')}")
    for site in report.get("sites") or []:
        lines.append("")
        lines.append(f"site {site['name']}: {site['status']} — active path {site['activePath']}")
        lines.append(f"  {site['reason']}")
        for key, label in (("expressRoute", "ExpressRoute"), ("vpn", "VPN")):
            gateway = (site.get("gateways") or {}).get(key) or {}
            connection = (site.get("connections") or {}).get(key) or {}
            if not gateway and not connection:
                continue
            lines.append(
                f"  {label:12} gateway {gateway.get('name')} {gateway.get('sku') or '-'} "
                f"{gateway.get('provisioningState') or gateway.get('error') or 'missing'}; "
                f"connection {connection.get('name')} {connection.get('connectionStatus') or connection.get('error') or 'missing'}"
                f" since {connection.get('statusSince') or '-'}, in {bytes_text(connection.get('ingressBytes'))}"
                f" out {bytes_text(connection.get('egressBytes'))}"
            )
        failovers = site.get("failovers") or {}
        if failovers.get("lastEventAt"):
            lines.append(
                f"  failovers: {failovers['countLast30Days']} in 30 days; last {failovers['lastEventKind']} "
                f"{age_text(failovers.get('secondsSinceLast'))} ago"
            )
        else:
            lines.append("  failovers: none recorded")
        drift = site.get("drift") or {}
        run = drift.get("latestRun")
        open_findings = drift.get("openFindings") or {}
        if run:
            counts = (
                ", ".join(f"{n} {s}" for s, n in (open_findings.get("bySeverity") or {}).items()) or "none"
            )
            lines.append(
                f"  drift: latest run {run['outcome']} at {run['finishedAt']}; open findings: {counts}"
            )
        else:
            lines.append("  drift: no reconcile run recorded")
        key = site.get("keyRotation") or {}
        age = key.get("keyAgeDays")
        lines.append(
            f"  shared key: {key.get('state')}"
            + (f", {age:g} days old" if isinstance(age, int | float) else "")
            + (f", next due {key['nextDueAt']}" if key.get("nextDueAt") else "")
            + (" (OVERDUE)" if key.get("overdue") else "")
            + ("" if key.get("enabled", True) else "; rotation NOT ENABLED")
        )
        if key.get("notice"):
            lines.append(f"    {key['notice']}")
        drill = site.get("drill") or {}
        last = drill.get("last")
        if last:
            timings = ", ".join(
                f"{name} {last[k]:g}s"
                for name, k in (("failover", "failoverSeconds"), ("failback", "failbackSeconds"))
                if isinstance(last.get(k), int | float)
            )
            days = drill.get("daysSincePass")
            lines.append(
                f"  failover drill: last {last.get('result') or last.get('phase')} at {last.get('at')}"
                + (f" ({timings})" if timings else "")
                + (f"; last passed {days:g} days ago" if isinstance(days, int | float) else "; never passed")
            )
        else:
            lines.append("  failover drill: none recorded")
    return "\n".join(lines)
