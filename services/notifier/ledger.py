"""The sent-ledger in Redis: what each target has accepted, by article and by story.

- Per (subscription, target), a sorted set article id -> when the target accepted it, trimmed
  to `WIREWATCH_LEDGER_RETENTION_DAYS` (default 30) on every write: such an article is never
  sent there again, whatever replays or restarts happen. (One set per target rather than one
  key per article: a digest of 200 articles is one ZADD, and a check is one ZMSCORE.)
- Per target, the stories it received in the last 48 h, or within the ledger retention when
  that is shorter (a sorted set by delivery time, each a `StoryTrace`): an article that arrives
  after its story went out is recorded as delivered instead of being sent (DESIGN §4 "Same
  story").

Both are written in one transaction right after a target accepts a message (a part of a
split chat digest counts on its own), so a retry sends only what was not accepted. The one
window where a duplicate is possible, a crash after the target accepted and before this
write, is described in `docs/guarantees.md` ("Delivery").
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import redis.asyncio as aioredis

from services.common.keys import Keys
from services.notifier.stories import WINDOW, StoryTrace

__all__ = ["STORY_MEMORY", "SentLedger"]

STORY_MEMORY = WINDOW
"""How long a target remembers the stories it received (the same-story window, 48 h), unless
the ledger retention is shorter."""


class SentLedger:
    """(subscription, target, article) that a target accepted, and the stories it received."""

    def __init__(self, client: aioredis.Redis, keys: Keys, retention_seconds: int) -> None:
        self._client = client
        self._keys = keys
        self._retention = max(1, int(retention_seconds))
        # Story traces are ledger entries too, so they never outlive the ledger retention: with
        # a retention shorter than the same-story window they would otherwise pile up for 48 h,
        # and every send reads and indexes all of them.
        self._story_memory = min(STORY_MEMORY.total_seconds(), float(self._retention))

    async def delivered(
        self, subscription: str, target: int, article_ids: Sequence[str]
    ) -> set[str]:
        """The subset of `article_ids` this target has accepted (within the retention)."""
        if not article_ids:
            return set()
        scores = await self._client.zmscore(
            self._keys.sent(subscription, target), list(article_ids)
        )
        return {a for a, s in zip(article_ids, scores, strict=True) if s is not None}

    async def delivered_everywhere(
        self, subscription: str, targets: int, article_ids: Sequence[str]
    ) -> set[str]:
        """The subset of `article_ids` that every one of `targets` targets has accepted."""
        if targets < 1:  # a subscription without targets has nothing left to deliver
            return set(article_ids)
        if not article_ids:
            return set()
        done = set(article_ids)
        async with self._client.pipeline(transaction=False) as pipe:
            for target in range(targets):
                pipe.zmscore(self._keys.sent(subscription, target), list(article_ids))
            for scores in await pipe.execute():
                done &= {a for a, s in zip(article_ids, scores, strict=True) if s is not None}
        return done

    async def record(
        self,
        subscription: str,
        target: int,
        article_ids: Iterable[str],
        now: datetime,
        stories: Sequence[StoryTrace] = (),
    ) -> None:
        """Written right after the target accepted: the only duplicate window is before this."""
        stamp = now.timestamp()
        sent_key = self._keys.sent(subscription, target)
        story_key = self._keys.delivered_stories(subscription, target)
        ids = dict.fromkeys(article_ids, stamp)
        async with self._client.pipeline(transaction=True) as pipe:
            if ids:
                pipe.zadd(sent_key, ids)
                pipe.zremrangebyscore(sent_key, "-inf", stamp - self._retention)
                pipe.expire(sent_key, self._retention)
            if stories:
                pipe.zadd(story_key, {_encode_trace(t): stamp for t in stories})
                pipe.zremrangebyscore(story_key, "-inf", stamp - self._story_memory)
                memory = math.ceil(self._story_memory)
                pipe.expire(story_key, memory + min(3600, memory))  # slack for clock skew
            await pipe.execute()

    async def recent_stories(
        self, subscription: str, target: int, now: datetime
    ) -> list[StoryTrace]:
        """Stories this target received within the last 48 h (or the ledger retention)."""
        since = now.timestamp() - self._story_memory
        raw = await self._client.zrangebyscore(
            self._keys.delivered_stories(subscription, target), since, "+inf"
        )
        return [_decode_trace(value) for value in raw if isinstance(value, bytes | str)]


def _encode_trace(trace: StoryTrace) -> str:
    lead = trace.lead_time.timestamp() if trace.lead_time is not None else None
    return json.dumps(
        {"lead": lead, "feeds": sorted(trace.feeds), "titles": list(trace.titles)},
        ensure_ascii=False,
        sort_keys=True,
    )


def _decode_trace(value: bytes | str) -> StoryTrace:
    data = json.loads(value)
    lead = data.get("lead")
    return StoryTrace(
        lead_time=datetime.fromtimestamp(lead, UTC) if lead is not None else None,
        feeds=frozenset(data.get("feeds", ())),
        titles=tuple(data.get("titles", ())),
    )
