"""The health report: the snapshot the poll writes, the report a request reads.

Writing (the failover poll, and `?refresh=true` through the same function, `poll_sites`): per site the
failover check's 2 connection GETs (status, bytes) and its 1 Table read, 16 sites at once; the gateways
(SKU, provisioning state) of all polled sites from ONE Resource Graph query (a refresh lists them from
ARM: 1 list per site); then the snapshot's changed entries (see shared.azure.health_snapshot: one
transaction for up to 99 sites). So a poll of N sites costs 2N ARM reads + 1 Graph query, N Table reads
and 1 Table write per 99 sites; the failover records themselves still get no write when nothing changed.
At scale the timer polls a slice (poll_due_sites): at most POLL_READS_PER_MINUTE ARM reads a minute.

Reading (GET /api/health): Table reads only, never ARM. The first read of a page: the snapshot (1 point
read of its index while it is unchanged, else 1 query), the rotation states and a change probe of runs,
failover events and drills (1 query per table for a page that is a range of names, else 1 per 14 sites),
then per site its latest reconcile run, newest failover events and drills (1 query each, in parallel).
Every later read of the page starts from the previous one: the snapshot, the rotation states and the probe
again, and per site only the tables the probe found a new row in (shared.azure.table_changes), plus at
most 1 site per SITES_PER_FULL_READ a read whose full read is older than FULL_READ_SECONDS (deletions do
not show in a probe): 5 Table requests for a page of 25 sites where nothing changed (was 78).
An instance reuses those reads for HYBRIDNET_HEALTH_CACHE_SECONDS, and concurrent requests that find
the cache empty share one set of reads (single flight); reads expired less than SERVE_STALE_SECONDS ago
are served while one background read renews them (stale-while-revalidate), its Table requests one at a
time. A poll or refresh empties the cache (the next request reads what changed). A page is built once a
second per instance (ages are exact to the second).

Refresh: concurrent `?refresh=true` requests in an instance coalesce into one live check (single
flight); across instances a claim row in Table Storage allows one live check per
HYBRIDNET_HEALTH_REFRESH_MIN_SECONDS; a refresh inside that interval is served from the snapshot the
winning check wrote.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.azure.arm import network_client
from shared.azure.drill_store import DRILLS
from shared.azure.failover_store import failover_events
from shared.azure.health_snapshot import claim_refresh, read_snapshot, write_snapshot
from shared.azure.network_reads import ResourceRead, read_gateways
from shared.azure.rotation_store import SITES_PER_QUERY, load_states
from shared.azure.run_log import latest_runs, newest_first_key
from shared.azure.table_changes import Marks, written_since
from shared.azure.table_names import FAILOVER, RUNS
from shared.azure.tables import table_service
from shared.report.build import RANK, STATUSES, SiteInputs, build_report, http_status
from shared.report.snapshot import merge, site_entry
from shared.services.coalesce import SingleFlight
from shared.services.failover import CheckResult, ObservationFailed, check_site
from shared.settings import Settings
from shared.spec import NetworkSpec, Site, UnknownSite
from shared.spec_source import current_spec

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient
    from azure.mgmt.network import NetworkManagementClient

log = logging.getLogger(__name__)

SERVE_STALE_SECONDS = 30.0  # an expired cache entry younger than this is served while it is re-read
EVENTS_READ = 100  # newest failover events read per site (the 30-day timeline and the recent list)
REFRESH_WAIT_SECONDS = 15.0  # how long a refresh that lost the claim waits for the winner's snapshot
Clock = Callable[[], datetime]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


# --- writing: the poll --------------------------------------------------------------------------------


def _resource(read: ResourceRead, *, connection: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": read.name,
        "exists": read.exists,
        "provisioningState": read.provisioning_state,
        "error": read.error,
    }
    if connection:
        body |= {
            "connectionStatus": read.connection_status,
            "ingressBytes": read.ingress_bytes,
            "egressBytes": read.egress_bytes,
        }
    else:
        body["sku"] = read.sku
    return body


@dataclass(frozen=True)
class _Observed:
    site: str
    at: datetime
    gateways: dict[str, dict[str, Any]]
    connections: dict[str, dict[str, Any]]
    condition: str | None
    active_path: str
    error: str | None
    routes: dict[str, Any] | None = None


def _observe(
    settings: Settings,
    site: Site,
    detected_by: str,
    tables: TableServiceClient,
    client: NetworkManagementClient,
    now: Clock,
    gateways: tuple[ResourceRead, ResourceRead] | None = None,
) -> tuple[_Observed, CheckResult | None]:
    er_gw, vpn_gw = gateways if gateways is not None else read_gateways(client, site)
    result: CheckResult | None = None
    reads: tuple[ResourceRead, ResourceRead] | None = None
    error: str | None = None
    try:
        result = check_site(settings, site, detected_by, tables=tables, client=client, now=now)
        reads = result.reads
    except ObservationFailed as exc:
        reads, error = exc.reads, str(exc)
    except Exception as exc:
        log.exception("site %s: failover check failed", site.name)
        error = f"the failover check failed ({type(exc).__name__})"
    if reads is None:
        reads = (
            ResourceRead(site.express_route.connection.name, exists=False, error=error),
            ResourceRead(site.vpn.connection.name, exists=False, error=error),
        )
    return (
        _Observed(
            site=site.name,
            at=now(),
            gateways={
                "expressRoute": _resource(er_gw, connection=False),
                "vpn": _resource(vpn_gw, connection=False),
            },
            connections={
                "expressRoute": _resource(reads[0], connection=True),
                "vpn": _resource(reads[1], connection=True),
            },
            condition=result.condition.value if result and error is None else None,
            active_path=result.condition.path.value if result and error is None else "unknown",
            error=error,
            routes=result.routes if result else None,
        ),
        result,
    )


def poll_sites(
    settings: Settings,
    sites: list[Site] | None = None,
    *,
    source: str = "poll",
    tables: TableServiceClient | None = None,
    client: NetworkManagementClient | None = None,
    now: Clock = _now,
) -> list[CheckResult]:
    """Check every site (failover records as check_site does) and persist one snapshot of them all.
    One failing site does not stop the others: its entry carries the error."""
    spec_sites = list(current_spec(settings).sites)
    sites = spec_sites if sites is None else sites
    tables = tables if tables is not None else table_service(settings)
    client = client if client is not None else network_client(settings)
    detected_by = "poll" if source == "poll" else "manual"
    observed: list[_Observed] = []
    results: list[CheckResult] = []
    gateways = _poll_gateways(settings, sites) if source == "poll" else {}
    for entry, result in _fan_out(
        sites,
        lambda site: _observe(settings, site, detected_by, tables, client, now, gateways.get(site.name)),
    ):
        observed.append(entry)
        if result is not None:
            results.append(result)

    def update(previous: dict[str, Any] | None) -> dict[str, Any]:
        before = (previous or {}).get("sites") or {}
        entries = [
            site_entry(
                o.site,
                observed_at=o.at,
                observed_by=source,
                gateways=o.gateways,
                connections=o.connections,
                condition=o.condition,
                active_path=o.active_path,
                error=o.error,
                previous=before.get(o.site),
                routes=o.routes,
            )
            for o in observed
        ]
        return merge(previous, entries, taken_at=now(), source=source, known=[s.name for s in spec_sites])

    write_snapshot(tables, update)
    _reports.invalidate()
    return results


# --- the poll at scale: fan-out, budget slices, gateways from Resource Graph ------------------------------

POLL_CONCURRENCY = 16  # sites checked at once by one poll (each check: 2 ARM GETs + 1 Table read)
# ARM reads per minute the poll may spend: half of the client-side read budget's refill
# (shared.azure.budget: 20/s = 1,200/min), the rest left to drift re-reads, alerts, refreshes, rotation.
POLL_READS_PER_MINUTE = 600
READS_PER_CHECK = 2  # the failover check's two connection GETs (Resource Graph has no live status)


def poll_slices(site_count: int, *, interval_seconds: float) -> int:
    """Into how many slices the sites are cut so one poll stays within POLL_READS_PER_MINUTE: 1 (every
    site every poll) up to 300 sites with the default minute; 1,000 sites: 4 (each site every 4th poll,
    0.5 ARM reads per site per minute; alerts stay the fast path)."""
    per_poll = max(1, int(POLL_READS_PER_MINUTE * interval_seconds / 60.0 / READS_PER_CHECK))
    return max(1, -(-site_count // per_poll))


def due_sites(sites: list[Site], *, now: datetime, interval_seconds: float) -> list[Site]:
    """The slice of `sites` this poll checks (poll number modulo the slice count)."""
    slices = poll_slices(len(sites), interval_seconds=interval_seconds)
    if slices == 1:
        return list(sites)
    turn = int(now.timestamp() // max(1.0, interval_seconds)) % slices
    return [site for index, site in enumerate(sites) if index % slices == turn]


def poll_interval_seconds(settings: Settings) -> float:
    """The failover poll's interval (HYBRIDNET_HEALTH_STALE_SECONDS is twice it by default)."""
    return max(1.0, settings.health_stale_seconds / 2.0)


