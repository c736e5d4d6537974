"""Scheduling across replicas, against the real Redis: the due queue, claims, locks, the loop.

What users rely on: a feed is fetched when due and not before; two replicas never fetch the
same feed, nor the same server, at the same time; a server with thousands of feeds does not
starve the others; a dead replica's feeds are picked up again; Retry-After holds a server.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from services.common.config import FeedConfig
from services.common.keys import Keys
from services.common.runtime import Runtime
from services.poller.app import PollerApp
from services.poller.due import Claim, ClaimRefusal, DueFeeds
from services.poller.feed_state import FeedState
from tests.conftest import open_runtime
from tests.support.feed_server import FeedServer, Request, Response, rss, slow_drip

pytestmark = pytest.mark.integration
NOW = 1_800_000_000_000  # epoch ms
LEASE = 60_000


@pytest.fixture
async def due(redis_client: aioredis.Redis, keys: Keys) -> DueFeeds:
    return DueFeeds(redis_client, keys)


def rows(hosts: dict[str, int], every: float = 900.0) -> list[tuple[str, str, float]]:
    """`{"a.example:80": 3}` -> feeds a.example:80/0 .. /2 on that host."""
    return [(f"{h}/{n}", h, every) for h, count in hosts.items() for n in range(count)]


async def test_claims_take_only_due_feeds_one_per_server(due: DueFeeds) -> None:
    await due.register([*rows({"a:80": 3, "b:80": 2, "": 0}), ("file-feed", "", 900.0)], NOW)

    claims = await due.claim_due(NOW, 10, lease_ms=LEASE, owner="r1")

    hosts = Counter(c.host for c in claims)
    assert hosts == Counter({"a:80": 1, "b:80": 1, "": 1})
    assert all(c.state == FeedState() for c in claims)  # never polled yet
    assert await due.claim_due(NOW - 1, 10, lease_ms=LEASE, owner="r1") == []  # nothing due


async def test_two_replicas_never_claim_the_same_feed_or_server(due: DueFeeds) -> None:
    await due.register(rows({f"h{n}:80": 5 for n in range(10)}), NOW)

    first, second = await asyncio.gather(
        due.claim_due(NOW, 50, lease_ms=LEASE, owner="r1"),
        due.claim_due(NOW, 50, lease_ms=LEASE, owner="r2"),
    )

    claimed = [c.feed_id for c in first + second]
    assert len(claimed) == len(set(claimed)) == 10
    assert len({c.host for c in first + second}) == 10


async def test_a_busy_server_does_not_starve_the_others(due: DueFeeds) -> None:
    await due.register(rows({"big:80": 500}), NOW - 10)  # all overdue, first in line
    await due.register(rows({"small:80": 1}), NOW)

    taken: list[Claim] = []
    for tick in range(3):  # big:80 stays busy: its first claim is never finished
        taken += await due.claim_due(NOW + tick, 5, lease_ms=LEASE, owner="r1")

    assert {c.host for c in taken} == {"big:80", "small:80"}


async def test_a_dead_replicas_feed_is_due_again_after_its_lease(due: DueFeeds) -> None:
    await due.register([("feed", "srv:80", 900.0)], NOW)
    (claim,) = await due.claim_due(NOW, 1, lease_ms=100, owner="dies")

    assert await due.claim_due(NOW + 50, 1, lease_ms=100, owner="r2") == []
    await asyncio.sleep(0.15)  # the Redis locks expire by the clock
    (again,) = await due.claim_due(NOW + 150, 1, lease_ms=LEASE, owner="r2")
    assert again.feed_id == claim.feed_id


async def test_finish_saves_state_requeues_and_frees_the_server(
    due: DueFeeds, redis_client: aioredis.Redis, keys: Keys
) -> None:
    await due.register(rows({"srv:80": 2}), NOW)
    (claim,) = await due.claim_due(NOW, 5, lease_ms=LEASE, owner="r1")
    state = FeedState(url="http://srv/x", state="ok", etag='"v1"', new_items=3)

    await due.finish(
        claim.feed_id, claim.host, owner="r1", now_ms=NOW, next_due_ms=NOW + 900_000, state=state
    )

    (other,) = await due.claim_due(NOW + 1, 5, lease_ms=LEASE, owner="r1")
    assert other.feed_id != claim.feed_id  # the server is free again, the first feed not due
    assert await redis_client.zscore(keys.server_due("srv:80"), claim.feed_id) == NOW + 900_000
    await due.finish(other.feed_id, other.host, owner="r1", now_ms=NOW, next_due_ms=NOW, state=None)
    (mine,) = await due.claim_ids([claim.feed_id], NOW, lease_ms=LEASE, owner="r9")
    assert isinstance(mine, Claim) and mine.state == state


async def test_retry_after_hold_keeps_a_server_off_limits(due: DueFeeds) -> None:
    await due.register(rows({"srv:80": 3, "other:80": 1}), NOW)
    claims = await due.claim_due(NOW, 5, lease_ms=LEASE, owner="r1")
    held = next(c for c in claims if c.host == "srv:80")
    await due.finish(
        held.feed_id,
        held.host,
        owner="r1",
        now_ms=NOW,
        next_due_ms=NOW + 120_000,
        state=None,
        hold_ms=5_000,
    )

    assert await due.claim_due(NOW + 1, 5, lease_ms=LEASE, owner="r1") == []
    (refusal,) = await due.claim_ids([held.feed_id], NOW + 1, lease_ms=LEASE, owner="r1")
    assert isinstance(refusal, ClaimRefusal) and refusal.reason == "wait"
    assert 0 < refusal.wait_seconds <= 5


async def test_register_keeps_times_applies_shorter_intervals_and_moves_servers(
    due: DueFeeds, redis_client: aioredis.Redis, keys: Keys
) -> None:
    await due.register([("daily", "srv:80", 86400.0), ("hourly", "srv:80", 3600.0)], NOW)
    queue = keys.server_due("srv:80")
    await redis_client.zadd(queue, {"daily": NOW + 80_000_000, "hourly": NOW + 60_000})

    await due.register([("daily", "srv:80", 300.0), ("hourly", "other:80", 3600.0)], NOW)

    assert await redis_client.zscore(queue, "daily") == NOW + 300_000
    assert await redis_client.zscore(queue, "hourly") is None  # moved with its URL...
    assert await redis_client.zscore(keys.server_due("other:80"), "hourly") == NOW  # ...due now


# --- the run loop -------------------------------------------------------------------------


class PoliteServer(FeedServer):
    """Counts requests per path and the most requests it ever had in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most_in_flight = 0
        self.polls: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    def serve(self, path: str) -> None:
        body = rss(path, [(f"{path} story", f"https://stories.example.org{path}")])

        def handler(_request: Request) -> Response:
            with self._count_lock:
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                self.polls[path] += 1
            time.sleep(0.02)  # long enough for an overlap to show
            with self._count_lock:
                self.in_flight -= 1
            return Response(200, {"Content-Type": "application/rss+xml"}, body)

        self.add_route(path, handler)


