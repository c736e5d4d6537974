"""When each scheduled digest is next due, kept in Redis (one hash for all subscriptions).

The stored value remembers the schedule it was computed for, so editing a subscription's
`digest:` starts the new schedule from the next occurrence instead of keeping the old time.
The first due time is the first occurrence after the notifier first sees the subscription.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import redis.asyncio as aioredis

from services.common.keys import Keys

__all__ = ["DueTimes", "StoredDue"]


@dataclass(frozen=True)
class StoredDue:
    schedule: str | None  # the schedule's canonical spelling; None in values from older versions
    due: datetime


class DueTimes:
    """Subscription id -> next due time of its scheduled digest."""

    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys

    async def all(self) -> dict[str, StoredDue]:
        raw = await self._client.hgetall(self._keys.next_due())
        return {_text(k): _decode(v) for k, v in raw.items()}

    async def get(self, subscription: str) -> StoredDue | None:
        raw = await self._client.hget(self._keys.next_due(), subscription)
        return _decode(raw) if raw is not None else None

    async def set(
        self, subscription: str, schedule: str, due: datetime, *, only_if_new: bool = False
    ) -> None:
        """Store the next due time; `only_if_new` keeps a value another replica stored first."""
        value = json.dumps({"schedule": schedule, "due": due.isoformat()})
        if only_if_new:
            await self._client.hsetnx(self._keys.next_due(), subscription, value)
        else:
            await self._client.hset(self._keys.next_due(), subscription, value)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _decode(value: bytes | str) -> StoredDue:
    text = _text(value)
    if text.startswith("{"):
        data = json.loads(text)
        return StoredDue(data.get("schedule"), datetime.fromisoformat(data["due"]))
    return StoredDue(None, datetime.fromisoformat(text))
