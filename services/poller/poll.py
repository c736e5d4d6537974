"""Polling one claimed feed: fetch -> (changed?) parse -> Articles -> publish the new ones.

Scheduling and locks are the caller's (`app.py` with `due.py`); this module turns one fetch
into the feed's next state. Every failure becomes the feed's health reason; nothing here
raises for a bad feed, so one hostile feed never stops the others.

feedparser runs only on bodies that changed (not a 304, not the same bytes as last time),
in a worker thread so a big document does not stall the other fetches' timers, and at most
`PARSE_SLOTS` at a time so a burst of 10 MB feeds cannot multiply memory use.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from services.common.config import FeedConfig
from services.common.metrics import (
    ARTICLES_NEW,
    ARTICLES_POLLED,
    FEEDS_PARSED,
    PARSE_ERRORS,
    POLL_BYTES,
    POLL_SECONDS,
    POLLS,
)
from services.common.models import Article
from services.poller.entries import NotAFeedError, entries_to_articles, parse_feed
from services.poller.feed_state import FeedState
from services.poller.fetch import FetchLimits, FetchResult, fetch_feed, redact_url
from services.poller.health import PollReport, record_poll, with_advice
from services.poller.http_client import HttpClient
from services.poller.schedule import MAX_HOLD_SECONDS
from services.poller.seen import SeenSet

__all__ = [
    "PARSE_SLOTS",
    "FeedPoller",
    "PollOutcome",
    "PollResult",
    "ReadArticles",
    "init_feed_metrics",
    "read_articles",
]

log = logging.getLogger(__name__)
PARSE_SLOTS = 2
POLL_KINDS = ("ok", "not_modified", "error")  # the `outcome` label of wirewatch_polls_total


@dataclass(frozen=True)
class PollOutcome:
    """What one poll did, for logs and `run --once`'s summary and exit status.

    `error` names the feed's URL unless the reason already does (a file path).
    """

    feed: str
    state: str
    new: int
    error: str = ""


@dataclass(frozen=True)
class PollResult:
    """The outcome, the feed's next state, and how long its server asked us to stay away."""

    outcome: PollOutcome
    state: FeedState
    hold_seconds: float = 0.0


@dataclass(frozen=True)
class ReadArticles:
    """The articles of one changed body, and a note on anything odd about reading it."""

    articles: list[Article]
    note: str


