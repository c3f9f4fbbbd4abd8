"""The route checks' budget: how many a route-timer run may do, and which sites it checks (pure).

A route check is 3 POST long-running operations (2 x getLearnedRoutes, 1 x getBgpPeerStatus; + 1 with
BGP over the VPN), which ARM counts as WRITES, + about 12 reads (the connection and local network
gateway GETs, the operations' status polls and results). The app's client-side budget
(shared.azure.budget) refills 8 writes/s (480/min) and 20 reads/s (1,200/min); the failover poll already
spends up to 600 reads/min (shared.services.health.POLL_READS_PER_MINUTE). Route checks get:

- the route timer: ROUTE_CHECKS_PER_MINUTE = 30 -> 90 writes/min (1.5/s, 19% of the write refill) and
  ~360 reads/min (30% of the read refill; with the poll 80%, the rest left to drift re-reads, alerts,
  refreshes, rotation and drills). At the default 5-minute schedule a run checks up to 150 sites
  (450 writes); beyond that the sites are cut into slices checked in turn, like the poll's;
- the status poll's inline checks (a site whose connection statuses changed since its route view was
  taken): at most INLINE_ROUTE_CHECKS_PER_MINUTE = 10 -> 30 writes/min, ~120 reads/min.

So route checks never spend more than 120 writes/min (2/s of the 8/s refill) whatever the site count
(alerts' route checks come on top, coalesced per site). Per site count, at the default schedule:

| sites | route-timer run | each site checked | route-timer writes/min |
|---|---|---|---|
| 1 | 1 site | every run (5 min) | 0.6 |
| 100 | 100 sites | every run (5 min) | 60 |
| 1,000 | 143 sites (7 slices) | every 7th run (35 min) | 86 |

A site without a route view yet gets its first one from its slice's turn: within slices x interval
(1,000 sites: 35 minutes); until then its health shows the connection statuses only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

ROUTE_CHECKS_PER_MINUTE = 30  # the route timer's share (see the module docstring)
INLINE_ROUTE_CHECKS_PER_MINUTE = 10  # the status poll's inline route checks, all polls of an instance
WRITES_PER_ROUTE_CHECK = 3  # 2 x getLearnedRoutes + 1 x getBgpPeerStatus (+ 1 with BGP over the VPN)
READS_PER_ROUTE_CHECK = 12  # measured: 3 resource GETs + the operations' polls and results
ROUTE_CONCURRENCY = 16  # route checks at once in one route-timer run


def route_checks_per_run(interval_seconds: float) -> int:
    """How many route checks one route-timer run may do: ROUTE_CHECKS_PER_MINUTE over its interval
    (150 at the default 5 minutes), at least 1."""
    return max(1, int(ROUTE_CHECKS_PER_MINUTE * interval_seconds / 60.0))


def route_slices(site_count: int, *, interval_seconds: float) -> int:
    """Into how many slices the sites are cut so one run stays within route_checks_per_run: 1 (every
    site every run) up to 150 sites at the default 5 minutes; 1,000 sites: 7."""
    per_run = route_checks_per_run(interval_seconds)
    return max(1, -(-site_count // per_run))


def route_turn(now: datetime, *, interval_seconds: float, slices: int) -> int:
    """The slice due at `now`: the run's number modulo the slice count. Runs are numbered by the nearest
    schedule boundary, so a timer firing a little late (or early) still gets its own turn."""
    return round(now.timestamp() / max(1.0, interval_seconds)) % slices


def due_for_routes(
    names: Sequence[str],
    *,
    now: datetime,
    interval_seconds: float,
    first: Sequence[str] = (),
) -> list[str]:
    """The site names one route-timer run checks: the slice due now (index modulo the slice count), and
    ahead of it `first` (sites a poll could not check inline: a status change decided on statuses
    alone, waiting for its route check): those of the slice move to its front, the others are added
    as long as the run stays within route_checks_per_run. Every name is in exactly one slice, so
    `slices` successive runs cover them all; no name is listed twice."""
    slices = route_slices(len(names), interval_seconds=interval_seconds)
    if slices == 1:
        due = list(names)
    else:
        turn = route_turn(now, interval_seconds=interval_seconds, slices=slices)
        due = [name for index, name in enumerate(names) if index % slices == turn]
    in_slice, known = set(due), set(names)
    room = max(0, route_checks_per_run(interval_seconds) - len(due))
    ahead: list[str] = []
    seen: set[str] = set()
    for name in first:
        if name in seen or name not in known:
            continue
        if name not in in_slice:
            if room == 0:
                continue
            room -= 1
        ahead.append(name)
        seen.add(name)
    return ahead + [name for name in due if name not in seen]
