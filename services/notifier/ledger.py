"""Notifier state in Redis: pending digests per subscription, and the sent-ledger per target.

Pending items survive restarts and outages; the sent-ledger (one expiring key per
subscription, target and article) is what makes delivery effectively-once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

import redis.asyncio as aioredis

from services.common.keys import Keys
from services.common.models import Article
from services.notifier.digest import PendingItem


class PendingDigests:
    """Items filed for a subscription and not yet delivered to all of its targets."""

    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys

    async def file(self, subscription: str, item: PendingItem, now: datetime) -> None:
        """Idempotent: filing the same article again (a replayed match) keeps one item."""
        payload = json.dumps(
            {"article": item.article.model_dump(mode="json"), "rules": list(item.rules)}
        )
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hset(self._keys.pending(subscription), item.article.id, payload)
            pipe.hsetnx(self._keys.pending_since(), subscription, str(now.timestamp()))
            await pipe.execute()

    async def items(self, subscription: str) -> list[PendingItem]:
        raw = await self._client.hgetall(self._keys.pending(subscription))
        out = []
        for value in raw.values():
            data = json.loads(value)
            out.append(PendingItem(Article.model_validate(data["article"]), tuple(data["rules"])))
        return out

    async def oldest(self, subscription: str) -> float | None:
        """Epoch seconds when the oldest waiting item was filed (drives `immediate`)."""
        value = await self._client.hget(self._keys.pending_since(), subscription)
        return float(value) if value is not None else None

    async def remove(self, subscription: str, article_ids: Iterable[str]) -> None:
        """Drop delivered items; when none remain, the subscription has nothing waiting."""
        ids = list(article_ids)
        key = self._keys.pending(subscription)
        if ids:
            await self._client.hdel(key, *ids)
        if not await self._client.hlen(key):
            await self._client.hdel(self._keys.pending_since(), subscription)


class SentLedger:
    """(subscription, target, article) that a target accepted; never sent there again."""

    def __init__(self, client: aioredis.Redis, keys: Keys, retention_seconds: int) -> None:
        self._client = client
        self._keys = keys
        self._retention = max(1, int(retention_seconds))

    async def delivered(
        self, subscription: str, target: int, article_ids: Sequence[str]
    ) -> set[str]:
        if not article_ids:
            return set()
        keys = [self._keys.sent(subscription, target, a) for a in article_ids]
        values = await self._client.mget(keys)
        return {a for a, v in zip(article_ids, values, strict=True) if v is not None}

    async def record(
        self, subscription: str, target: int, article_ids: Iterable[str], now: datetime
    ) -> None:
        """Written right after the target accepted: the only duplicate window is before this."""
        async with self._client.pipeline(transaction=True) as pipe:
            for article_id in article_ids:
                pipe.set(
                    self._keys.sent(subscription, target, article_id),
                    str(now.timestamp()),
                    ex=self._retention,
                )
            await pipe.execute()
