"""Retry state of delivery targets in Redis: failures in a row and when to try again.

A target that failed keeps its items pending and is retried after a delay that doubles with
each failure in a row (5 s, 10 s, 20 s, ... at most 15 min), while the subscription's other
targets go on. The retry times of all targets sit in one sorted set, so the notifier finds the
targets to retry in one read per tick. `run --once` retries every failed target at once.
"""

from __future__ import annotations

from datetime import datetime

import redis.asyncio as aioredis

from services.common.keys import Keys

__all__ = ["FIRST_DELAY", "MAX_DELAY", "TargetBackoff", "backoff_delay"]

FIRST_DELAY = 5.0
MAX_DELAY = 900.0
"""Longest wait between retries: after an outage ends, items go out within 15 minutes."""


def backoff_delay(failures: int) -> float:
    """Seconds to wait after `failures` failures in a row (1 -> 5 s, doubling, capped)."""
    return float(min(FIRST_DELAY * 2 ** min(max(failures, 1) - 1, 20), MAX_DELAY))


def _member(subscription: str, target: int) -> str:
    return f"{subscription}#{target}"


class TargetBackoff:
    """Failures in a row and the next retry time of each (subscription, target)."""

    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys

    async def due(self, now: datetime | None) -> set[tuple[str, int]]:
        """Targets whose retry time has come (every failed target when `now` is None)."""
        high: float | str = "+inf" if now is None else now.timestamp()
        raw = await self._client.zrangebyscore(self._keys.target_retries(), "-inf", high)
        out: set[tuple[str, int]] = set()
        for value in raw:
            if not isinstance(value, bytes | str):
                continue
            text = value.decode() if isinstance(value, bytes) else value
            subscription, _, index = text.rpartition("#")
            if index.isdigit():
                out.add((subscription, int(index)))
        return out

    async def retry_at(self, subscription: str, target: int) -> float | None:
        """Epoch seconds of the next retry, None when the target is not backing off."""
        score = await self._client.zscore(
            self._keys.target_retries(), _member(subscription, target)
        )
        return float(score) if score is not None else None

    async def next_retry(self) -> float | None:
        """The earliest retry time of any target (for the digest loop's sleep)."""
        first = await self._client.zrange(self._keys.target_retries(), 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    async def failed(self, subscription: str, target: int, now: datetime) -> float:
        """Count a failure and schedule the retry; returns the delay in seconds."""
        key = self._keys.target_state(subscription, target)
        failures = int(await self._client.hincrby(key, "failures", 1))
        delay = backoff_delay(failures)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hset(key, "retry_at", str(now.timestamp() + delay))
            pipe.zadd(
                self._keys.target_retries(),
                {_member(subscription, target): now.timestamp() + delay},
            )
            await pipe.execute()
        return delay

    async def clear(self, subscription: str, target: int) -> None:
        """The target accepted (or has nothing left): no more backoff."""
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.delete(self._keys.target_state(subscription, target))
            pipe.zrem(self._keys.target_retries(), _member(subscription, target))
            await pipe.execute()
