"""The poller service: claims due feeds from Redis and polls them, politely, on any replica.

`run` is the loop: ask `DueFeeds` for as many due feeds as there are free fetch slots
(`WIREWATCH_MAX_CONCURRENT_FETCHES`), at most one per server, poll each in its own task, and
ask again as soon as one finishes (or after a tick). `poll_all` is `run --once`: every feed
now, whatever its schedule or backoff, but still one request at a time per server and never
inside a server's Retry-After. Both record each poll with `DueFeeds.finish`, which also frees
the feed's server for the next feed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis.exceptions import RedisError

from services.common.config import FeedConfig
from services.common.metrics import SERVERS_DUE
from services.common.redis import RedisUnavailableError
from services.common.runtime import Runtime, pause
from services.poller.due import Claim, ClaimRefusal, DueFeeds, Finish
from services.poller.feed_state import BACKOFF
from services.poller.fetch import FetchLimits, host_key, make_client, redact_url
from services.poller.health import PollReport, record_poll
from services.poller.poll import FeedPoller, PollOutcome, PollResult, init_feed_metrics
from services.poller.seen import SeenSet

__all__ = ["PollerApp"]

log = logging.getLogger(__name__)
TICK_SECONDS = 1.0
LEASE_MARGIN_SECONDS = 60.0  # beyond the fetch timeout: parse and publish of a big body
REGISTER_EVERY_SECONDS = 600.0  # re-queue configured feeds (heals a lost queue entry)
UNKNOWN_FEED_DELAY_SECONDS = 600.0  # a queued id this replica's config lacks: leave it
HOST_BUSY_RETRY_SECONDS = 0.2
GAUGE_EVERY_SECONDS = 5.0
SHUTDOWN_GRACE_SECONDS = 5.0  # in-flight polls may finish; the rest are handed back


class PollerApp:
    """Polls the configured feeds on their schedules (state in Redis, shared by replicas)."""

    def __init__(self, runtime: Runtime, feeds: Sequence[FeedConfig], config_dir: Path) -> None:
        settings = runtime.settings
        self.feeds = tuple(feeds)
        self._by_id = {f.id: f for f in self.feeds}
        self._limits = FetchLimits(
            max_bytes=settings.max_body_bytes,
            total_timeout=settings.fetch_timeout,
            max_redirects=settings.max_redirects,
        )
        self._http = make_client(self._limits, settings.user_agent)
        self._due = DueFeeds(runtime.client, runtime.keys)
        self._poller = FeedPoller(
            client=self._http,
            seen=SeenSet(runtime.client, runtime.keys, int(settings.seen_retention_days * 86400)),
            limits=self._limits,
            config_dir=config_dir,
        )
        self._slots = settings.max_concurrent_fetches
        self._lease_ms = int((self._limits.total_timeout + LEASE_MARGIN_SECONDS) * 1000)
        self._owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._gauged_ms = 0
        self._finished: list[Finish] = []  # polls done, to record with the next claim
        init_feed_metrics(self._by_id)

    async def poll_all(self) -> list[PollOutcome]:
        """Every feed once, now, whatever its schedule or backoff (`run --once`).

        Feeds of one server are polled one after another; a feed another replica is polling
        right now is left out of the result.
        """
        try:
            return await self._poll_all()
        except RedisError as exc:
            raise RedisUnavailableError(f"lost Redis while polling feeds: {exc}") from exc

    async def _poll_all(self) -> list[PollOutcome]:
        await self._register()
        slots = asyncio.Semaphore(self._slots)
        chains: dict[str, list[FeedConfig]] = {}
        for feed in self.feeds:
            host = host_key(feed.url)
            chains.setdefault(host or f"file:{feed.id}", []).append(feed)

        async def chain(feeds: list[FeedConfig]) -> list[PollOutcome | None]:
            return [await self._poll_now(feed, slots) for feed in feeds]

        results = await asyncio.gather(*(chain(c) for c in chains.values()))
        return [o for outcomes in results for o in outcomes if o is not None]

    async def run(self, stop: asyncio.Event) -> None:
        """Poll due feeds until `stop` is set. In-flight polls get a few seconds to finish;
        the rest are handed back (due now) for another replica. Rides out Redis outages.

        Finished polls are recorded together with the next claim (`DueFeeds.settle`): one
        Redis round trip per batch of polls that finished meanwhile, not two per poll.
        """
        tasks: set[asyncio.Task[None]] = set()
        wake = asyncio.Event()
        registered_at = float("-inf")
        redis_down = False
        while not stop.is_set():
            wake.clear()
            free = self._slots - len(tasks)
            try:
                if time.monotonic() - registered_at > REGISTER_EVERY_SECONDS:
                    await self._register()
                    registered_at = time.monotonic()
                claims = await self._settle(free)
            except (RedisError, OSError) as exc:
                if not redis_down:
                    log.error("poller.redis_unavailable reason=%s", exc)
                    redis_down = True
                await pause(stop, TICK_SECONDS)
                continue
            if redis_down:
                log.info("poller.redis_back")
                redis_down = False
            for claim in claims:
                task = asyncio.create_task(self._poll_and_queue(claim))
                tasks.add(task)
                task.add_done_callback(_on_done(tasks, wake))
            if free > 0 and len(claims) == free:
                continue  # maybe more are due: ask again once a slot frees up
            await _wait_any(stop, wake, TICK_SECONDS)
        if tasks:  # SIGTERM must end the process within 10 s (DESIGN §5)
            _done, late = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_SECONDS)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        try:
            await self._settle(0)
        except (RedisError, OSError) as exc:  # their leases run out; polled again later
            log.error("feed.save_failed feeds=%d reason=%s", len(self._finished), exc)

    async def close(self) -> None:
        """Close the HTTP connections (call after `run` or `poll_all` returned)."""
        await self._http.aclose()

    async def _register(self) -> None:
        rows = [(f.id, host_key(f.url), f.every) for f in self.feeds]
        await self._due.register(rows, _now_ms())

    async def _settle(self, free: int) -> list[Claim]:
        """Record the finished polls and claim up to `free` due feeds, in one round trip.
        If Redis fails, the finished polls stay queued for the next try."""
        now_ms = _now_ms()
        if now_ms - self._gauged_ms > GAUGE_EVERY_SECONDS * 1000:
            SERVERS_DUE.set(await self._due.servers_due(now_ms))
            self._gauged_ms = now_ms
        finished, self._finished = self._finished, []
        try:
            return await self._due.settle(
                finished, now_ms, free, lease_ms=self._lease_ms, owner=self._owner
            )
        except BaseException:
            self._finished[:0] = finished
            raise

    async def _poll_now(self, feed: FeedConfig, slots: asyncio.Semaphore) -> PollOutcome | None:
        """Claim one feed regardless of its schedule, waiting while its server is busy."""
        deadline = time.monotonic() + self._lease_ms / 1000
        async with slots:
            while True:
                (answer,) = await self._due.claim_ids(
                    [feed.id], _now_ms(), lease_ms=self._lease_ms, owner=self._owner
                )
                if isinstance(answer, Claim):
                    return await self._poll_and_record(answer)
                if answer.reason == "feed-busy":
                    log.info("feed.skipped feed=%s reason=another poller has it", feed.id)
                    return None
                if answer.reason == "wait" or time.monotonic() > deadline:
                    return _refused(feed, answer)
                await asyncio.sleep(HOST_BUSY_RETRY_SECONDS)

    async def _poll_and_record(self, claim: Claim) -> PollOutcome | None:
        """`run --once`: poll, then record the poll at once (there is no batch to join)."""
        try:
            outcome, done = await self._poll_claimed(claim)
        except asyncio.CancelledError:  # shutting down: hand the feed back, due now
            await self._record(Finish(claim.feed_id, claim.host, _now_ms(), None))
            raise
        await self._record(done)
        return outcome

    async def _record(self, done: Finish) -> None:
        try:
            await self._due.settle([done], _now_ms(), 0, lease_ms=0, owner=self._owner)
        except (RedisError, OSError) as exc:  # the lease runs out: polled again later
            log.error("feed.save_failed feed=%s reason=%s", done.feed_id, exc)

    async def _poll_and_queue(self, claim: Claim) -> None:
        """The scheduler's task: poll, then queue the record for the next `settle`."""
        try:
            _outcome, done = await self._poll_claimed(claim)
        except asyncio.CancelledError:  # shutting down: hand the feed back, due now
            self._finished.append(Finish(claim.feed_id, claim.host, _now_ms(), None))
            raise
        self._finished.append(done)

    async def _poll_claimed(self, claim: Claim) -> tuple[PollOutcome | None, Finish]:
        """Poll a claimed feed; a bug here must not stop the other feeds."""
        feed = self._by_id.get(claim.feed_id)
        if feed is None:
            log.debug("feed.unknown feed=%s (not in this replica's config)", claim.feed_id)
            later = _now_ms() + int(UNKNOWN_FEED_DELAY_SECONDS * 1000)
            return None, Finish(claim.feed_id, claim.host, later, None)
        now = datetime.now(UTC)
        jitter = random.random()
        try:
            result = await self._poller.poll(feed, claim.state, now=now, jitter=jitter)
        except Exception as exc:
            url = redact_url(feed.url)
            log.exception("feed.poll_crashed feed=%s url=%s", feed.id, url)
            reason = f"internal error ({type(exc).__name__}); see the poller's log"
            state = record_poll(
                claim.state,
                PollReport(url=url, status=None, error=reason),
                now=now,
                every=feed.every,
                jitter=jitter,
            )
            result = PollResult(PollOutcome(feed.id, state.state, 0, f"{url}: {reason}"), state)
        due = _ms(datetime.fromisoformat(result.state.next_due))
        hold = int(result.hold_seconds * 1000)
        return result.outcome, Finish(claim.feed_id, claim.host, due, result.state, hold)


def _refused(feed: FeedConfig, refusal: ClaimRefusal) -> PollOutcome:
    url = redact_url(feed.url)
    if refusal.reason == "wait":
        until = datetime.now(UTC) + timedelta(seconds=refusal.wait_seconds)
        reason = (
            f"{url}: not polled: its server asked us to wait (Retry-After) "
            f"until {until:%Y-%m-%d %H:%M:%S} UTC"
        )
    else:
        reason = f"{url}: not polled: its server stayed busy with another poller's requests"
    return PollOutcome(feed.id, BACKOFF, 0, reason)


def _on_done(
    tasks: set[asyncio.Task[None]], wake: asyncio.Event
) -> Callable[[asyncio.Task[None]], None]:
    def done(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        wake.set()

    return done


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
