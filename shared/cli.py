"""The product's `hybridnet` commands (validate, ...). Development commands (sim, serve, up) are
added by `hybridnet_dev.cli`, which wraps this module; nothing here imports development code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from shared.spec import NetworkSpec, UnknownSite
from shared.spec.load import SpecError, load_spec_file

Command = Callable[[argparse.Namespace], int]


def _load_spec(file: str, *, advice: str = "") -> NetworkSpec | None:
    """The spec in `file`, or None once its errors are on stderr (the count, `advice`, one per line)."""
    try:
        return load_spec_file(file)
    except SpecError as exc:
        print(f"{file}: {exc.count} error(s){advice}", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return None


def _validate(args: argparse.Namespace) -> int:
    spec = _load_spec(args.file)
    if spec is None:
        return 1
    names = ", ".join(site.name for site in spec.sites)
    print(f"{args.file}: valid ({len(spec.sites)} site(s): {names})")
    return 0


def _plan(args: argparse.Namespace) -> int:
    import json

    from shared.azure.arm import network_client
    from shared.azure.network_state import observe_site
    from shared.drift.desired import desired_site
    from shared.drift.diff import diff
    from shared.drift.observed import ObserveFailed
    from shared.drift.plan import Mode, plan
    from shared.drift.render import render_plan
    from shared.settings import Settings
    from shared.spec_source import current_spec

    settings = Settings.from_env()
    spec = current_spec(settings)
    sites = [spec.site(args.site)] if args.site else list(spec.sites)
    client = network_client(settings)
    mode = Mode(args.mode or settings.drift_mode)
    documents, exit_code = [], 0
    for site in sites:
        desired = desired_site(site, settings.require_subscription())
        try:
            observed = observe_site(client, site)
        except ObserveFailed as exc:
            print(f"site {site.name}: {exc}", file=sys.stderr)
            exit_code = 1
            continue
        findings = diff(desired, observed)
        the_plan = plan(desired, observed, findings, mode)
        if findings:
            exit_code = max(exit_code, 2)
        if args.json:
            documents.append({**the_plan.to_json(), "findings": [f.to_json() for f in findings]})
        else:
            print(render_plan(the_plan, findings))
    if args.json:
        print(json.dumps(documents, indent=2))
    return exit_code


def _apply(args: argparse.Namespace) -> int:
    import json

    from shared.drift.plan import Mode
    from shared.drift.reconcile import ReconcileResult
    from shared.services.reconciler import RunNotRecorded, SiteBusy, StorageUnavailable, reconcile
    from shared.settings import Settings
    from shared.spec_source import current_spec

    def show(name: str, result: ReconcileResult) -> None:
        if args.json:
            print(json.dumps(result.to_json(), indent=2))
            return
        print(f"site {name}: {result.outcome}")
        for r in result.results:
            print(f"  {r.outcome.value:8} {r.action.describe()}{f': {r.detail}' if r.detail else ''}")
        for f in result.remaining:
            print(f"  remains  {f.message}")

    settings = Settings.from_env()
    names = [args.site] if args.site else [s.name for s in current_spec(settings).sites]
    exit_code = 0
    for name in names:
        try:
            result = reconcile(settings, name, trigger="manual", mode=Mode(args.mode))
        except RunNotRecorded as exc:  # what was done is still shown, and why it is not in the history
            show(name, exc.result)
            print(f"hybridnet apply: {exc}", file=sys.stderr)
            exit_code = 1
            continue
        except (SiteBusy, StorageUnavailable) as exc:
            print(f"hybridnet apply: {exc}", file=sys.stderr)
            exit_code = 1
            continue
        show(name, result)
        if result.outcome in ("error", "partial"):
            exit_code = 1
    return exit_code


def _since(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--since {value!r} is not an ISO 8601 date/time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = int(seconds)
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m{whole % 60:02d}s"


def _failovers(args: argparse.Namespace) -> int:
    import json

    from shared.azure.failover_store import failover_events
    from shared.azure.tables import table_service
    from shared.settings import Settings

    settings = Settings.from_env()
    events = failover_events(table_service(settings), site=args.site, since=args.since, limit=args.limit)
    if args.json:
        print(json.dumps(events, indent=2))
        return 0
    if not events:
        print("no failover events" + (f" for site {args.site}" if args.site else ""))
        return 0
    print(f"{'DETECTED AT':32} {'SITE':12} {'KIND':16} {'PATH':24} {'DURATION':10} BY")
    for e in events:
        path = f"{e['fromPath']} -> {e['toPath']}"
        print(
            f"{e['detectedAt']:32} {e['site']:12} {e['kind']:16} {path:24} "
            f"{_duration(e['durationSeconds']):10} {e['detectedBy']}"
        )
    return 0


def _health(args: argparse.Namespace) -> int:
    import json

    from shared.report.text import render_text
    from shared.services.health import health_report
    from shared.settings import Settings

    report, status = health_report(Settings.from_env(), site=args.site, live=args.refresh)
    print(json.dumps(report, indent=2) if args.json else render_text(report))
    return 0 if status == 200 else 2


def _drill(args: argparse.Namespace) -> int:
    """Run (or with --dry-run, plan) a failover drill for one site; progress on stderr as it goes."""
    import json

    from shared.failover.drill import Drill
    from shared.services.drill import run_drill
    from shared.settings import Settings

    def progress(drill: Drill) -> None:
        note = drill.log[-1]["note"] if drill.log else ""
        print(f"drill {drill.id}: {drill.phase} {note}", file=sys.stderr, flush=True)

    run = run_drill(Settings.from_env(), args.site, dry_run=args.dry_run, progress=progress)
    if args.json:
        print(json.dumps(run.to_json(), indent=2))
    elif run.drill is None:
        print(f"drill not run: {run.busy}")
    else:
        d = run.drill
        verdict = ("would run" if run.would_run else "would not run") if run.dry_run else d.result
        print(f"drill {d.id} site {d.site}: {verdict}" + (f" ({d.reason})" if d.reason else ""))
        if d.failover_seconds is not None:
            print(f"  failover {d.failover_seconds:g}s")
        if d.failback_seconds is not None:
            print(f"  failback {d.failback_seconds:g}s")
        if d.not_moved:
            print(f"  prefixes that did not move: {', '.join(d.not_moved)}")
    if run.dry_run:
        return 0 if run.would_run else 2
    return 0 if run.drill is not None and run.drill.result == "passed" else 2


def _infra_sites(args: argparse.Namespace) -> int:
    """Write (or with --check, compare) infra/sites.json from the spec: the only place sites are declared."""
    import json
    from pathlib import Path

    from shared.deploy_params import differences, render, sites_document

    spec = _load_spec(args.file, advice="; fix the spec first")
    if spec is None:
        return 1
    expected = sites_document(spec)
    out = Path(args.out)
    if not args.check:
        partial = out.with_name(out.name + ".tmp")
        try:  # all or nothing: a crash leaves the old file, never half of the new one
            partial.write_text(render(expected))
            partial.replace(out)
        except OSError as exc:
            print(f"{out}: cannot write it ({exc.strerror or exc})", file=sys.stderr)
            return 1
        print(f"{out}: written from {args.file} ({len(expected['sites'])} site(s))")
        return 0
    try:
        actual = json.loads(out.read_text())
    except FileNotFoundError:
        problems = ["the file does not exist"]
    except (OSError, ValueError) as exc:
        problems = [f"the file cannot be read as JSON ({exc})"]
    else:
        problems = differences(expected, actual)
    if problems:
        print(f"{out} disagrees with {args.file}:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        print(f"regenerate it: hybridnet infra-sites {args.file} --out {out}", file=sys.stderr)
        return 1
    print(f"{out}: agrees with {args.file} ({len(expected['sites'])} site(s))")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hybridnet", description="Keep an ExpressRoute + VPN failover hybrid network healthy."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    validate = sub.add_parser("validate", help="check a desired-state spec file; exit 1 with every error")
    validate.add_argument("file", help="the spec YAML file")
    validate.set_defaults(handler=_validate)
    modes = ["report", "enforce", "enforce-disruptive"]
    plan = sub.add_parser(
        "plan",
        help="compare the live network with the spec and show the plan (writes nothing); exit 2 on drift",
    )
    plan.add_argument("--site", help="only this site")
    plan.add_argument("--json", action="store_true", help="machine-readable output")
    plan.add_argument("--mode", choices=modes, help="plan as this mode would (default: HYBRIDNET_DRIFT_MODE)")
    plan.set_defaults(handler=_plan)
    apply = sub.add_parser("apply", help="reconcile now: fix what the mode allows and record the run")
    apply.add_argument("--site", help="only this site")
    apply.add_argument("--json", action="store_true", help="machine-readable output")
    apply.add_argument(
        "--mode", choices=modes[1:], default="enforce", help="default: enforce (safe fixes only)"
    )
    apply.set_defaults(handler=_apply)
    failovers = sub.add_parser(
        "failovers", help="failover history: failovers, failbacks, outages, newest first"
    )
    failovers.add_argument("--site", help="only this site")
    failovers.add_argument("--since", type=_since, help="only events detected at or after this ISO time")
    failovers.add_argument("--limit", type=int, default=100, help="at most this many events (default 100)")
    failovers.add_argument("--json", action="store_true", help="machine-readable output")
    failovers.set_defaults(handler=_failovers)
    health = sub.add_parser(
        "health",
        help="the health report GET /api/health serves (from the latest snapshot); exit 2 when it would be 503",
    )
    health.add_argument("--site", help="only this site")
    health.add_argument(
        "--json", action="store_true", help="the JSON report (schema: GET /api/health/schema)"
    )
    health.add_argument("--refresh", action="store_true", help="check live first (as ?refresh=true)")
    health.set_defaults(handler=_health)
    drill = sub.add_parser(
        "drill",
        help="failover drill: simulate losing the site's ExpressRoute location, watch the VPN take over and "
        "ExpressRoute come back; exit 2 unless it passed",
    )
    drill.add_argument("--site", required=True, help="the site")
    drill.add_argument("--json", action="store_true", help="machine-readable output")
    drill.add_argument("--dry-run", action="store_true", help="only say whether it would run and why not")
    drill.set_defaults(handler=_drill)
    infra_sites = sub.add_parser(
        "infra-sites",
        help="write infra/sites.json (the deployment's sites) from the spec; --check: exit 1 when they disagree",
    )
    infra_sites.add_argument("file", help="the spec YAML file (network.yaml)")
    infra_sites.add_argument("--out", default="infra/sites.json", help="default: infra/sites.json")
    infra_sites.add_argument("--check", action="store_true", help="compare only; write nothing")
    infra_sites.set_defaults(handler=_infra_sites)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from shared.settings import SettingsError

    args = build_parser().parse_args(argv)
    handler: Command = args.handler
    try:
        return handler(args)
    except (SettingsError, SpecError) as exc:
        print(f"hybridnet {args.command}: {exc}", file=sys.stderr)
        return 1
    except UnknownSite as exc:
        print(f"hybridnet {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
