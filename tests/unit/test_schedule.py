"""Digest schedules: parsing (with error columns) and next due times across DST."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from services.notifier.schedule import (
    Schedule,
    ScheduleError,
    following_due,
    next_due,
    parse_schedule,
)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def parsed(spec: str) -> Schedule:
    schedule = parse_schedule(spec)
    assert isinstance(schedule, Schedule), schedule
    return schedule


# --- parsing -----------------------------------------------------------------------------

GOOD = [
    # spec, canonical form, zone
    ("immediate", "immediate", "UTC"),
    ("IMMEDIATE", "immediate", "UTC"),
    ("hourly", "hourly", "UTC"),
    ("every 30m", "every 30m", "UTC"),
    ("every 90s", "every 90s", "UTC"),
    ("every 120m", "every 2h", "UTC"),
    ("Every 2H", "every 2h", "UTC"),
    ("every 1d", "every 1d", "UTC"),
    ("daily 08:00 Asia/Seoul", "daily 08:00 Asia/Seoul", "Asia/Seoul"),
    ("daily 8:05", "daily 08:05 UTC", "UTC"),
    ("  daily   23:59   Europe/Berlin  ", "daily 23:59 Europe/Berlin", "Europe/Berlin"),
    ("weekly mon 09:00 UTC", "weekly mon 09:00 UTC", "UTC"),
    ("weekly Monday 09:00", "weekly mon 09:00 UTC", "UTC"),
    ("WEEKLY SUN 23:30 America/New_York", "weekly sun 23:30 America/New_York", "America/New_York"),
    ("weekly thursday 00:00 Asia/Seoul", "weekly thu 00:00 Asia/Seoul", "Asia/Seoul"),
]


@pytest.mark.parametrize(("spec", "canonical", "zone"), GOOD)
def test_parse_good(spec: str, canonical: str, zone: str) -> None:
    schedule = parsed(spec)
    assert str(schedule) == canonical
    assert schedule.zone == ZoneInfo(zone)
    assert parse_schedule(str(schedule)) == schedule  # the canonical form round-trips


def test_parse_fields() -> None:
    assert parsed("every 45m").interval == timedelta(minutes=45)
    weekly = parsed("weekly fri 17:30 Europe/Berlin")
    assert (weekly.kind, weekly.weekday, weekly.at, weekly.tz) == (
        "weekly",
        4,
        time(17, 30),
        "Europe/Berlin",
    )
    assert parsed("immediate").is_immediate
    assert not parsed("hourly").is_immediate


BAD = [
    # spec, column, a piece of the message (which says what to write instead)
    ("", 1, "write one of immediate, every 30m"),
    ("   ", 1, "empty schedule"),
    ("daly 08:00", 1, "unknown schedule 'daly': write one of"),
    ("  sometimes", 3, "unknown schedule"),
    ("every", 6, "missing interval: write e.g. 'every 30m'"),
    ("every 30x", 7, "bad interval '30x': write a number and a unit"),
    ("every 30 m", 7, "bad interval '30'"),
    ("every 30s", 7, "at least 1m"),
    ("every 0m", 7, "at least 1m"),
    ("every 30m daily", 11, "write just 'every 30m'"),
    ("hourly now", 8, "write just 'hourly'"),
    ("immediate please", 11, "write just 'immediate'"),
    ("daily", 6, "missing time: write HH:MM"),
    ("daily   ", 6, "missing time"),
    ("daily 8am", 7, "bad time '8am': write a 24-hour HH:MM"),
    ("daily 24:00 UTC", 7, "bad time '24:00'"),
    ("daily 08:60", 7, "bad time"),
    ("daily 0800 UTC", 7, "bad time"),
    ("daily 08:00 Mars/Olympus", 13, "unknown time zone 'Mars/Olympus': write an IANA zone"),
    ("daily 08:00 asia/seoul", 13, "case-sensitive, write Asia/Seoul"),
    ("daily 08:00 ../../etc/passwd", 13, "unknown time zone"),
    ("daily 08:00 UTC sharp", 17, "the time zone is the last word"),
    ("daily 08:00 Asia/Seoul KST", 24, "the time zone is the last word"),
    ("weekly", 7, "missing day: write e.g. 'weekly mon 09:00 UTC'"),
    ("weekly someday 09:00", 8, "unknown day 'someday': write mon, tue"),
    ("weekly 09:00 mon", 8, "unknown day '09:00'"),
    ("weekly mon", 11, "missing time"),
    ("weekly mon 9", 12, "bad time '9'"),
    ("weekly mon 09:00 Europe/Berln", 18, "unknown time zone 'Europe/Berln'"),
]


@pytest.mark.parametrize(("spec", "column", "message"), BAD)
def test_parse_bad(spec: str, column: int, message: str) -> None:
    error = parse_schedule(spec)
    assert isinstance(error, ScheduleError), error
    assert error.column == column
    assert message in error.message
    assert str(error) == f"column {column}: {error.message}"


# --- next due ----------------------------------------------------------------------------

DUE = [
    # spec, after (UTC), expected due (UTC), what it shows
    # America/New_York, spring forward 2026-03-08 02:00 EST -> 03:00 EDT (07:00 UTC)
    ("daily 02:30 America/New_York", utc(2026, 3, 8, 5), utc(2026, 3, 8, 7), "gap: 03:00 EDT"),
    ("daily 02:00 America/New_York", utc(2026, 3, 8, 5), utc(2026, 3, 8, 7), "gap start"),
    ("daily 03:00 America/New_York", utc(2026, 3, 8, 5), utc(2026, 3, 8, 7), "gap end"),
    ("daily 02:30 America/New_York", utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30), "next day EDT"),
    ("daily 02:30 America/New_York", utc(2026, 3, 7, 8), utc(2026, 3, 8, 7), "from the day before"),
    ("daily 08:00 America/New_York", utc(2026, 3, 7, 14), utc(2026, 3, 8, 12), "EST -> EDT"),
    # America/New_York, fall back 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 happens twice
    ("daily 01:30 America/New_York", utc(2026, 11, 1, 4), utc(2026, 11, 1, 5, 30), "first 01:30"),
    ("daily 01:30 America/New_York", utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30), "once"),
    ("daily 01:30 America/New_York", utc(2026, 11, 1, 6), utc(2026, 11, 2, 6, 30), "not 2nd"),
    ("daily 08:00 America/New_York", utc(2026, 11, 1, 4), utc(2026, 11, 1, 13), "EST"),
    # Europe/Berlin, spring forward 2026-03-29 02:00 CET -> 03:00 CEST (01:00 UTC)
    ("daily 02:30 Europe/Berlin", utc(2026, 3, 28, 23), utc(2026, 3, 29, 1), "gap: 03:00 CEST"),
    ("daily 08:00 Europe/Berlin", utc(2026, 3, 29, 0), utc(2026, 3, 29, 6), "CEST"),
    ("weekly sun 02:30 Europe/Berlin", utc(2026, 3, 23), utc(2026, 3, 29, 1), "weekly gap"),
    # Europe/Berlin, fall back 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens twice
    ("daily 02:30 Europe/Berlin", utc(2026, 10, 24, 23), utc(2026, 10, 25, 0, 30), "first 02:30"),
    ("daily 02:30 Europe/Berlin", utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30), "once"),
    ("daily 02:30 Europe/Berlin", utc(2026, 10, 25, 1), utc(2026, 10, 26, 1, 30), "not 2nd"),
    # Asia/Seoul: no DST, same UTC hour all year, day boundary 9 h off UTC
    ("daily 08:00 Asia/Seoul", utc(2026, 3, 8, 0), utc(2026, 3, 8, 23), "next morning"),
    ("daily 08:00 Asia/Seoul", utc(2026, 6, 17, 22, 59), utc(2026, 6, 17, 23), "a minute later"),
    ("daily 08:00 Asia/Seoul", utc(2026, 11, 1, 5), utc(2026, 11, 1, 23), "no fall back"),
    ("daily 00:00 Asia/Seoul", utc(2026, 12, 31, 15), utc(2027, 1, 1, 15), "strictly after"),
    # weekly wrap-around
    ("weekly mon 09:00 UTC", utc(2026, 6, 21, 10), utc(2026, 6, 22, 9), "sun -> mon"),
    ("weekly mon 09:00 UTC", utc(2026, 6, 22, 8, 59), utc(2026, 6, 22, 9), "same day"),
    ("weekly mon 09:00 UTC", utc(2026, 6, 22, 9), utc(2026, 6, 29, 9), "a week on"),
    ("weekly mon 09:00 UTC", utc(2026, 6, 23), utc(2026, 6, 29, 9), "tue -> next mon"),
    ("weekly fri 17:00 America/New_York", utc(2026, 12, 31), utc(2027, 1, 1, 22), "new year"),
    ("weekly mon 00:00 Asia/Seoul", utc(2026, 6, 21, 14, 59), utc(2026, 6, 21, 15), "sun UTC"),
    ("weekly sun 08:00 Asia/Seoul", utc(2026, 6, 20, 23), utc(2026, 6, 27, 23), "at due: +1w"),
    # hourly and every
    ("hourly", utc(2026, 6, 18, 10), utc(2026, 6, 18, 11), "top of the hour"),
    ("hourly", utc(2026, 6, 18, 10, 59, 59), utc(2026, 6, 18, 11), "just before"),
    ("hourly", utc(2026, 12, 31, 23, 30), utc(2027, 1, 1), "year end"),
    ("every 30m", utc(2026, 6, 18, 10, 7), utc(2026, 6, 18, 10, 37), "anchored on after"),
    ("every 1d", utc(2026, 3, 7, 12), utc(2026, 3, 8, 12), "UTC days, no DST"),
]


@pytest.mark.parametrize(("spec", "after", "due", "why"), DUE)
def test_next_due(spec: str, after: datetime, due: datetime, why: str) -> None:
    result = next_due(parsed(spec), after)
    assert result == due, why
    assert result is not None
    assert result.tzinfo == UTC


def test_next_due_fires_daily_once_per_local_day_through_a_year() -> None:
    """Walking a year of due times: one per local date, always at or just after 02:30."""
    for zone_name in ("America/New_York", "Europe/Berlin", "Asia/Seoul"):
        schedule = parsed(f"daily 02:30 {zone_name}")
        zone = ZoneInfo(zone_name)
        due = utc(2026, 1, 1)
        days = []
        for _ in range(365):
            following = next_due(schedule, due)
            assert following is not None
            assert following > due
            due = following
            local = due.astimezone(zone)
            assert (local.hour, local.minute) in ((2, 30), (3, 0)), local
            days.append(local.date())
        assert len(set(days)) == 365
        assert all((b - a).days == 1 for a, b in itertools.pairwise(days))


def test_next_due_accepts_any_aware_time_and_returns_utc() -> None:
    seoul_morning = datetime(2026, 6, 18, 7, 0, tzinfo=timezone(timedelta(hours=9)))
    assert next_due(parsed("daily 08:00 Asia/Seoul"), seoul_morning) == utc(2026, 6, 17, 23)


def test_next_due_immediate_is_none() -> None:
    assert next_due(parsed("immediate"), utc(2026, 6, 18)) is None


def test_next_due_rejects_naive_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_due(parsed("hourly"), datetime(2026, 6, 18))


# --- the due time after one fired ----------------------------------------------------------

FOLLOWING = [
    # spec, due that fired, when the pass ran, next due, why
    (
        "every 30m",
        utc(2026, 6, 1, 9),
        utc(2026, 6, 1, 9, 0, 20),
        utc(2026, 6, 1, 9, 30),
        "on the grid, not send time + 30m",
    ),
    (
        "every 30m",
        utc(2026, 6, 1, 9),
        utc(2026, 6, 1, 11, 5),
        utc(2026, 6, 1, 11, 30),
        "missed slots skipped",
    ),
    (
        "every 30m",
        utc(2026, 6, 1, 9),
        utc(2026, 6, 1, 9, 30),
        utc(2026, 6, 1, 10),
        "exactly on a slot: the next one",
    ),
    (
        "hourly",
        utc(2026, 6, 1, 9),
        utc(2026, 6, 1, 9, 0, 3),
        utc(2026, 6, 1, 10),
        "top of the next hour",
    ),
    (
        "daily 08:00 Asia/Seoul",
        utc(2026, 6, 1, 23),
        utc(2026, 6, 4, 2),
        utc(2026, 6, 4, 23),
        "after days down: the next 08:00 KST",
    ),
]


@pytest.mark.parametrize(("spec", "due", "now", "expected", "why"), FOLLOWING)
def test_following_due(
    spec: str, due: datetime, now: datetime, expected: datetime, why: str
) -> None:
    assert following_due(parsed(spec), due, now) == expected, why
