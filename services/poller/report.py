"""`wirewatch feeds`: every configured feed's health, read from the state the pollers keep.

One row per feed in config order (DESIGN §6): id, state (`ok`, `error`, `backoff`,
`never polled`), last poll, HTTP status, new items, consecutive errors, last error's reason.
`--json` prints one JSON object per line with the same facts plus the feed's URL, the time of
the last error, when it is next due and any note (e.g. a wrong declared charset).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from services.common.config import Config, FeedConfig
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.poller.feed_state import OK, FeedState, FeedStates
from services.poller.fetch import redact_url

__all__ = ["COLUMNS", "feed_record", "feed_rows", "format_table", "print_feeds"]

COLUMNS = ("id", "state", "last poll (UTC)", "http", "new", "errors", "last error")


def feed_rows(feeds: Sequence[FeedConfig], states: dict[str, FeedState]) -> list[tuple[str, ...]]:
    """One table row per configured feed, in config order (pure)."""
    rows: list[tuple[str, ...]] = []
    for feed in feeds:
        s = states.get(feed.id, FeedState())
        reason = s.last_error if s.state != OK else (f"note: {s.note}" if s.note else "")
        rows.append(
            (
                feed.id,
                s.state,
                _when(s.last_poll) or "-",
                s.http_status or "-",
                str(s.new_items),
                str(s.consecutive_errors),
                reason,
            )
        )
    return rows


def feed_record(feed: FeedConfig, state: FeedState) -> dict[str, Any]:
    """The `--json` object of one feed (pure)."""
    return {
        "id": feed.id,
        "url": redact_url(feed.url),
        "state": state.state,
        "last_poll": state.last_poll or None,
        "http_status": int(state.http_status) if state.http_status.isdigit() else None,
        "new_items": state.new_items,
        "consecutive_errors": state.consecutive_errors,
        "last_error": state.last_error or None,
        "last_error_at": state.last_error_at or None,
        "next_poll": state.next_due or None,
        "note": state.note or None,
    }


def format_table(rows: list[tuple[str, ...]]) -> str:
    """Left-aligned columns, two spaces apart, trailing blanks trimmed."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(COLUMNS)]
    lines = [COLUMNS, *rows]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


async def print_feeds(settings: Settings, config: Config, *, as_json: bool) -> int:
    """Print every configured feed's health (one Redis round trip for all); exit status 0."""
    runtime = await Runtime.open(settings)
    try:
        states = await FeedStates(runtime.client, runtime.keys).load_many(
            [f.id for f in config.feeds]
        )
    finally:
        await runtime.close()
    if as_json:
        for feed in config.feeds:
            print(json.dumps(feed_record(feed, states[feed.id]), ensure_ascii=False))
    else:
        print(format_table(feed_rows(config.feeds, states)))
    return 0


def _when(iso: str) -> str:
    return iso[:19].replace("T", " ")
