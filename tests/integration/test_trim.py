"""Stream trimming never drops what a lagging group still needs (real Redis, real groups)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from services.common.keys import Keys
from services.common.trim import (
    format_id,
    parse_id,
    trim_floor,
    trim_interval,
    trim_stream,
    trim_streams,
)

pytestmark = pytest.mark.integration
NOW = datetime(2026, 1, 1, tzinfo=UTC)
NO_FLOOR = timedelta(0)  # retention 0: only what the groups need is kept


@pytest.mark.parametrize(
    ("floors", "retention", "expected"),
    [
        ([], NO_FLOOR, None),  # no group has said what it needs: keep everything
        ([(5, 0), (3, 7)], NO_FLOOR, (3, 7)),  # the laggard decides
        ([(5, 0)], timedelta(days=1), (5, 0)),  # retention floor far older than what is needed
        (
            [(int(NOW.timestamp() * 1000), 9)],
            timedelta(seconds=1),
            (int(NOW.timestamp() * 1000) - 1000, 0),
        ),
        ([(10, 2), (10, 1)], NO_FLOOR, (10, 1)),  # ids compare as numbers: seq too
    ],
)
def test_trim_floor(
    floors: list[tuple[int, int]], retention: timedelta, expected: tuple[int, int] | None
) -> None:
    assert trim_floor(floors, now=NOW, retention=retention) == expected


@pytest.mark.parametrize(
    ("retention", "seconds"),
    [(timedelta(hours=24), 60.0), (timedelta(seconds=40), 4.0), (timedelta(0), 1.0)],
)
def test_trim_interval_follows_retention(retention: timedelta, seconds: float) -> None:
    assert trim_interval(retention) == seconds


def test_ids_round_trip_and_compare_numerically() -> None:
    assert parse_id(b"1718000000000-3") == (1718000000000, 3)
    assert format_id(parse_id("9-10")) == "9-10"
    assert parse_id("10-0") > parse_id("9-99")


async def _fill(client: aioredis.Redis, stream: str, n: int) -> list[str]:
    return [
        (await client.xadd(stream, {"__data__": f'{{"n": {i}}}'}, id=f"{1000 + i}-0")).decode()
        for i in range(n)
    ]


async def test_lagging_group_keeps_unread_and_pending_entries(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    stream = keys.articles
    ids = await _fill(redis_client, stream, 10)
    # matcher (the fast group) read and acked everything.
    fast = await redis_client.xreadgroup(keys.matcher_group, "fast", {stream: ">"}, count=100)
    await redis_client.xack(stream, keys.matcher_group, *[i for i, _ in fast[0][1]])
    # A second, lagging group: read 5, acked entries 0, 1 and 4; entries 2 and 3 pending.
    await redis_client.xgroup_create(stream, "audit", id="0")
    slow = await redis_client.xreadgroup("audit", "slow", {stream: ">"}, count=5)
    assert [i.decode() for i, _ in slow[0][1]] == ids[:5]
    await redis_client.xack(stream, "audit", ids[0], ids[1], ids[4])

    result = await trim_stream(redis_client, stream, now=NOW, retention=NO_FLOOR)

    assert result.min_id == ids[2] and result.trimmed == 2
    remaining = [i.decode() for i, _ in await redis_client.xrange(stream)]
    assert remaining == ids[2:], "only entries every group is done with may go"
    # The laggard still gets its pending entries back, with their payloads …
    claimed = await redis_client.xclaim(stream, "audit", "rescuer", 0, [ids[2], ids[3]])
    assert [i.decode() for i, fields in claimed if fields] == ids[2:4]
    # … and every entry it has not read yet.
    rest = await redis_client.xreadgroup("audit", "slow", {stream: ">"}, count=100)
    assert [i.decode() for i, _ in rest[0][1]] == ids[5:]


async def test_group_that_never_read_blocks_trimming(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    await _fill(redis_client, keys.articles, 3)
    result = await trim_stream(redis_client, keys.articles, now=NOW, retention=NO_FLOOR)
    assert result.trimmed == 0 and await redis_client.xlen(keys.articles) == 3


async def test_retention_floor_keeps_recent_entries_even_when_all_read(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    stream = keys.matches
    for i in range(4):
        await redis_client.xadd(stream, {"__data__": f'{{"n": {i}}}'})  # ids: now
    read = await redis_client.xreadgroup(keys.notifier_group, "n", {stream: ">"}, count=10)
    await redis_client.xack(stream, keys.notifier_group, *[i for i, _ in read[0][1]])
    results = await trim_streams(
        redis_client, keys, now=datetime.now(UTC), retention=timedelta(hours=1)
    )
    assert [r.trimmed for r in results] == [0, 0]
    assert await redis_client.xlen(stream) == 4
    later = datetime.now(UTC) + timedelta(hours=2)
    results = await trim_streams(redis_client, keys, now=later, retention=timedelta(hours=1))
    # Everything read and acked, retention passed: all but the last-delivered entry go.
    assert results[1].trimmed == 3 and await redis_client.xlen(stream) == 1
