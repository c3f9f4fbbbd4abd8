"""Plans and findings as text for a terminal."""

from __future__ import annotations

from shared.drift.findings import SEVERITY_ORDER, Finding
from shared.drift.plan import Plan


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def render_plan(plan: Plan, findings: list[Finding]) -> str:
    out = [
        f"site {plan.site} (mode {plan.mode.value}): {len(findings)} finding(s), {len(plan.actions)} action(s)"
    ]
    if findings:
        ordered = sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity])
        out.append(
            _table(
                [[f.severity.value, f.kind.value, f.fix.value, f.message] for f in ordered],
                ["SEVERITY", "KIND", "FIX", "FINDING"],
            )
        )
    if plan.actions:
        out.append("")
        out.append(
            _table(
                [
                    [
                        str(i + 1),
                        a.operation.value,
                        f"{a.kind.value}/{a.name}",
                        a.fix.value,
                        ", ".join(d.rsplit("/", 1)[-1] for d in a.depends_on) or "-",
                    ]
                    for i, a in enumerate(plan.actions)
                ],
                ["#", "OPERATION", "RESOURCE", "CLASS", "AFTER"],
            )
        )
    if plan.refused:
        out.append("")
        out.append("not planned:")
        out += [f"  - {r.finding.message}: {r.reason}" for r in plan.refused]
    if not findings:
        out.append("in sync with the spec")
    return "\n".join(out)
