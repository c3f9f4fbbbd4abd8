"""The route checks' budget: how many a route-timer run may do, and which sites it checks (pure).

A route check is 3 POST long-running operations (2 x getLearnedRoutes, 1 x getBgpPeerStatus; + 1 with
BGP over the VPN), which ARM counts as WRITES, + 9-15 reads (the connection and local network
gateway GETs, the operations' status polls and results: 14.8 a check measured polling every 5 s,
9 following ARM's Retry-After of 10 s; the budget counts 15). The app's client-side budget
(shared.azure.budget) refills 8 writes/s (480/min) and 20 reads/s (1,200/min); the failover poll already
spends up to 600 reads/min (shared.services.health.POLL_READS_PER_MINUTE), so reads bind first. Route
checks get:

- the route timer: ROUTE_CHECKS_PER_MINUTE = 30 -> at most 90 writes/min (1.5/s, 19% of the write
  refill) and ~450 reads/min (37% of the read refill; with the poll's 87%, the rest is left to drift
  re-reads, alerts, refreshes, rotation and drills). At the default 5-minute schedule a run does at
  most 150 route checks (450 writes): its slice of at most 135 sites (all of them up to 135 sites,
  beyond that the sites are cut into slices checked in turn, like the poll's), and a tenth of the run
  for the sites a poll left waiting for a route check (first in line);
- the status poll's inline checks (a site whose connection statuses changed since its route view was
  taken): at most INLINE_ROUTE_CHECKS_PER_MINUTE = 10 per instance -> 30 writes/min, ~150 reads/min.

So scheduled and inline route checks never spend more than 120 writes/min (2/s of the 8/s refill)
whatever the site count (alerts' route checks come on top, coalesced per site). At the default schedule:

| sites | route-timer run | each site checked | route-timer writes/min (at most) |
|---|---|---|---|
| 1 | 1 site | every run (5 min) | 0.6 |
| 100 | 100 sites | every run (5 min) | 60 (90) |
| 1,000 | 125 sites (8 slices) + up to 25 waiting | every 8th run (40 min) | 75 (90) |

A site without a route view yet gets its first one from its slice's turn: within slices x interval
(1,000 sites: 40 minutes); until then its health shows the connection statuses only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

ROUTE_CHECKS_PER_MINUTE = 30  # the route timer's share (see the module docstring)
INLINE_ROUTE_CHECKS_PER_MINUTE = 10  # the status poll's inline route checks, all polls of an instance
WRITES_PER_ROUTE_CHECK = 3  # 2 x getLearnedRoutes + 1 x getBgpPeerStatus (+ 1 with BGP over the VPN)
READS_PER_ROUTE_CHECK = 15  # measured 14.8: 3 resource GETs + the operations' polls and results
# Route checks at once in one route-timer run. A check mostly waits: its operations take seconds in
# Azure (~10 s, polled at ARM's Retry-After), so 32 at once finish a run of 150 in a few minutes at most
# (about 5 rounds); the client budget, not this, sets the pace when the answers come fast.
ROUTE_CONCURRENCY = 32
WAITING_SHARE = 10  # 1/10 of a run is kept for the sites polls left waiting for a route check


def route_checks_per_run(interval_seconds: float) -> int:
    """How many route checks one route-timer run may do: ROUTE_CHECKS_PER_MINUTE over its interval
    (150 at the default 5 minutes), at least 1."""
    return max(1, int(ROUTE_CHECKS_PER_MINUTE * interval_seconds / 60.0))


def slice_capacity(interval_seconds: float) -> int:
    """Sites per slice: the run's route checks less a tenth kept for the sites polls left waiting
    (135 at the default 5 minutes)."""
    per_run = route_checks_per_run(interval_seconds)
    return per_run - per_run // WAITING_SHARE


def route_slices(site_count: int, *, interval_seconds: float) -> int:
    """Into how many slices the sites are cut so one run stays within route_checks_per_run: 1 (every
    site every run) up to 135 sites at the default 5 minutes; 1,000 sites: 8."""
    return max(1, -(-site_count // slice_capacity(interval_seconds)))


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
