"""Bounded memory over an accelerated soak: the seen-set and ledgers expire by their retention
and the streams are trimmed, so neither the process nor Redis grows without bound.

Acceleration: retention is set to 40 s and feeds publish ~20 new articles/s, so a 90 s run
covers more than two full retention windows (what 30 days x 2 would be in production).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis

from tests.reliability.harness import (
    FeedHTTP,
    GrowingFeeds,
    PrivateRedis,
    Supervisor,
    service_env,
    write_config,
)
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.reliability
SOAK_SECONDS = 90.0
RETENTION_DAYS = 40 / 86400


@pytest.fixture
def soak_feeds() -> Iterator[GrowingFeeds]:
    growing = GrowingFeeds(feeds=4, per_step=5, step_seconds=1.0, max_items=10**9, window=40)
    http = FeedHTTP(growing)
    yield growing
    http.close()


def test_memory_bounded_over_soak(
    tmp_path: Path, soak_feeds: GrowingFeeds, receiver: WebhookReceiver
) -> None:
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    config = tmp_path / "rules"
    write_config(config, soak_feeds, receiver.url)
    env = service_env(
        server.url,
        config,
        WIREWATCH_SEEN_RETENTION_DAYS=str(RETENTION_DAYS),
        WIREWATCH_LEDGER_RETENTION_DAYS=str(RETENTION_DAYS),
        WIREWATCH_STREAM_RETENTION_HOURS="0.011",
    )
    sup = Supervisor(["run"], env, tmp_path, "soak")
    sup.start()
    client = redis.Redis.from_url(server.url)
    samples: list[tuple[float, int, int, int]] = []  # (t, rss, redis keys, stream entries)
    try:
        assert sup.proc is not None
        proc = psutil.Process(sup.proc.pid)
        start = time.monotonic()
        while (t := time.monotonic() - start) < SOAK_SECONDS:
            time.sleep(5)
            streams = sum(client.xlen(s) for s in ("wirewatch:articles", "wirewatch:matches"))
            samples.append((t, proc.memory_info().rss, int(client.dbsize()), streams))
    finally:
        sup.stop()
        server.stop()
    for t, rss, keys, entries in samples:
        print(
            f"soak t={t:5.1f}s rss={rss / 2**20:6.1f}MiB redis_keys={keys} stream_entries={entries}"
        )
    third = len(samples) // 3
    middle, last = samples[third : 2 * third], samples[2 * third :]
    assert len(receiver.posts) > 10, "the soak must actually deliver digests"
    # keys: the seen-set and ledger expire, so the key count levels off after one retention window
    assert max(s[2] for s in last) <= 1.25 * max(s[2] for s in middle) + 50
    # process memory levels off too (allowing allocator noise)
    assert max(s[1] for s in last) <= 1.2 * max(s[1] for s in middle) + 20 * 2**20
    # streams are trimmed once every group has read past an entry
    assert max(s[3] for s in last) <= 1.25 * max(s[3] for s in middle) + 200
