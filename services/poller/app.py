"""The poller service: which feeds are due, polled with bounded concurrency, one replica per feed."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from services.common.config import FeedConfig
from services.common.runtime import Runtime, pause
from services.poller.feed_state import FeedStates
from services.poller.fetch import FetchLimits, make_client
from services.poller.poll import FeedPoller, PollOutcome
from services.poller.seen import SeenSet

log = logging.getLogger(__name__)
TICK_SECONDS = 1.0


class PollerApp:
    """Polls the configured feeds on their schedules (state in Redis, shared by replicas)."""

    def __init__(self, runtime: Runtime, feeds: Sequence[FeedConfig], config_dir: Path) -> None:
        settings = runtime.settings
        self.feeds = tuple(feeds)
        self._limits = FetchLimits(
            max_bytes=settings.max_body_bytes,
            total_timeout=settings.fetch_timeout,
            max_redirects=settings.max_redirects,
        )
        self._http = make_client(self._limits, settings.user_agent)
        self._states = FeedStates(runtime.client, runtime.keys)
        self._poller = FeedPoller(
            client=self._http,
            states=self._states,
            seen=SeenSet(runtime.client, runtime.keys, int(settings.seen_retention_days * 86400)),
            limits=self._limits,
            config_dir=config_dir,
        )
        self._slots = asyncio.Semaphore(settings.max_concurrent_fetches)
        self._owner = f"{socket.gethostname()}-{os.getpid()}"
        self._running: set[str] = set()

    async def poll_all(self) -> list[PollOutcome]:
        """Every feed once, now, whatever its schedule or backoff (`run --once`)."""
        results = await asyncio.gather(*(self._poll_locked(f) for f in self.feeds))
        return [r for r in results if r is not None]

    async def run(self, stop: asyncio.Event) -> None:
        """Poll due feeds until `stop` is set; in-flight polls finish before returning."""
        tasks: set[asyncio.Task[PollOutcome | None]] = set()
        while not stop.is_set():
            now = datetime.now(UTC)
            for feed in self.feeds:
                if feed.id in self._running:
                    continue
                due = (await self._states.load(feed.id)).next_due_at()
                if due is None or due <= now:
                    self._running.add(feed.id)
                    task = asyncio.create_task(self._poll_locked(feed))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            await pause(stop, TICK_SECONDS)
        if tasks:
            await asyncio.wait(tasks, timeout=self._limits.total_timeout + 5)

    async def _poll_locked(self, feed: FeedConfig) -> PollOutcome | None:
        self._running.add(feed.id)
        try:
            async with self._slots:
                lock_ttl = self._limits.total_timeout + 30
                if not await self._states.try_lock(feed.id, self._owner, lock_ttl):
                    return None  # another replica is polling it right now
                try:
                    return await self._poller.poll(feed)
                finally:
                    await self._states.unlock(feed.id, self._owner)
        except Exception:  # a bug must not stop the other feeds; the feed retries next tick
            log.exception("feed.poll_crashed feed=%s", feed.id)
            return None
        finally:
            self._running.discard(feed.id)

    async def close(self) -> None:
        await self._http.aclose()
