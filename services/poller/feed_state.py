"""Per-feed state in Redis: conditional-GET validators, body hash, schedule and health.

Kept in Redis (not memory) so any poller replica may pick up any feed and `wirewatch feeds`
can show every feed's health from outside the process.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime

import redis.asyncio as aioredis

from services.common.keys import Keys


@dataclass
class FeedState:
    """What we remember about one feed between polls."""

    etag: str = ""
    last_modified: str = ""
    body_hash: str = ""
    last_poll: str = ""  # ISO 8601 UTC
    next_due: str = ""  # ISO 8601 UTC
    state: str = "never polled"  # ok | error | backoff | never polled
    http_status: str = ""
    new_items: int = 0
    consecutive_errors: int = 0
    last_error: str = ""

    def next_due_at(self) -> datetime | None:
        return datetime.fromisoformat(self.next_due) if self.next_due else None


_INT_FIELDS = {"new_items", "consecutive_errors"}
_UNLOCK = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)


class FeedStates:
    """Reads and writes `FeedState` hashes; also the per-feed lock replicas use."""

    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys

    async def load(self, feed_id: str) -> FeedState:
        raw = await self._client.hgetall(self._keys.feed_state(feed_id))
        values = {_text(k): _text(v) for k, v in raw.items()}
        known = {f.name for f in fields(FeedState)}
        kwargs: dict[str, str | int] = {}
        for name, value in values.items():
            if name in known:
                kwargs[name] = int(value) if name in _INT_FIELDS else value
        return FeedState(**kwargs)  # type: ignore[arg-type]

    async def save(self, feed_id: str, state: FeedState) -> None:
        mapping = {k: str(v) for k, v in asdict(state).items()}
        await self._client.hset(self._keys.feed_state(feed_id), mapping=mapping)  # type: ignore[arg-type]

    async def try_lock(self, feed_id: str, owner: str, ttl_seconds: float) -> bool:
        """Only one replica fetches a feed at a time; the lock expires if its holder dies."""
        return bool(
            await self._client.set(
                self._keys.feed_lock(feed_id), owner, nx=True, px=int(ttl_seconds * 1000)
            )
        )

    async def unlock(self, feed_id: str, owner: str) -> None:
        """Release the lock only if we still hold it (it may have expired and moved on)."""
        await self._client.eval(_UNLOCK, 1, self._keys.feed_lock(feed_id), owner)  # type: ignore[misc]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
