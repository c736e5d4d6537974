"""When a feed is next due: its interval, jitter, and capped exponential backoff on errors. Pure.

Time is a parameter (STYLE §4): callers pass `now` and a `jitter` drawn in [0, 1).
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = [
    "JITTER_FRACTION",
    "MAX_BACKOFF_SECONDS",
    "MAX_HOLD_SECONDS",
    "backoff_delay",
    "next_poll",
]

MAX_BACKOFF_SECONDS = 6 * 3600.0
MAX_HOLD_SECONDS = 24 * 3600.0  # the longest Retry-After we obey: a day
JITTER_FRACTION = 0.1


def backoff_delay(every: float, consecutive_errors: int) -> float:
    """Seconds until the next try: the feed's interval, doubled per consecutive error.

    Capped at 6 h, but never below the feed's own interval (a daily feed stays daily).
    """
    if consecutive_errors <= 0:
        return every
    doubled = every * 2.0 ** min(consecutive_errors, 30)
    return max(every, min(doubled, MAX_BACKOFF_SECONDS))


def next_poll(
    now: datetime,
    every: float,
    *,
    consecutive_errors: int = 0,
    retry_after: float | None = None,
    jitter: float = 0.0,
) -> datetime:
    """The next time to poll a feed.

    `jitter` in [0, 1) adds up to 10 % so feeds with the same interval, or that failed
    together when one server went down, do not all fire at once again. A server's
    Retry-After is honoured when it asks for longer (up to a day).
    """
    delay = backoff_delay(every, consecutive_errors) * (1 + JITTER_FRACTION * jitter)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_HOLD_SECONDS))
    return now + timedelta(seconds=delay)
