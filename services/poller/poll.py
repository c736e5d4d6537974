"""Polling one feed: fetch -> (changed?) parse -> Articles -> publish the new ones -> record health.

Every failure becomes the feed's health reason; nothing here raises for a bad feed, so one
hostile feed never stops the others.
"""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from services.common.config import FeedConfig
from services.poller.entries import NotAFeedError, entries_to_articles, feed_title, parse_feed
from services.poller.feed_state import FeedState, FeedStates
from services.poller.fetch import FetchLimits, FetchResult, fetch_feed
from services.poller.schedule import next_poll
from services.poller.seen import SeenSet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollOutcome:
    """What one poll did, for logs, metrics and `run --once`'s exit status."""

    feed: str
    state: str
    new: int
    error: str = ""


class FeedPoller:
    """Polls feeds with shared HTTP client, seen-set and state store."""

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        states: FeedStates,
        seen: SeenSet,
        limits: FetchLimits,
        config_dir: Path,
    ) -> None:
        self._client = client
        self._states = states
        self._seen = seen
        self._limits = limits
        self._config_dir = config_dir

    async def poll(self, feed: FeedConfig, *, now: datetime | None = None) -> PollOutcome:
        """Poll `feed` once and record the result in its state."""
        now = now or datetime.now(UTC)
        state = await self._states.load(feed.id)
        result = await fetch_feed(
            self._client,
            feed.url,
            base_dir=self._config_dir,
            etag=state.etag or None,
            last_modified=state.last_modified or None,
            limits=self._limits,
        )
        outcome = await self._handle(feed, state, result, now)
        state.last_poll = now.isoformat()
        state.http_status = str(result.status or "")
        if outcome.error:
            state.consecutive_errors += 1
            state.last_error = outcome.error
            state.state = "backoff" if state.consecutive_errors > 1 else "error"
            state.new_items = 0
        else:
            state.consecutive_errors = 0
            state.state = "ok"
            state.new_items = outcome.new
        state.next_due = next_poll(
            now,
            feed.every,
            consecutive_errors=state.consecutive_errors,
            retry_after=result.retry_after,
            jitter=random.random(),
        ).isoformat()
        await self._states.save(feed.id, state)
        if outcome.error:
            log.warning("feed.error feed=%s reason=%s", feed.id, outcome.error)
        else:
            log.info("feed.polled feed=%s status=%s new=%d", feed.id, result.status, outcome.new)
        return PollOutcome(feed.id, state.state, outcome.new, outcome.error)

    async def _handle(
        self, feed: FeedConfig, state: FeedState, result: FetchResult, now: datetime
    ) -> PollOutcome:
        if result.error:
            return PollOutcome(feed.id, "error", 0, result.error)
        if result.etag is not None or result.last_modified is not None or result.body is not None:
            state.etag = result.etag or ""
            state.last_modified = result.last_modified or ""
        if result.not_modified or result.body is None:
            return PollOutcome(feed.id, "ok", 0)
        body_hash = hashlib.sha256(result.body).hexdigest()
        if body_hash == state.body_hash:
            return PollOutcome(feed.id, "ok", 0)
        try:
            parsed = parse_feed(result.body, content_type=result.content_type, url=result.url)
        except NotAFeedError as exc:
            return PollOutcome(feed.id, "error", 0, str(exc))
        articles = entries_to_articles(
            parsed,
            feed_id=feed.id,
            feed_url=result.url,
            outlet=feed.title or feed_title(parsed) or feed.id,
            http_language=result.content_language,
            fetched=now,
        )
        new = await self._seen.publish_new(articles)
        state.body_hash = body_hash  # only after publishing: a crash before re-parses next time
        return PollOutcome(feed.id, "ok", len(new))
