"""Nothing lost, nothing duplicated: kill -9 of wirewatch (one process or three services) and of
Redis itself, at seeded random moments, while feeds keep growing. Each test is bounded in time."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.harness import (
    FeedHTTP,
    GrowingFeeds,
    PrivateRedis,
    Supervisor,
    report,
    run_once_until_delivered,
    service_env,
    verdict,
    write_config,
)
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.reliability
RUN_SECONDS = 24.0


@pytest.fixture
def feeds() -> Iterator[GrowingFeeds]:
    growing = GrowingFeeds(feeds=6, per_step=4, step_seconds=2.0, max_items=60)
    http = FeedHTTP(growing)
    yield growing
    http.close()


def _chaos(
    supervisors: list[Supervisor], seed: int, seconds: float, redis: PrivateRedis | None = None
) -> None:
    rnd = random.Random(seed)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(rnd.uniform(1.0, 3.5))
        if redis is not None:
            redis.kill9()
            time.sleep(rnd.uniform(0.2, 1.5))
            redis.start()
        else:
            rnd.choice(supervisors).kill9_and_restart()


def test_kill9_single_process(
    tmp_path: Path, redis_server: PrivateRedis, feeds: GrowingFeeds, receiver: WebhookReceiver
) -> None:
    config = tmp_path / "rules"
    write_config(config, feeds, receiver.url)
    sup = Supervisor(["run"], service_env(redis_server.url, config), tmp_path, "run")
    sup.start()
    try:
        _chaos([sup], seed=1234, seconds=RUN_SECONDS)
    finally:
        sup.stop()
    expected = feeds.expected_links()
    run_once_until_delivered(redis_server.url, config, expected, receiver)
    v = verdict(expected, receiver.messages(), sup.kills, sup.restarts)
    report(v.line("kill -9 wirewatch run"))
    assert v.served > 100 and v.kills >= 5
    assert v.lost == 0, v
    assert v.duplicated == 0, v


def test_kill9_three_services(
    tmp_path: Path, redis_server: PrivateRedis, feeds: GrowingFeeds, receiver: WebhookReceiver
) -> None:
    config = tmp_path / "rules"
    write_config(config, feeds, receiver.url)
    sups = [
        Supervisor([name], service_env(redis_server.url, config), tmp_path, name)
        for name in ("poller", "matcher", "notifier")
    ]
    for s in sups:
        s.start()
    try:
        _chaos(sups, seed=99, seconds=RUN_SECONDS)
    finally:
        for s in sups:
            s.stop()
    expected = feeds.expected_links()
    run_once_until_delivered(redis_server.url, config, expected, receiver)
    kills = sum(s.kills for s in sups)
    v = verdict(expected, receiver.messages(), kills, sum(s.restarts for s in sups))
    report(v.line("kill -9 one of three services"))
    assert v.served > 100 and v.kills >= 5
    assert v.lost == 0, v
    assert v.duplicated == 0, v


def test_kill9_redis_with_aof_replay(
    tmp_path: Path, redis_server: PrivateRedis, feeds: GrowingFeeds, receiver: WebhookReceiver
) -> None:
    config = tmp_path / "rules"
    write_config(config, feeds, receiver.url)
    sup = Supervisor(["run"], service_env(redis_server.url, config), tmp_path, "run-redis")
    sup.start()
    try:
        _chaos([], seed=7, seconds=RUN_SECONDS, redis=redis_server)
        assert sup.proc is not None and sup.proc.poll() is None, (
            "wirewatch run must ride out Redis restarts"
        )
    finally:
        code = sup.stop()
    expected = feeds.expected_links()
    run_once_until_delivered(redis_server.url, config, expected, receiver)
    v = verdict(expected, receiver.messages(), redis_server.kills, 0)
    report(v.line("kill -9 redis (AOF replay)"))
    assert code == 0, "SIGTERM after the outages must still exit 0"
    assert v.lost == 0, v
    assert v.duplicated == 0, v
