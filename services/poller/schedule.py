"""When a feed is next due: its interval, a little jitter, and exponential backoff on errors. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_BACKOFF_SECONDS = 6 * 3600.0
JITTER_FRACTION = 0.1


def next_poll(
    now: datetime,
    every: float,
    *,
    consecutive_errors: int = 0,
    retry_after: float | None = None,
    jitter: float = 0.0,
) -> datetime:
    """The next time to poll a feed.

    `jitter` in [0, 1) spreads feeds with the same interval so they do not all fire at once.
    After errors the interval doubles per consecutive error, capped at 6 h (but never below the
    feed's own interval); a server's Retry-After is honoured when it asks for longer.
    """
    delay = every * (1 + JITTER_FRACTION * jitter)
    if consecutive_errors > 0:
        delay = max(every, min(every * 2 ** min(consecutive_errors, 30), MAX_BACKOFF_SECONDS))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return now + timedelta(seconds=delay)
