"""Digest schedules: parsing a subscription's `digest:` spec and finding its next due time.

This module owns the schedule grammar (DESIGN §2/§4) and the only place where wall-clock
time in a subscription's zone is turned into UTC instants:

    immediate                     every match goes out at once (coalesced by the notifier)
    every N(s|m|h|d)              fixed interval, at least 1 minute
    hourly                        at the top of every UTC hour
    daily HH:MM [TZ]              every day at that wall time in TZ (IANA name, default UTC)
    weekly DAY HH:MM [TZ]         DAY = mon..sun or monday..sunday, any case

Errors are values (`ScheduleError(message, column)`, 1-based column into the spec) so that
`wirewatch check` can report `path:line:col`. Everything here is pure: the current time is
always a parameter.

DST: a wall time that does not exist on a spring-forward day fires at the first valid
instant after it (the transition itself, e.g. 03:00 local for a 02:30 schedule); a wall
time that happens twice on a fall-back day fires once, at its first occurrence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

__all__ = ["Schedule", "ScheduleError", "following_due", "next_due", "parse_schedule"]

Kind = Literal["immediate", "every", "hourly", "daily", "weekly"]

MIN_INTERVAL = timedelta(minutes=1)
"""Shortest `every` interval: a digest more often than once a minute is `immediate` in disguise."""

_EXAMPLES = "immediate, every 30m, hourly, daily 08:00 Asia/Seoul or weekly mon 09:00 UTC"
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EVERY_RE = re.compile(r"(\d+)([smhd])", re.IGNORECASE)
_TIME_RE = re.compile(r"(\d{1,2}):(\d{2})")


@dataclass(frozen=True)
class ScheduleError:
    """A schedule spec that cannot be used: what is wrong, what to write, and where (1-based)."""

    message: str
    column: int

    def __str__(self) -> str:
        return f"column {self.column}: {self.message}"


@dataclass(frozen=True)
class Schedule:
    """A parsed digest schedule.

    `interval` is set for `every`; `at` for daily/weekly; `weekday` (0 = Monday) for weekly;
    `tz` is the IANA zone name (always "UTC" except for daily/weekly).
    """

    kind: Kind
    interval: timedelta | None = None
    at: time | None = None
    weekday: int | None = None
    tz: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        """The zone digest times are shown in: the schedule's own zone, else UTC."""
        return ZoneInfo(self.tz)

    @property
    def is_immediate(self) -> bool:
        return self.kind == "immediate"

    def __str__(self) -> str:
        """The canonical spelling, e.g. `daily 08:00 Asia/Seoul`, for logs and previews."""
        if self.kind == "every":
            assert self.interval is not None
            return f"every {_format_interval(self.interval)}"
        if self.kind in ("immediate", "hourly"):
            return self.kind
        assert self.at is not None
        clock = f"{self.at.hour:02d}:{self.at.minute:02d} {self.tz}"
        if self.kind == "daily":
            return f"daily {clock}"
        assert self.weekday is not None
        return f"weekly {_DAYS[self.weekday]} {clock}"


# ---------------------------------------------------------------------------------------------
# Parsing


@dataclass(frozen=True)
class _Word:
    text: str
    column: int  # 1-based


def _words(spec: str) -> list[_Word]:
    return [_Word(m.group(), m.start() + 1) for m in re.finditer(r"\S+", spec)]


def parse_schedule(spec: str) -> Schedule | ScheduleError:
    """Parse a `digest:` value; errors are returned (not raised) with the column to report."""
    words = _words(spec)
    if not words:
        return ScheduleError(f"empty schedule: write one of {_EXAMPLES}", 1)
    head, rest = words[0], words[1:]
    end = len(spec.rstrip()) + 1  # column just past the last character
    kind = head.text.lower()
    if kind in ("immediate", "hourly"):
        if rest:
            return ScheduleError(
                f"'{kind}' takes nothing after it: write just '{kind}'", rest[0].column
            )
        return Schedule(kind="immediate" if kind == "immediate" else "hourly")
    if kind == "every":
        return _parse_every(rest, end)
    if kind == "daily":
        return _parse_clock(rest, end, weekday=None)
    if kind == "weekly":
        if not rest:
            return ScheduleError("missing day: write e.g. 'weekly mon 09:00 UTC'", end)
        weekday = _parse_day(rest[0].text)
        if weekday is None:
            return ScheduleError(
                f"unknown day '{rest[0].text}': write mon, tue, wed, thu, fri, sat or sun",
                rest[0].column,
            )
        return _parse_clock(rest[1:], end, weekday=weekday)
    return ScheduleError(f"unknown schedule '{head.text}': write one of {_EXAMPLES}", head.column)


def _parse_every(rest: list[_Word], end: int) -> Schedule | ScheduleError:
    if not rest:
        return ScheduleError("missing interval: write e.g. 'every 30m' (units s, m, h, d)", end)
    word = rest[0]
    m = _EVERY_RE.fullmatch(word.text)
    if m is None:
        return ScheduleError(
            f"bad interval '{word.text}': write a number and a unit s, m, h or d, e.g. 30m",
            word.column,
        )
    interval = timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2).lower()])
    if interval < MIN_INTERVAL:
        return ScheduleError(
            "interval too short: at least 1m (use 'immediate' for instant delivery)", word.column
        )
    if len(rest) > 1:
        return ScheduleError(
            f"unexpected '{rest[1].text}': write just 'every {word.text}'", rest[1].column
        )
    return Schedule(kind="every", interval=interval)


