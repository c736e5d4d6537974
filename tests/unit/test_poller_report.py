"""`wirewatch feeds`: the table and JSON a user reads, built from stored feed states (pure)."""

from __future__ import annotations

import json

from services.common.config import FeedConfig
from services.poller.feed_state import FeedState
from services.poller.report import feed_record, feed_rows, format_table

FEEDS = [
    FeedConfig("wire", "https://wire.example.org/rss"),
    FeedConfig("blog", "https://alice:s3cret@blog.example.net/atom"),
    FeedConfig("new", "../seeds/new.xml"),
    FeedConfig("russian", "https://ru.example.org/rss"),
]
STATES = {
    "wire": FeedState(state="ok", last_poll="2025-11-25T12:00:03.5+00:00", http_status="304"),
    "blog": FeedState(
        state="backoff",
        last_poll="2025-11-25T12:00:04+00:00",
        http_status="503",
        consecutive_errors=3,
        last_error="HTTP 503 Service Unavailable",
        last_error_at="2025-11-25T12:00:04+00:00",
        next_due="2025-11-25T14:00:04+00:00",
    ),
    "russian": FeedState(
        state="ok",
        last_poll="2025-11-25T12:00:05+00:00",
        http_status="200",
        new_items=12,
        note="declared charset is wrong; read as cp1251",
        last_error="HTTP 500 Internal Server Error",  # an old error: not shown while ok
    ),
}


def test_table_has_one_row_per_feed_in_config_order() -> None:
    assert format_table(feed_rows(FEEDS, STATES)).splitlines() == [
        "id       state         last poll (UTC)      http  new  errors  last error",
        "wire     ok            2025-11-25 12:00:03  304   0    0",
        "blog     backoff       2025-11-25 12:00:04  503   0    3       HTTP 503 Service Unavailable",
        "new      never polled  -                    -     0    0",
        "russian  ok            2025-11-25 12:00:05  200   12   0       note: declared charset is wrong; read as cp1251",
    ]


def test_json_record() -> None:
    record = feed_record(FEEDS[1], STATES["blog"])
    assert json.loads(json.dumps(record)) == {
        "id": "blog",
        "url": "https://alice:***@blog.example.net/atom",  # never the password
        "state": "backoff",
        "last_poll": "2025-11-25T12:00:04+00:00",
        "http_status": 503,
        "new_items": 0,
        "consecutive_errors": 3,
        "last_error": "HTTP 503 Service Unavailable",
        "last_error_at": "2025-11-25T12:00:04+00:00",
        "next_poll": "2025-11-25T14:00:04+00:00",
        "note": None,
    }
    never = feed_record(FEEDS[2], FeedState())
    assert (never["state"], never["last_poll"], never["http_status"]) == (
        "never polled",
        None,
        None,
    )


def test_state_round_trips_through_its_stored_json() -> None:
    state = STATES["blog"]
    assert FeedState.from_json(state.to_json()) == state
    assert FeedState.from_json(state.to_json().encode()) == state
    assert FeedState.from_json('{"state": "ok", "unknown": 1, "new_items": "x"}') == FeedState(
        state="ok"
    )
    assert FeedState.from_json(None) == FeedState.from_json("not json") == FeedState()
