"""When a feed is polled next, and the health a poll leaves it in: pure, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.poller.feed_state import FeedState
from services.poller.health import PollReport, record_poll, with_advice
from services.poller.schedule import MAX_BACKOFF_SECONDS, backoff_delay, next_poll

NOW = datetime(2025, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("every", "errors", "delay"),
    [
        (900, 0, 900),
        (900, 1, 1800),
        (900, 2, 3600),
        (900, 4, 14400),
        (900, 5, MAX_BACKOFF_SECONDS),  # capped at 6 h
        (900, 400, MAX_BACKOFF_SECONDS),  # no overflow
        (86400, 3, 86400),  # never below the feed's own interval
        (5, 1, 10),
    ],
)
def test_backoff_doubles_per_error_up_to_a_cap(every: float, errors: int, delay: float) -> None:
    assert backoff_delay(every, errors) == delay


@pytest.mark.parametrize(
    ("kwargs", "seconds"),
    [
        ({}, 900),
        ({"jitter": 0.5}, 945),  # up to +10 %
        ({"consecutive_errors": 1, "jitter": 0.5}, 1890),  # jitter spreads retries too
        ({"retry_after": 7200}, 7200),  # the server asks for longer: honoured
        ({"retry_after": 60}, 900),  # for less: our interval stands
        ({"retry_after": 10**9}, 86400),  # at most a day
    ],
)
def test_next_poll(kwargs: dict[str, float], seconds: float) -> None:
    assert next_poll(NOW, 900, **kwargs) == NOW + timedelta(seconds=seconds)  # type: ignore[arg-type]


def report(**fields: object) -> PollReport:
    return PollReport(**{"url": "https://x.example/feed", "status": 200, **fields})  # type: ignore[arg-type]


def test_first_success() -> None:
    state = record_poll(
        FeedState(),
        report(new=4, etag='"v1"', body_hash="h1", note=""),
        now=NOW,
        every=900,
        jitter=0,
    )
    assert (state.state, state.new_items, state.consecutive_errors) == ("ok", 4, 0)
    assert (state.etag, state.body_hash, state.parsed_at) == ('"v1"', "h1", NOW.isoformat())
    assert state.last_poll == NOW.isoformat()
    assert state.next_due == (NOW + timedelta(seconds=900)).isoformat()
    assert state.http_status == "200"


def test_errors_go_from_error_to_backoff_and_success_clears_them() -> None:
    first = record_poll(
        FeedState(), report(status=500, error="HTTP 500"), now=NOW, every=900, jitter=0
    )
    assert (first.state, first.consecutive_errors, first.last_error) == ("error", 1, "HTTP 500")
    assert first.next_due == (NOW + timedelta(seconds=1800)).isoformat()

    later = NOW + timedelta(hours=1)
    second = record_poll(
        first, report(status=None, error="connection refused"), now=later, every=900, jitter=0
    )
    assert (second.state, second.consecutive_errors) == ("backoff", 2)
    assert second.last_error == "connection refused"
    assert second.http_status == ""

    healed = record_poll(second, report(status=304), now=later, every=900, jitter=0)
    assert (healed.state, healed.consecutive_errors, healed.new_items) == ("ok", 0, 0)
    assert healed.last_error == "connection refused"  # kept on record, with its time
    assert healed.last_error_at == later.isoformat()


def test_retry_after_is_backoff_at_once() -> None:
    state = record_poll(
        FeedState(),
        report(status=429, error="HTTP 429 Too Many Requests", retry_after=3600),
        now=NOW,
        every=900,
        jitter=0,
    )
    assert state.state == "backoff"
    assert state.next_due == (NOW + timedelta(seconds=3600)).isoformat()


def test_304_keeps_the_body_hash_and_validators() -> None:
    before = FeedState(etag='"v1"', last_modified="Mon", body_hash="h1", parsed_at="t0")
    after = record_poll(
        before,
        report(status=304, etag='"v1"', last_modified="Mon"),
        now=NOW,
        every=900,
        jitter=0,
    )
    assert (after.etag, after.last_modified, after.body_hash, after.parsed_at) == (
        '"v1"',
        "Mon",
        "h1",
        "t0",
    )


@pytest.mark.parametrize(
    ("reason", "shown"),
    [
        ("HTTP 404 Not Found", "HTTP 404 Not Found; check the feed's url"),
        ("HTTP 403 Forbidden", "HTTP 403 Forbidden; the server refuses us: check the feed's url or its access"),
        ("more than 5 redirects", "more than 5 redirects; check the feed's url"),
        ("body exceeds 10 bytes", "body exceeds 10 bytes; raise WIREWATCH_MAX_BODY_BYTES if the feed is really that big"),
        ("timed out after 30s", "timed out after 30s; raise WIREWATCH_FETCH_TIMEOUT if the server is just slow"),
        ("HTTP 500 Internal Server Error", "HTTP 500 Internal Server Error"),  # theirs to fix
        ("connection refused", "connection refused"),
    ],
)  # fmt: skip
def test_reasons_say_what_to_do_when_it_is_ours_to_do(reason: str, shown: str) -> None:
    assert with_advice(reason) == shown
