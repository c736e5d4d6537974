"""A feed's health after a poll: the state transitions `wirewatch feeds` shows. Pure.

States (DESIGN §6): `never polled`; `ok` (the last poll worked); `error` (the last poll
failed, for the first time in a row); `backoff` (it failed again, or the server asked us to
wait with Retry-After: polls are now spaced out, doubling up to 6 h). A success clears the
count; the last error's reason and time stay on record.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.poller.feed_state import BACKOFF, ERROR, OK, FeedState
from services.poller.schedule import next_poll

__all__ = ["PollReport", "record_poll"]


@dataclass(frozen=True)
class PollReport:
    """What one poll found, as far as health and the next poll are concerned."""

    url: str
    status: int | None
    error: str = ""
    new: int = 0
    retry_after: float | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None  # set when a body was parsed
    note: str | None = None  # set when a body was parsed


def record_poll(
    state: FeedState, report: PollReport, *, now: datetime, every: float, jitter: float
) -> FeedState:
    """The feed's state after `report`, with its next due time."""
    stamp = now.isoformat()
    changes: dict[str, Any] = {  # one replace(): this runs on every poll (10,000s a minute)
        "url": report.url,
        "last_poll": stamp,
        "http_status": "" if report.status is None else str(report.status),
    }
    if report.error:
        errors = state.consecutive_errors + 1
        waiting = report.retry_after is not None
        changes.update(
            state=BACKOFF if errors > 1 or waiting else ERROR,
            new_items=0,
            consecutive_errors=errors,
            last_error=report.error,
            last_error_at=stamp,
        )
    else:
        errors = 0
        changes.update(state=OK, new_items=report.new, consecutive_errors=0)
        if report.etag is not None or report.last_modified is not None:
            changes.update(etag=report.etag or "", last_modified=report.last_modified or "")
        if report.body_hash is not None:
            changes.update(body_hash=report.body_hash, parsed_at=stamp, note=report.note or "")
    due = next_poll(
        now,
        every,
        consecutive_errors=errors,
        retry_after=report.retry_after,
        jitter=jitter,
    )
    changes["next_due"] = due.isoformat()
    return replace(state, **changes)


def with_advice(reason: str) -> str:
    """The reason, plus what to do when the fix is the user's (most faults are the server's,
    and those are retried with backoff anyway)."""
    for starts, advice in _ADVICE:
        if reason.startswith(starts):
            return f"{reason}; {advice}"
    return reason


_ADVICE: tuple[tuple[tuple[str, ...], str], ...] = (
    (("HTTP 404", "HTTP 410", "more than ", "redirect to "), "check the feed's url"),
    (("HTTP 401", "HTTP 403"), "the server refuses us: check the feed's url or its access"),
    (("body exceeds",), "raise WIREWATCH_MAX_BODY_BYTES if the feed is really that big"),
    (("timed out after",), "raise WIREWATCH_FETCH_TIMEOUT if the server is just slow"),
    (("unsupported URL scheme", "invalid URL"), "use an http(s):// or file:// url or a path"),
)
