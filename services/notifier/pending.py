"""Pending digests in Redis: what each subscription still has to deliver, and since when.

- Per subscription, a hash article id -> `{"rules": [...], "filed": epoch}`: the rules it
  matched that the subscription wants, and when it was filed.
- One shared hash article id -> article JSON, with a reference count per article, so an
  article pending for many subscriptions is stored once (filing is one Lua script; dropping
  delivered items decrements the count and deletes the article with its last reference).
- One hash subscription -> *burst mark*: when the oldest item not yet seen by a send attempt
  was filed. `immediate` digests are due `WIREWATCH_IMMEDIATE_WINDOW` seconds after the mark.

Items leave a subscription's hash only once every one of its targets has them in the
sent-ledger, so a restart, an outage or a crashed replica loses nothing. The mark is set when
an item is filed (if unset) and, after each send attempt, recomputed from the items filed while
that attempt ran — in the same script that drops the delivered items, so an item filed during
a send never goes without a mark. Items kept for a failed target are retried through the
target's backoff (`backoff.py`), not through the mark.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from datetime import UTC, datetime

import redis.asyncio as aioredis

from services.common.keys import Keys
from services.common.models import Article
from services.notifier.digest import PendingItem

__all__ = ["PendingDigests"]

log = logging.getLogger(__name__)

# KEYS: articles, refs, marks, then one pending hash per entry.
# ARGV: now, article count, (id, json) per article, then (subscription, id, meta) per entry.
_FILE = """
local n = tonumber(ARGV[2])
local i = 3 + 2 * n
local k = 4
while i <= #ARGV do
  if redis.call('HSETNX', KEYS[k], ARGV[i + 1], ARGV[i + 2]) == 1 then
    redis.call('HINCRBY', KEYS[2], ARGV[i + 1], 1)
  end
  redis.call('HSETNX', KEYS[3], ARGV[i], ARGV[1])
  i = i + 3
  k = k + 1
end
for a = 0, n - 1 do
  local id = ARGV[3 + 2 * a]
  if redis.call('HEXISTS', KEYS[2], id) == 1 then
    redis.call('HSET', KEYS[1], id, ARGV[4 + 2 * a])
  end
end
return 1
"""

# KEYS: pending hash, articles, refs, marks.
# ARGV: subscription, move mark ("1"/"0"), delivered count, delivered ids, attempted ids.
_SETTLE = """
local nd = tonumber(ARGV[3])
for i = 4, 3 + nd do
  if redis.call('HDEL', KEYS[1], ARGV[i]) == 1 then
    if redis.call('HINCRBY', KEYS[3], ARGV[i], -1) <= 0 then
      redis.call('HDEL', KEYS[3], ARGV[i])
      redis.call('HDEL', KEYS[2], ARGV[i])
    end
  end
end
if ARGV[2] ~= '1' then
  return 1
end
local attempted = {}
for i = 4 + nd, #ARGV do
  attempted[ARGV[i]] = true
end
local oldest = nil
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if not attempted[all[i]] then
    local filed = tonumber(cjson.decode(all[i + 1])['filed']) or 0
    if oldest == nil or filed < oldest then
      oldest = filed
    end
  end
end
if oldest == nil then
  redis.call('HDEL', KEYS[4], ARGV[1])
else
  redis.call('HSET', KEYS[4], ARGV[1], string.format('%.6f', oldest))
end
return 1
"""


class PendingDigests:
    """Items filed for each subscription and not yet delivered to all of its targets."""

    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys
        self._file = client.register_script(_FILE)
        self._settle = client.register_script(_SETTLE)

    async def file(self, entries: Sequence[tuple[str, PendingItem]], now: datetime) -> None:
        """File (subscription, item) pairs atomically, each article stored once.

        Idempotent: filing an article a subscription already has pending (a replayed match)
        keeps the first item.
        """
        if not entries:
            return
        articles: dict[str, str] = {}
        keys = [
            self._keys.pending_articles(),
            self._keys.pending_refs(),
            self._keys.pending_since(),
        ]
        metas: list[str] = []
        for subscription, item in entries:
            if item.article.id not in articles:
                articles[item.article.id] = item.article.model_dump_json()
            keys.append(self._keys.pending(subscription))
            filed = (item.filed or now).timestamp()
            meta = json.dumps({"rules": list(item.rules), "filed": filed})
            metas += [subscription, item.article.id, meta]
        args: list[str | float | int] = [now.timestamp(), len(articles)]
        for article_id, payload in articles.items():
            args += [article_id, payload]
        await self._file(keys=keys, args=[*args, *metas])

    async def marks(self) -> dict[str, float]:
        """Every subscription's burst mark (epoch seconds), in one round trip."""
        raw = await self._client.hgetall(self._keys.pending_since())
        return {_text(k): float(v) for k, v in raw.items()}

    async def items(self, subscription: str) -> list[PendingItem]:
        """Everything pending for the subscription, oldest filed first."""
        raw = await self._client.hgetall(self._keys.pending(subscription))
        if not raw:
            return []
        ids = [_text(k) for k in raw]
        payloads = await self._client.hmget(self._keys.pending_articles(), ids)
        items: list[PendingItem] = []
        for article_id, meta, payload in zip(ids, raw.values(), payloads, strict=True):
            if payload is None:  # cannot happen while the reference count is right
                log.error(
                    "pending.article_missing subscription=%s article=%s", subscription, article_id
                )
                continue
            data = json.loads(meta)
            items.append(
                PendingItem(
                    Article.model_validate_json(payload),
                    tuple(data["rules"]),
                    datetime.fromtimestamp(float(data["filed"]), UTC),
                )
            )
        items.sort(key=lambda i: (i.filed or _EPOCH, i.article.id))
        return items

    async def settle(
        self,
        subscription: str,
        attempted: Collection[str],
        delivered: Collection[str],
        *,
        move_mark: bool = True,
    ) -> None:
        """After a send attempt: drop `delivered` items and move the burst mark past `attempted`.

        The new mark is the filing time of the oldest item the attempt did not see (filed
        while it ran), or no mark. A retry of failed targets only (`move_mark=False`) leaves
        the mark alone: the burst it marks has not been sent to the other targets yet.
        """
        keys = [
            self._keys.pending(subscription),
            self._keys.pending_articles(),
            self._keys.pending_refs(),
            self._keys.pending_since(),
        ]
        gone = sorted(delivered)
        args = [subscription, "1" if move_mark else "0", len(gone), *gone]
        if move_mark:
            args += sorted(attempted)
        await self._settle(keys=keys, args=args)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
