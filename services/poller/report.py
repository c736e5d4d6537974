"""`wirewatch feeds`: every configured feed's health, read from the state the pollers keep."""

from __future__ import annotations

import json
from dataclasses import asdict

from services.common.config import Config
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.poller.feed_state import FeedState, FeedStates

COLUMNS = ("id", "state", "last poll", "http", "new", "errors", "last error")


def feed_rows(config: Config, states: dict[str, FeedState]) -> list[tuple[str, ...]]:
    """One row per configured feed, in config order (pure, for the table and tests)."""
    rows: list[tuple[str, ...]] = []
    for feed in config.feeds:
        s = states[feed.id]
        rows.append(
            (
                feed.id,
                s.state,
                s.last_poll[:19].replace("T", " ") if s.last_poll else "-",
                s.http_status or "-",
                str(s.new_items),
                str(s.consecutive_errors),
                s.last_error if s.state != "ok" else "",
            )
        )
    return rows


def format_table(rows: list[tuple[str, ...]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(COLUMNS)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(COLUMNS, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


async def print_feeds(settings: Settings, config: Config, *, as_json: bool) -> int:
    runtime = await Runtime.open(settings)
    try:
        store = FeedStates(runtime.client, runtime.keys)
        states = {f.id: await store.load(f.id) for f in config.feeds}
    finally:
        await runtime.close()
    if as_json:
        for feed in config.feeds:
            print(json.dumps({"id": feed.id, **asdict(states[feed.id])}, ensure_ascii=False))
    else:
        print(format_table(feed_rows(config, states)))
    return 0
