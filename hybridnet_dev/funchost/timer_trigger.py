"""Timer triggers: NCRONTAB schedules (seconds first) or TimeSpan intervals, `%SETTING%` placeholders,
`runOnStartup`, `past_due`; each invocation gets an `azure.functions.timer.TimerRequest`."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import re
import zoneinfo
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from azure.functions import meta
from azure.functions.timer import TimerRequestConverter
from croniter import croniter

from hybridnet_dev.funchost.config import resolve_placeholders
from hybridnet_dev.funchost.dispatch import TriggerPlugin
from hybridnet_dev.funchost.errors import FunctionHostError
from hybridnet_dev.funchost.loader import FunctionSpec

log = logging.getLogger("hybridnet_dev.funchost.timer")

PAST_DUE_TOLERANCE = dt.timedelta(seconds=1)
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})$")


class Schedule(Protocol):
    def next_after(self, moment: dt.datetime) -> dt.datetime: ...


@dataclass(frozen=True)
class CronSchedule:
    """An NCRONTAB expression: `{second} {minute} {hour} {day} {month} {day-of-week}` (5 fields: no
    seconds, as NCrontab also accepts). croniter wants seconds LAST, so the field is moved."""

    expression: str
    tz: dt.tzinfo

    @property
    def croniter_expression(self) -> str:
        fields = self.expression.split()
        return " ".join(fields[1:] + fields[:1]) if len(fields) == 6 else " ".join(fields)

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        nxt = croniter(self.croniter_expression, moment.astimezone(self.tz)).get_next(dt.datetime)
        return nxt.astimezone(dt.UTC)


@dataclass(frozen=True)
class IntervalSchedule:
    """A TimeSpan schedule (`hh:mm:ss` or `d.hh:mm:ss`): every interval from the start."""

    interval: dt.timedelta

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        return moment + self.interval


def host_timezone() -> dt.tzinfo:
    """UTC unless WEBSITE_TIME_ZONE names an IANA zone (as on Linux plans)."""
    name = os.environ.get("WEBSITE_TIME_ZONE")
    if not name:
        return dt.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        log.warning("WEBSITE_TIME_ZONE=%r is not an IANA time zone; timers use UTC", name)
        return dt.UTC


def parse_schedule(expression: str, *, what: str, tz: dt.tzinfo | None = None) -> Schedule:
    """Parse an NCRONTAB (6 or 5 fields) or TimeSpan schedule; raises FunctionHostError when invalid."""
    text = expression.strip()
    span = _TIMESPAN.match(text)
    if span:
        days, hours, minutes, seconds = (int(g) if g else 0 for g in span.groups())
        interval = dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if interval <= dt.timedelta(0):
            raise FunctionHostError(f"{what}: TimeSpan schedule '{text}' must be positive")
        return IntervalSchedule(interval)
    fields = text.split()
    if len(fields) not in (5, 6):
        raise FunctionHostError(
            f"{what}: schedule '{text}' is not an NCRONTAB expression "
            "('{second} {minute} {hour} {day} {month} {day-of-week}', e.g. '0 */5 * * * *')"
        )
    schedule = CronSchedule(text, tz or dt.UTC)
    if not croniter.is_valid(schedule.croniter_expression):
        raise FunctionHostError(f"{what}: schedule '{text}' is not a valid NCRONTAB expression")
    return schedule


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def timer_request(
    *, past_due: bool, last: dt.datetime | None, next_: dt.datetime | None, adjust_for_dst: bool = True
) -> Any:
    """Build the TimerRequest through the library's converter, from the payload the host sends."""
    payload = {
        "Schedule": {"AdjustForDST": adjust_for_dst},
        "ScheduleStatus": {
            "Last": _iso(last),
            "Next": _iso(next_),
            "LastUpdated": _iso(dt.datetime.now(dt.UTC)),
        },
        "IsPastDue": past_due,
    }
    return TimerRequestConverter.decode(
        meta.Datum(type="json", value=json.dumps(payload)), trigger_metadata={}
    )


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TimerTriggerPlugin(TriggerPlugin):
    trigger_type: ClassVar[str] = "timerTrigger"

    def validate(self) -> None:
        self.schedules: dict[str, Schedule] = {}
        self._tasks: list[asyncio.Task[None]] = []
        if not self.host.enable_timers:
            return
        tz = host_timezone()
        for fn in self.functions:
            what = f"function '{fn.name}' (timerTrigger)"
            raw = str(fn.trigger.raw.get("schedule", ""))
            self.schedules[fn.name] = parse_schedule(resolve_placeholders(raw, what=what), what=what, tz=tz)

    async def start(self) -> None:
        for fn in self.functions:
            schedule = self.schedules.get(fn.name)
            if schedule is not None:
                self._tasks.append(asyncio.create_task(self._run(fn, schedule), name=f"timer:{fn.name}"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def manual_trigger_value(self, fn: FunctionSpec, raw_input: str) -> Any:
        return timer_request(past_due=False, last=None, next_=None)

    async def _fire(self, fn: FunctionSpec, request: Any) -> None:
        try:
            await self.host.invoker.invoke(fn, request)
        except Exception:  # already logged by the invoker; the schedule goes on, as in the host
            pass

    async def _run(self, fn: FunctionSpec, schedule: Schedule) -> None:
        last: dt.datetime | None = None
        if fn.trigger.raw.get("runOnStartup"):
            await self._fire(
                fn, timer_request(past_due=False, last=None, next_=schedule.next_after(_utcnow()))
            )
        due = schedule.next_after(_utcnow())
        log.info("Timer '%s': next occurrence %s", fn.name, due.isoformat())
        while True:
            while (wait := (due - _utcnow()).total_seconds()) > 0:
                await asyncio.sleep(wait)
            fired = _utcnow()
            following = schedule.next_after(max(fired, due))
            past_due = fired - due > PAST_DUE_TOLERANCE
            await self._fire(fn, timer_request(past_due=past_due, last=last, next_=following))
            last = due
            # Occurrences missed while the function ran are skipped, as the host does.
            due = schedule.next_after(max(_utcnow(), due))