def _parse_day(text: str) -> int | None:
    lowered = text.lower()
    if lowered in _DAYS:
        return _DAYS.index(lowered)
    if lowered in _DAY_NAMES:
        return _DAY_NAMES.index(lowered)
    return None


def _parse_clock(rest: list[_Word], end: int, *, weekday: int | None) -> Schedule | ScheduleError:
    kind: Kind = "daily" if weekday is None else "weekly"
    example = "daily 08:00 Asia/Seoul" if weekday is None else "weekly mon 09:00 UTC"
    if not rest:
        return ScheduleError(f"missing time: write HH:MM, e.g. '{example}'", end)
    clock = rest[0]
    m = _TIME_RE.fullmatch(clock.text)
    if m is None or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        return ScheduleError(
            f"bad time '{clock.text}': write a 24-hour HH:MM from 00:00 to 23:59, e.g. '{example}'",
            clock.column,
        )
    at = time(int(m.group(1)), int(m.group(2)))
    tz = "UTC"
    if len(rest) > 1:
        zone_word = rest[1]
        problem = _check_zone(zone_word.text)
        if problem is not None:
            return ScheduleError(problem, zone_word.column)
        tz = zone_word.text
    if len(rest) > 2:
        return ScheduleError(
            f"unexpected '{rest[2].text}': the time zone is the last word, e.g. '{example}'",
            rest[2].column,
        )
    return Schedule(kind=kind, at=at, weekday=weekday, tz=tz)


def _check_zone(name: str) -> str | None:
    """None when `name` is a usable IANA zone, else a message saying what to write instead."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        hint = _zone_names_by_lower().get(name.lower())
        if hint is not None:
            return f"unknown time zone '{name}': zone names are case-sensitive, write {hint}"
        return f"unknown time zone '{name}': write an IANA zone such as UTC or Asia/Seoul"
    return None


@cache
def _zone_names_by_lower() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def _format_interval(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


# ---------------------------------------------------------------------------------------------
# Due times


def next_due(schedule: Schedule, after: datetime) -> datetime | None:
    """The first due instant strictly after `after` (aware; returned in UTC), None for immediate.

    Strictly after, so a digest sent at its due time asks for the following one. `every N` is
    simply `after + N`: the caller anchors it by passing the subscription's first-seen time
    and then each previous due time (not the send time), so intervals do not drift.
    """
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("next_due needs an aware datetime")
    after = after.astimezone(UTC)
    if schedule.kind == "immediate":
        return None
    if schedule.kind == "every":
        assert schedule.interval is not None
        return after + schedule.interval
    if schedule.kind == "hourly":
        return after.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    assert schedule.at is not None
    zone = schedule.zone
    local_day = after.astimezone(zone).date()
    # Start a day early: a gap-shifted or zone-offset occurrence of yesterday may still lie ahead.
    for offset in range(-1, 9):
        day = local_day + timedelta(days=offset)
        if schedule.weekday is not None and day.weekday() != schedule.weekday:
            continue
        due = _wall_time_instant(day, schedule.at, zone)
        if due > after:
            return due
    raise AssertionError("unreachable: a daily or weekly schedule always fires within 8 days")


def following_due(schedule: Schedule, due: datetime, now: datetime) -> datetime | None:
    """The due time after `due`, once `due` has fired at `now` (both aware): later than `now`.

    `every N` stays on the grid that starts at the first due time (anchored on `due`, never
    on when the digest was actually sent, so it does not drift); occurrences missed while no
    notifier ran are skipped, not sent one after another. Clock schedules are their own grid.
    """
    if schedule.kind == "every":
        assert schedule.interval is not None
        due = due.astimezone(UTC)
        if now < due:
            return due + schedule.interval
        missed = (now.astimezone(UTC) - due) // schedule.interval
        return due + (missed + 1) * schedule.interval
    return next_due(schedule, max(due, now))


def _wall_time_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall time `day at` in `zone`, resolved as the module docstring says."""
    first = datetime.combine(day, at, tzinfo=zone)  # fold=0: the earlier of an ambiguous pair
    instant = first.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == first.replace(tzinfo=None):
        return instant  # the wall time exists (once, or twice and fold=0 is the first)
    # The wall time falls in a gap: fire at the transition, the first valid instant after it.
    # fold=0 and fold=1 map the missing time to instants on either side of the transition.
    other = first.replace(fold=1).astimezone(UTC)
    return _transition_between(min(instant, other), max(instant, other), zone)


def _transition_between(low: datetime, high: datetime, zone: ZoneInfo) -> datetime:
    """The first instant in (low, high] whose UTC offset differs from low's (to the second)."""
    before = low.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle <= low:
            middle = low + timedelta(seconds=1)
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high