def _poll_gateways(settings: Settings, sites: list[Site]) -> dict[str, tuple[ResourceRead, ResourceRead]]:
    """Both gateways of every site from one Resource Graph query; {} (each site then lists its own
    gateways from ARM) when Graph cannot be read."""
    from shared.azure.resource_graph import GraphQueryFailed, graph_client, read_gateways_graph

    try:
        return read_gateways_graph(
            graph_client(settings), subscription=settings.require_subscription(), sites=sites
        )
    except GraphQueryFailed as exc:
        log.warning("failover poll: gateways from Resource Graph failed (%s); listing them per site", exc)
        return {}


def _fan_out(sites: list[Site], check: Callable[[Site], Any]) -> list[Any]:
    """`check` of every site, POLL_CONCURRENCY at once, results in the sites' order."""
    if len(sites) <= 1:
        return [check(site) for site in sites]
    with ThreadPoolExecutor(max_workers=min(POLL_CONCURRENCY, len(sites)), thread_name_prefix="poll") as pool:
        return list(pool.map(check, sites))


def poll_due_sites(settings: Settings, *, now: Clock = _now) -> list[CheckResult]:
    """What the failover_poll timer runs: the slice of the spec's sites due this poll (all of them up
    to POLL_READS_PER_MINUTE / 2 sites a minute), checked concurrently, then one snapshot write."""
    sites = list(current_spec(settings).sites)
    due = due_sites(sites, now=now(), interval_seconds=poll_interval_seconds(settings))
    return poll_sites(settings, due, now=now)