class FeedPoller:
    """Polls feeds with a shared HTTP client and seen-set."""

    def __init__(
        self,
        *,
        client: HttpClient,
        seen: SeenSet,
        limits: FetchLimits,
        config_dir: Path,
    ) -> None:
        self._client = client
        self._seen = seen
        self._limits = limits
        self._config_dir = config_dir
        self._parse_slots = asyncio.Semaphore(PARSE_SLOTS)

    async def poll(
        self, feed: FeedConfig, state: FeedState, *, now: datetime, jitter: float
    ) -> PollResult:
        """Poll `feed` once from its last `state`; return the new state (not yet saved)."""
        started = time.perf_counter()
        url = redact_url(feed.url.strip())
        if state.url != url:  # a new URL: the old validators and body hash mean nothing
            state = replace(state, etag="", last_modified="", body_hash="")
        renew = self._renewal_due(state, now)
        result = await fetch_feed(
            self._client,
            feed.url,
            base_dir=self._config_dir,
            etag=None if renew else state.etag or None,
            last_modified=None if renew else state.last_modified or None,
            limits=self._limits,
        )
        _metric(POLL_BYTES, feed.id).inc(result.bytes_read)
        report = await self._report(feed, state, result, url, now, renew=renew)
        new_state = record_poll(state, report, now=now, every=feed.every, jitter=jitter)
        outcome = _outcome(feed, new_state, report, result)
        kind = "error" if report.error else "not_modified" if result.not_modified else "ok"
        _metric(POLLS, feed.id, kind).inc()
        _metric(POLL_SECONDS, kind).observe(time.perf_counter() - started)
        if report.error:
            log.warning(
                "feed.error feed=%s url=%s state=%s reason=%s",
                feed.id,
                url,
                new_state.state,
                report.error,
            )
        else:  # most polls find nothing new: those only at DEBUG, or 10,000 feeds flood the log
            level = logging.INFO if report.new else logging.DEBUG
            log.log(
                level, "feed.polled feed=%s status=%s new=%d", feed.id, result.status, report.new
            )
        hold = min(report.retry_after or 0.0, MAX_HOLD_SECONDS) if report.error else 0.0
        return PollResult(outcome, new_state, hold)

    def _renewal_due(self, state: FeedState, now: datetime) -> bool:
        """Re-read the whole body at least every half retention, even if the server says 304,
        so the seen marks of articles it still lists never run out."""
        try:
            parsed_at = datetime.fromisoformat(state.parsed_at)
        except ValueError:  # never parsed (or unreadable): a full read comes anyway
            return False
        return now - parsed_at > timedelta(seconds=self._seen.retention_seconds / 2)

    async def _report(
        self,
        feed: FeedConfig,
        state: FeedState,
        result: FetchResult,
        url: str,
        now: datetime,
        *,
        renew: bool,
    ) -> PollReport:
        if result.error:
            error = with_advice(result.error)
            return PollReport(url, result.status, error, retry_after=result.retry_after)
        base = PollReport(url, result.status, etag=result.etag, last_modified=result.last_modified)
        if result.not_modified or result.body is None:
            return base
        body_hash = hashlib.sha256(result.body).hexdigest()
        if body_hash == state.body_hash and not renew:
            return base
        try:
            parsed = await self._parse(feed, result, now)
        except NotAFeedError as exc:
            PARSE_ERRORS.labels(feed.id).inc()
            return replace(base, error=with_advice(str(exc)))
        new = await self._seen.publish_new(parsed.articles)
        ARTICLES_POLLED.labels(feed.id).inc(len(parsed.articles))
        ARTICLES_NEW.labels(feed.id).inc(len(new))
        # body_hash only after publishing: a crash before it re-parses next time
        return replace(base, new=len(new), body_hash=body_hash, note=parsed.note)

    async def _parse(self, feed: FeedConfig, result: FetchResult, now: datetime) -> ReadArticles:
        async with self._parse_slots:
            FEEDS_PARSED.inc()
            return await asyncio.to_thread(read_articles, feed, result, now)


def read_articles(feed: FeedConfig, result: FetchResult, now: datetime) -> ReadArticles:
    """Parse a fetched body into Articles (blocking: feedparser is pure Python).

    Raises NotAFeedError when the body holds no feed.
    """
    if result.body is None:
        raise NotAFeedError("empty body")
    parsed = parse_feed(result.body, content_type=result.content_type, url=result.url)
    articles = entries_to_articles(
        parsed,
        feed_id=feed.id,
        feed_url=result.url,
        outlet=feed.title or parsed.title or feed.id,
        http_language=result.content_language,
        fetched=now,
    )
    return ReadArticles(articles, parsed.note)


@functools.cache  # as many entries as the families have children: configured feeds x 3
def _metric(family: Any, *labels: str) -> Any:
    """A metric's child for these labels: `labels()` costs more than the rest of a 304's
    bookkeeping (it validates and locks on every call), so each child is looked up once."""
    return family.labels(*labels)


def init_feed_metrics(feed_ids: Iterable[str]) -> None:
    """Create every feed's poll counters at 0 now: each shows in /metrics from the start (so
    `rate()` sees its first poll), and the first poll of each kind costs no more than the rest."""
    for feed_id in feed_ids:
        _metric(POLL_BYTES, feed_id)
        for kind in POLL_KINDS:
            _metric(POLLS, feed_id, kind)


def _outcome(
    feed: FeedConfig, state: FeedState, report: PollReport, result: FetchResult
) -> PollOutcome:
    error = report.error
    if error and result.url not in error and report.url not in error:
        error = f"{report.url}: {error}"
    return PollOutcome(feed.id, state.state, report.new, error)
