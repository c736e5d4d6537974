"""Stream trimming: keep `wirewatch:articles` and `wirewatch:matches` bounded without ever
dropping an entry a consumer group still needs.

STACK-NOTES: `maxlen` silently drops entries a lagging group has not read. Instead we trim by
id: `XTRIM MINID` to the oldest id still needed, which is, over every group on the stream, the
smaller of its last-delivered id and its oldest pending (delivered, unacked) id. Entries newer
than the retention floor are kept even when every group is done with them, for inspection and
replay. Trimming from several processes at once is safe: each computes a floor that only moves
forward (acks and reads advance it, appends happen at the other end).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.common.keys import Keys
from services.common.metrics import STREAM_TRIMMED
from services.common.runtime import pause

log = logging.getLogger(__name__)

RETENTION = timedelta(hours=24)  # entries younger than this are always kept
TRIM_INTERVAL = 60.0  # seconds between passes, at most

StreamId = tuple[int, int]


@dataclass(frozen=True)
class TrimResult:
    """What one pass did to one stream: the MINID used (None: nothing safe to trim) and how many went."""

    stream: str
    min_id: str | None
    trimmed: int


def parse_id(value: bytes | str) -> StreamId:
    """`1718000000000-3` -> (1718000000000, 3), so ids compare as numbers, not strings."""
    text = value.decode() if isinstance(value, bytes) else value
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def format_id(value: StreamId) -> str:
    return f"{value[0]}-{value[1]}"


def trim_floor(
    group_floors: list[StreamId], *, now: datetime, retention: timedelta
) -> StreamId | None:
    """The MINID to trim to: the oldest id any group needs, capped by the retention floor.

    No groups means no one has said what they need, so nothing is trimmed (None).
    """
    if not group_floors:
        return None
    keep_from = int((now - retention).timestamp() * 1000)
    return min(*group_floors, (max(keep_from, 0), 0))


async def group_floors(client: aioredis.Redis, stream: str) -> list[StreamId]:
    """Per group: min(last-delivered id, oldest pending id) — everything from there on is needed."""
    floors: list[StreamId] = []
    for info in await client.xinfo_groups(stream):
        floor = parse_id(info["last-delivered-id"])
        if int(info.get("pending") or 0):
            summary = await client.xpending(stream, info["name"])
            if summary.get("min") is not None:
                floor = min(floor, parse_id(summary["min"]))
        floors.append(floor)
    return floors


async def trim_stream(
    client: aioredis.Redis, stream: str, *, now: datetime, retention: timedelta = RETENTION
) -> TrimResult:
    """One trim pass over one stream (exact MINID: only entries older than the floor go)."""
    if not await client.exists(stream):
        return TrimResult(stream, None, 0)
    floor = trim_floor(await group_floors(client, stream), now=now, retention=retention)
    if floor is None or floor == (0, 0):
        return TrimResult(stream, None, 0)
    min_id = format_id(floor)
    trimmed = int(await client.xtrim(stream, minid=min_id, approximate=False))
    if trimmed:
        STREAM_TRIMMED.labels(stream=stream).inc(trimmed)
        log.info("stream.trimmed stream=%s min_id=%s entries=%d", stream, min_id, trimmed)
    return TrimResult(stream, min_id, trimmed)


async def trim_streams(
    client: aioredis.Redis, keys: Keys, *, now: datetime, retention: timedelta = RETENTION
) -> list[TrimResult]:
    """Trim both grouped streams (the dead-letter stream is kept whole: it is for people)."""
    return [
        await trim_stream(client, stream, now=now, retention=retention)
        for stream in (keys.articles, keys.matches)
    ]


def trim_interval(retention: timedelta) -> float:
    """Seconds between passes: a tenth of the retention, between 1 s and TRIM_INTERVAL, so a
    short retention (tests, small machines) is honoured about as closely as a long one."""
    return min(TRIM_INTERVAL, max(1.0, retention.total_seconds() / 10))


async def run_trimming(
    client: aioredis.Redis,
    keys: Keys,
    stop: asyncio.Event,
    *,
    retention: timedelta = RETENTION,
) -> None:
    """Trim periodically until stopped; a failed pass (Redis away) is logged and retried."""
    interval = trim_interval(retention)
    while not stop.is_set():
        try:
            await trim_streams(client, keys, now=datetime.now(UTC), retention=retention)
        except (RedisError, OSError) as exc:
            log.warning("stream.trim_failed reason=%s", str(exc) or type(exc).__name__)
        await pause(stop, interval)