# --- reading: the report ------------------------------------------------------------------------------

PAGE_SIZE_DEFAULT = 25  # sites per page of GET /api/health
PAGE_SIZE_MAX = 500


@dataclass(frozen=True)
class Page:
    """Which sites a report lists: `name` (a case-insensitive part of the name), `statuses` (any of
    healthy, degraded, failover, outage), then page `number` (from 1) of `size` sites."""

    number: int = 1
    size: int = PAGE_SIZE_DEFAULT
    statuses: tuple[str, ...] = ()
    name: str | None = None

    def __post_init__(self) -> None:
        if self.number < 1:
            raise ValueError(f"page={self.number}: pages count from 1")
        if not 1 <= self.size <= PAGE_SIZE_MAX:
            raise ValueError(f"pageSize={self.size}: must be between 1 and {PAGE_SIZE_MAX}")
        unknown = [s for s in self.statuses if s not in STATUSES]
        if unknown:
            raise ValueError(f"status={','.join(unknown)}: must be among {', '.join(STATUSES)}")

    def describe(self, *, total: int, matching: int, shown: int) -> dict[str, Any]:
        return {
            "number": self.number,
            "size": self.size,
            "pages": max(1, -(-matching // self.size)),
            "totalSites": total,
            "matchingSites": matching,
            "shownSites": shown,
            "status": list(self.statuses),
            "name": self.name,
        }


@dataclass(frozen=True)
class _Reads:
    snapshot: dict[str, Any] | None
    runs: dict[str, dict[str, Any] | None]
    events: dict[str, list[dict[str, Any]]]
    rotation: dict[str, dict[str, Any]]
    at: float  # monotonic
    drills: dict[str, dict[str, Any]] = field(default_factory=dict)
    # What the change probe found (shared.azure.table_changes) before these reads, by table: the next
    # read of the same sites re-reads a site's table only when the probe finds a row not in here.
    marks: dict[str, Marks] = field(default_factory=dict)
    probed_at: datetime | None = None  # when that probe ran (this instance's clock)
    full_at: dict[str, float] = field(default_factory=dict)  # per site: its last full read (monotonic)


def _rotations(
    tables: TableServiceClient, sites: list[Site], span: tuple[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """The report's view of the keys of `sites`: their rotation states in one query (up to 14 sites, or
    all of them in `span`)."""
    from shared.rotation.status import describe_rotation

    try:
        states = load_states(tables, [s.name for s in sites], span=span)
    except Exception as exc:
        log.warning("sites %s..: rotation states unavailable: %s", sites[0].name, type(exc).__name__)
        return {s.name: {"state": "unknown", "detail": "the rotation state could not be read"} for s in sites}
    moment = _now()
    return {s.name: dict(describe_rotation(states[s.name], s, moment)) for s in sites}


def _drill(tables: TableServiceClient, site: str) -> dict[str, Any]:
    from shared.services.drill import drill_status

    try:
        return drill_status(tables, site)
    except Exception as exc:
        log.warning("site %s: drill status unavailable: %s", site, type(exc).__name__)
        return {}


def _latest_run(tables: TableServiceClient, site: str) -> dict[str, Any] | None:
    runs = latest_runs(tables, site, limit=1)
    return runs[0] if runs else None


# The change probe (shared.azure.table_changes): which of the page's sites got a run, a failover event (or
# state) or a drill written since the previous read. It looks PROBE_MARGIN further back than that read's
# probe (the rows' Timestamps are Table Storage's clock, the probe's moment this instance's), and a row
# counts as new only when the previous probe did not return it (same RowKey and ETag).
PROBED_TABLES = (RUNS, FAILOVER, DRILLS)
PROBE_MARGIN = timedelta(minutes=2)
# Deletions (event retention) do not show in a probe: a site's reads are redone in full when they are
# older than FULL_READ_SECONDS (the only rows deleted are failover events past their retention, days old),
# at most 1 site per SITES_PER_FULL_READ of the page per read (no burst of them); a site whose drills could
# not be read is read again at the next read.
FULL_READ_SECONDS = 300.0
# The longest a run row can be rewritten after its start: a run's writes end within
# HYBRIDNET_APPLY_BUDGET_SECONDS (at most 2 h) and its invocation within host.json's functionTimeout
# (30 min); 3 h bounds both.
RUN_HORIZON = timedelta(hours=3)
SITES_PER_FULL_READ = 25
BASES_KEPT = 64  # pages whose latest reads are kept as the base of their next read


# Each Table request costs a few ms of CPU in the SDK, under the GIL the requests being served need too: a
# renewal's reads run one at a time with this pause before each, so a request in flight shares the CPU
# with at most one of them.
RENEW_PAUSE_SECONDS = 0.01


class _PacedExecutor(ThreadPoolExecutor):
    """One worker; each task starts `pause` seconds after it is taken up."""

    def __init__(self, pause: float, *, thread_name_prefix: str) -> None:
        super().__init__(max_workers=1, thread_name_prefix=thread_name_prefix)
        self._pause = pause

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def paced() -> Any:
            time.sleep(self._pause)
            return fn(*args, **kwargs)

        return super().submit(paced)


def _probe(
    tables: TableServiceClient,
    table_name: str,
    names: list[str],
    since: datetime,
    span: tuple[str, str] | None,
) -> Marks | None:
    # Run rows are newest first by their start (shared.azure.run_log.newest_first_key) and written
    # again when their run ends: a run written since `since` started at most RUN_HORIZON before it.
    below = newest_first_key(since - RUN_HORIZON) if table_name == RUNS else None
    try:
        return written_since(tables, table_name, names, since, span=span, rows_below=below)
    except Exception as exc:  # the table's reads are redone in full
        log.warning("health: change probe of %s failed: %s", table_name, type(exc).__name__)
        return None


class _ReportReads:
    """The Table reads behind reports, reused for HYBRIDNET_HEALTH_CACHE_SECONDS per instance.

    A read of a page starts from the page's previous reads (kept across a poll's invalidation as the
    `base`): the snapshot (1 point read of its index while unchanged), the rotation states and the change
    probe of runs, failover events and drills (1 query each for a range of names, else 1 per 14 sites); then the
    latest run, newest events and drills only of the sites the probe found changed, plus the sites whose
    turn for a full read it is. The first read of a page reads every site."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Per service, weakly (a new service object reusing an old one's id() never sees its reads).
        self._cached: weakref.WeakKeyDictionary[Any, dict[Any, _Reads]] = weakref.WeakKeyDictionary()
        self._bases: weakref.WeakKeyDictionary[Any, dict[Any, _Reads]] = weakref.WeakKeyDictionary()
        self._flight = SingleFlight()
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health-reads")
        self._generation = 0
        self._revalidating: set[Any] = set()
        # Renewals in the background take their time: their reads one after the other, a pause before
        # each, leave the CPU (the GIL) to the requests.
        self._background = _PacedExecutor(RENEW_PAUSE_SECONDS, thread_name_prefix="health-renew")

    def invalidate(self) -> None:
        """What a poll or refresh does: the next request reads again (what changed since: the bases stay)."""
        with self._lock:
            self._cached.clear()
            self._generation += 1

    def forget(self) -> None:
        """Drop every read, the bases too: the next read of each page reads every site."""
        with self._lock:
            self._cached.clear()
            self._bases.clear()
            self._generation += 1

    def _base(self, tables: TableServiceClient, key: Any) -> _Reads | None:
        with self._lock:
            return self._bases.get(tables, {}).get(key)

    def _keep(self, tables: TableServiceClient, key: Any, reads: _Reads, generation: int, ttl: float) -> None:
        with self._lock:
            if ttl > 0 and generation == self._generation:
                self._cached.setdefault(tables, {})[key] = reads
            bases = self._bases.setdefault(tables, {})
            known = bases.get(key)
            if known is None or (known.probed_at or _EPOCH) <= (reads.probed_at or _EPOCH):
                if known is None and len(bases) >= BASES_KEPT:
                    bases.clear()
                bases[key] = reads

    def get(
        self,
        tables: TableServiceClient,
        sites: list[Site],
        ttl: float,
        *,
        span: tuple[str, str] | None = None,
    ) -> _Reads:
        """`span`: the lowest and highest of the sites' names when few other sites lie between (see
        _span): their rotation states and change probes are then one range query per table."""
        key = (id(tables), tuple(s.name for s in sites))
        with self._lock:
            cached = self._cached.get(tables, {}).get(key)
            generation = self._generation
        if cached is not None and time.monotonic() - cached.at < ttl:
            return cached
        if cached is not None and time.monotonic() - cached.at < max(SERVE_STALE_SECONDS, ttl):
            # Expired but recent: answer from it and read again in the background (one read per key):
            # at 1,000 sites a page's reads take longer than a request may.
            self._revalidate(key, generation, tables, sites, ttl, span)
            return cached

        def read() -> _Reads:
            return self._read(tables, sites, previous=self._base(tables, key), span=span)

        reads, _shared = self._flight.do((key, generation), read)
        self._keep(tables, key, reads, generation, ttl)
        return reads

    def _revalidate(
        self,
        key: Any,
        generation: int,
        tables: TableServiceClient,
        sites: list[Site],
        ttl: float,
        span: tuple[str, str] | None,
    ) -> None:
        with self._lock:
            if key in self._revalidating:
                return
            self._revalidating.add(key)

        def read() -> None:
            try:
                reads, _shared = self._flight.do(
                    (key, generation),
                    lambda: self._read(
                        tables, sites, self._background, previous=self._base(tables, key), span=span
                    ),
                )
                self._keep(tables, key, reads, generation, ttl)
            except Exception as exc:  # the next request reads again (or serves what it has)
                log.warning("health: re-reading the report's inputs failed: %s", type(exc).__name__)
            finally:
                with self._lock:
                    self._revalidating.discard(key)

        threading.Thread(target=read, name="health-revalidate", daemon=True).start()

    def _read(
        self,
        tables: TableServiceClient,
        sites: list[Site],
        pool: ThreadPoolExecutor | None = None,
        *,
        previous: _Reads | None = None,
        span: tuple[str, str] | None = None,
    ) -> _Reads:
        pool = pool or self._pool
        names = [s.name for s in sites]
        probed_at = _now()
        since = ((previous.probed_at if previous is not None else None) or probed_at) - PROBE_MARGIN
        snapshot = pool.submit(read_snapshot, tables)
        if span is not None:
            rotation = [pool.submit(_rotations, tables, sites, span)]
        else:
            rotation = [
                pool.submit(_rotations, tables, sites[i : i + SITES_PER_QUERY])
                for i in range(0, len(sites), SITES_PER_QUERY)
            ]
        probes = {t: pool.submit(_probe, tables, t, names, since, span) for t in PROBED_TABLES}
        # The rows are read after the probe that vouches for them: a write the reads miss shows in the
        # next probe as a row not seen.
        marks = {t: f.result() for t, f in probes.items()}
        started = time.monotonic()
        reread = self._reread(names, marks, previous, started)
        runs = {n: pool.submit(_latest_run, tables, n) for n in reread[RUNS]}
        events = {
            n: pool.submit(failover_events, tables, site=n, limit=EVENTS_READ) for n in reread[FAILOVER]
        }
        drills = {n: pool.submit(_drill, tables, n) for n in reread[DRILLS]}
        full = set(reread[RUNS]) & set(reread[FAILOVER]) & set(reread[DRILLS])
        before = previous if previous is not None else _Reads(None, {}, {}, {}, 0.0)
        return _Reads(
            drills={n: before.drills.get(n, {}) for n in names} | {n: f.result() for n, f in drills.items()},
            snapshot=snapshot.result().document,
            runs={n: before.runs.get(n) for n in names} | {n: f.result() for n, f in runs.items()},
            events={n: before.events.get(n, []) for n in names} | {n: f.result() for n, f in events.items()},
            rotation={name: view for f in rotation for name, view in f.result().items()},
            at=time.monotonic(),
            marks={t: found if found is not None else {} for t, found in marks.items()},
            probed_at=probed_at,
            full_at={n: started if n in full else before.full_at.get(n, 0.0) for n in names},
        )

    @staticmethod
    def _reread(
        names: list[str], marks: dict[str, Marks | None], previous: _Reads | None, now: float
    ) -> dict[str, list[str]]:
        """Per probed table, the sites whose rows are read again: every site on a first read or when the
        probe failed; else the sites with a row the previous probe did not return, and the (at most
        1 per SITES_PER_FULL_READ) sites whose last full read is the oldest, older than FULL_READ_SECONDS,
        and the sites whose drills could not be read."""
        if previous is None:
            return {t: list(names) for t in PROBED_TABLES}
        known = set(previous.runs)
        due = sorted(
            (previous.full_at.get(n, 0.0), n)
            for n in names
            if n not in known or now - previous.full_at.get(n, 0.0) >= FULL_READ_SECONDS
        )
        turn = {n for _, n in due[: max(1, len(names) // SITES_PER_FULL_READ)]}
        turn |= {n for n in names if n not in known or previous.drills.get(n) == {}}  # {}: _drill failed
        reread: dict[str, list[str]] = {}
        for t in PROBED_TABLES:
            found, seen = marks[t], previous.marks.get(t, {})
            if found is None:
                reread[t] = list(names)
                continue
            reread[t] = [
                n for n in names if n in turn or not found.get(n, frozenset()) <= seen.get(n, frozenset())
            ]
        return reread


_reports = _ReportReads()
_refreshes = SingleFlight()


def _wait_for_snapshot(tables: TableServiceClient, since: datetime) -> None:
    """After losing the claim: wait (bounded) until the winner's snapshot is written."""
    deadline = time.monotonic() + REFRESH_WAIT_SECONDS
    while time.monotonic() < deadline:
        document = read_snapshot(tables).document or {}
        taken = document.get("takenAt")
        if taken and datetime.fromisoformat(taken) >= since:
            return
        time.sleep(0.2)


def refresh(
    settings: Settings, sites: list[Site], tables: TableServiceClient, now: Clock = _now
) -> dict[str, Any]:
    """A live check of `sites` through poll_sites, coalesced within the instance and rate-limited across
    instances. Returns the report's `refresh` section."""
    minimum = settings.health_refresh_min_seconds

    def run() -> dict[str, Any]:
        claim = claim_refresh(tables, now(), minimum)
        if not claim.granted:
            _wait_for_snapshot(tables, claim.claimed_at or now())
            when = claim.claimed_at.isoformat() if claim.claimed_at else "just now"
            return {
                "requested": True,
                "performed": False,
                "detail": f"a live check started {when}, less than {minimum:g}s ago: served from its snapshot",
            }
        poll_sites(settings, sites, source="refresh", tables=tables, now=now)
        return {"requested": True, "performed": True, "detail": f"live check of {len(sites)} site(s)"}

    info, shared = _refreshes.do(tuple(s.name for s in sites), run)
    if shared:
        info = {**info, "detail": f"{info['detail']} (coalesced with a concurrent refresh)"}
    _reports.invalidate()
    return info


def health_report(
    settings: Settings,
    *,
    site: str | None = None,
    live: bool = False,
    tables: TableServiceClient | None = None,
    now: Clock = _now,
    page: Page | None = None,
) -> tuple[dict[str, Any], int]:
    """(report, HTTP status). Raises UnknownSite for a site not in the spec. `page`: which sites the
    report lists (name and status filters, page number and size; see Page)."""
    spec = current_spec(settings)
    all_sites = list(spec.sites)
    sites = all_sites
    if site is not None:
        sites = [s for s in all_sites if s.name == site]
        if not sites:
            raise UnknownSite(site, [s.name for s in all_sites])
    tables = tables if tables is not None else table_service(settings)
    refresh_info = refresh(settings, sites, tables, now) if live else None
    page = page or Page()
    return _paged_report(settings, page, sites, all_sites, tables, refresh_info, now, _sorted_names(spec))


_names_by_spec: dict[int, tuple[NetworkSpec, list[str]]] = {}  # id(spec) -> (spec, its site names sorted)


def _sorted_names(spec: NetworkSpec) -> list[str]:
    known = _names_by_spec.get(id(spec))
    if known is not None and known[0] is spec:
        return known[1]
    names = sorted(s.name for s in spec.sites)
    if len(_names_by_spec) >= 4:
        _names_by_spec.clear()
    _names_by_spec[id(spec)] = (spec, names)  # holding the spec: its id() is not reused meanwhile
    return names


def _span(sites: list[Site], universe: list[str]) -> tuple[str, str] | None:
    """The lowest and highest name of `sites` when at most as many other sites of `universe` (every
    site name, sorted) lie between them as `sites` has (a page of the spec's sites in name order): their
    rotation states and change probes are then read with one range query per table, whatever the page
    size. None when they are scattered (a name or status filter): 1 query per 14 sites."""
    if not sites:
        return None
    names = [s.name for s in sites]
    low, high = min(names), max(names)
    between = bisect.bisect_right(universe, high) - bisect.bisect_left(universe, low)
    return (low, high) if between <= 2 * len(names) else None


def _site_inputs(settings: Settings, sites: list[Site], reads: _Reads) -> list[SiteInputs]:
    return [
        SiteInputs(
            name=s.name,
            on_premises_prefixes=list(s.on_premises.address_space),
            latest_run=reads.runs.get(s.name),
            events=reads.events.get(s.name, []),
            rotation={
                **reads.rotation.get(s.name, {"state": "unknown"}),
                "enabled": s.rotation.enabled,
                "mode": settings.rotation_mode,
            },
            drill={**reads.drills.get(s.name, {}), "maxAgeDays": settings.drill_max_age_days},
        )
        for s in sites
    ]


def _paged_report(
    settings: Settings,
    page: Page,
    sites: list[Site],
    all_sites: list[Site],
    tables: TableServiceClient,
    refresh_info: dict[str, Any] | None,
    now: Clock,
    universe: list[str],
) -> tuple[dict[str, Any], int]:
    """The report of one page of `sites`. Without a status filter only the page's sites are read (see
    _ReportReads, cached per instance); a status filter reads every site matching the name filter first
    (their status needs their run, events and rotation). The overall status and the 503 rule still look
    at every site's paths in the snapshot, so an outage on another page is not hidden."""
    slices = poll_slices(len(all_sites), interval_seconds=poll_interval_seconds(settings))
    stale_after = settings.health_stale_seconds * slices  # a site is observed every slices-th poll
    candidates = sites if page.name is None else [s for s in sites if page.name.lower() in s.name.lower()]
    ttl = settings.health_cache_seconds
    start = (page.number - 1) * page.size
    if page.statuses:
        reads = _reports.get(tables, candidates, ttl, span=_span(candidates, universe))
        full = build_report(
            reads.snapshot, _site_inputs(settings, candidates, reads), now=now(), stale_after=stale_after
        )
        listed = [r for r in full["sites"] if r["status"] in page.statuses]
        matching = len(listed)
        chosen = listed[start : start + page.size]
        names = {r["name"] for r in chosen}
        shown = [s for s in candidates if s.name in names]
    else:
        matching = len(candidates)
        shown = candidates[start : start + page.size]
        reads = _reports.get(tables, shown, ttl, span=_span(shown, universe))
    moment = now()
    key = (id(reads), reads.at, page, tuple(s.name for s in shown), len(sites), matching, stale_after)
    key += (settings.health_503_on, int(moment.timestamp()))
    if refresh_info is not None:
        return _build_page(settings, page, sites, shown, matching, reads, moment, stale_after, refresh_info)
    built = _built.get(key)
    if built is not None:  # the same page from the same reads within this second
        return built

    def build() -> tuple[dict[str, Any], int]:
        again = _built.get(key)  # built by a leader that finished just before this one started
        if again is not None:
            return again
        result = _build_page(settings, page, sites, shown, matching, reads, moment, stale_after, None)
        _built.put(key, result)
        return result

    # When the second turns, the requests in flight all miss: one builds the page, the others wait for it
    # (8 builds at once under the GIL would each take 8 times as long).
    return _builds.do(key, build)[0]


def _build_page(
    settings: Settings,
    page: Page,
    sites: list[Site],
    shown: list[Site],
    matching: int,
    reads: _Reads,
    moment: datetime,
    stale_after: float,
    refresh_info: dict[str, Any] | None,
) -> tuple[dict[str, Any], int]:
    report = build_report(
        reads.snapshot,
        _site_inputs(settings, shown, reads),
        now=moment,
        stale_after=stale_after,
        refresh=refresh_info,
    )
    report["page"] = page.describe(total=len(sites), matching=matching, shown=len(shown))
    entries = (reads.snapshot or {}).get("sites") or {}
    elsewhere = [entries.get(s.name) or {} for s in sites]
    worst = {"none": "outage", "vpn": "failover"}
    for entry in elsewhere:
        path_status = worst.get(str(entry.get("activePath")))
        if path_status and RANK[path_status] > RANK[report["status"]]:
            report["status"] = path_status
            report["reason"] = f"{entry.get('name')}: {path_status} (another page); {report['reason']}"
    status = http_status(report, settings.health_503_on)
    if (
        status == 200
        and "outage" in settings.health_503_on
        and any(e.get("activePath") == "none" for e in elsewhere)
    ):
        status = 503
    return report, status


class _BuiltReports:
    """Reports built in the current second, by page and reads: at hundreds of requests a second a page
    of 50 sites is built once a second, not once per request (ages are exact to the second)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[Any, tuple[dict[str, Any], int]] = {}

    def get(self, key: Any) -> tuple[dict[str, Any], int] | None:
        with self._lock:
            return self._items.get(key)

    def put(self, key: Any, value: tuple[dict[str, Any], int]) -> None:
        with self._lock:
            if len(self._items) >= 64:
                self._items.clear()
            self._items[key] = value


_built = _BuiltReports()
_builds = SingleFlight()