@pytest.fixture
async def runtime(redis_url: str, keys: Keys) -> AsyncIterator[Runtime]:
    async with open_runtime(redis_url, keys, fetch_timeout=5.0, max_concurrent_fetches=4) as rt:
        yield rt


async def test_replicas_share_feeds_politely_and_poll_on_schedule(
    runtime: Runtime, tmp_path: Path
) -> None:
    with PoliteServer() as one, PoliteServer() as two:
        feeds = []
        for server, name in ((one, "one"), (two, "two")):
            for n in range(4):
                server.serve(f"/{name}-{n}.xml")
                feeds.append(FeedConfig(f"{name}-{n}", server.url(f"/{name}-{n}.xml"), every=0.3))
        replicas = [PollerApp(runtime, feeds, tmp_path) for _ in range(2)]
        stop = asyncio.Event()
        loops = [asyncio.create_task(r.run(stop)) for r in replicas]
        try:
            async with asyncio.timeout(60):
                while (
                    len(one.polls) + len(two.polls) < len(feeds)
                    or min([*one.polls.values(), *two.polls.values()]) < 3
                ):
                    await asyncio.sleep(0.05)
        finally:
            stop.set()
            await asyncio.gather(*loops)
            for replica in replicas:
                await replica.close()

    assert one.most_in_flight == 1 and two.most_in_flight == 1, "one request at a time per server"
    entries = await runtime.client.xrange(runtime.keys.articles)
    links = [json.loads(fields[b"__data__"])["link"] for _id, fields in entries]
    assert len(links) == len(set(links)) == len(feeds), "each story published once"


async def test_stopping_hands_back_a_feed_stuck_in_a_slow_fetch(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("services.poller.app.SHUTDOWN_GRACE_SECONDS", 0.2)
    with FeedServer() as server:
        server.add_route("/slow.xml", slow_drip(interval=0.5))
        feed = FeedConfig("stuck", server.url("/slow.xml"))
        app = PollerApp(runtime, [feed], tmp_path)
        stop = asyncio.Event()
        loop = asyncio.create_task(app.run(stop))
        async with asyncio.timeout(30):
            while not server.requests:
                await asyncio.sleep(0.02)
        stop.set()
        await loop  # returns although the fetch (5 s budget) is far from done
        await app.close()

    due = DueFeeds(runtime.client, runtime.keys)
    (claim,) = await due.claim_ids(["stuck"], int(time.time() * 1000), lease_ms=LEASE, owner="r2")
    assert isinstance(claim, Claim), "the feed and its server are free for another replica"
