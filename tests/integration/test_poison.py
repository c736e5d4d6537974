"""A message whose handler always raises is retried a bounded number of times, then parked in
the dead-letter stream with its error — and the rest of the group goes on."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import redis.asyncio as aioredis

from services.common.broker import PoisonPolicy, make_broker, subscribe_group
from services.common.keys import Keys
from services.common.redis import group_backlog

pytestmark = pytest.mark.integration


async def test_poison_entry_is_parked_after_bounded_tries(
    redis_client: aioredis.Redis, keys: Keys, redis_url: str
) -> None:
    handled: list[str] = []
    attempts: dict[str, int] = {}

    async def handle(payloads: list[dict[str, Any]]) -> None:
        for p in payloads:
            attempts[p["id"]] = attempts.get(p["id"], 0) + 1
            if p["id"] == "poison":
                raise ValueError("cannot evaluate this article")
        handled.extend(p["id"] for p in payloads)

    broker = make_broker(redis_url)
    subscribe_group(
        broker,
        stream=keys.articles,
        group=keys.matcher_group,
        consumer="poison-test",
        claim_idle_seconds=0.2,
        handle_batch=handle,
        poison=PoisonPolicy(redis_client, keys, "articles", max_deliveries=3),
    )
    for ident in ("good-1", "poison", "good-2"):
        await redis_client.xadd(keys.articles, {"__data__": json.dumps({"id": ident})})
    await broker.start()
    try:
        for _ in range(200):
            backlog = await group_backlog(redis_client, keys.articles, keys.matcher_group)
            if backlog.idle and await redis_client.xlen(keys.dead_letters):
                break
            await asyncio.sleep(0.05)
    finally:
        await broker.stop()

    assert backlog.idle, "the poison entry must not stay pending forever"
    assert {"good-1", "good-2"} <= set(handled)
    assert "poison" not in handled
    assert attempts["poison"] == 3  # one batch try + two reclaimed tries, then parked
    [(_, fields)] = await redis_client.xrange(keys.dead_letters)
    assert b"gave up after 3 tries: ValueError: cannot evaluate this article" in fields[b"reason"]
    assert json.loads(fields[b"payload"]) == {"id": "poison"}
