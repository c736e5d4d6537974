"""The seen-set: publish each article once across all feeds, replicas and restarts.

Marking an id as seen and appending it to `wirewatch:articles` happen in one Lua script, which
Redis runs atomically (and, with `appendfsync always`, persists as one unit): a crash can never
leave an article marked seen but not published, nor published twice.

Retention (`WIREWATCH_SEEN_RETENTION_DAYS`) counts from the last time a feed listed the
article, not the first: every parse renews the marks of what the document still lists, so a
feed that keeps an old item for months never makes it "new" again. (The poller re-parses
each feed at least every half retention for this, even when the server says 304.)
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from services.common.keys import Keys
from services.common.models import Article

__all__ = ["SeenSet"]

_PUBLISH_IF_NEW = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[2], '*', '__data__', ARGV[2])
  return 1
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 0
"""

# Renews the mark of every id already seen; answers 1 for each id not seen (yet).
_RENEW_SEEN = """
local unseen = {}
for i, key in ipairs(KEYS) do
  unseen[i] = 1 - redis.call('EXPIRE', key, ARGV[1])
end
return unseen
"""


class SeenSet:
    """Article ids published within the retention window (one expiring key per id)."""

    def __init__(self, client: aioredis.Redis, keys: Keys, retention_seconds: int) -> None:
        self._client = client
        self._keys = keys
        self.retention_seconds = max(1, int(retention_seconds))
        self._script = client.register_script(_PUBLISH_IF_NEW)
        self._renew = client.register_script(_RENEW_SEEN)

    async def publish_new(self, articles: Sequence[Article]) -> list[Article]:
        """XADD the articles not seen before and renew the marks of the others; return the
        new ones. An id listed twice in one batch is published once."""
        unique: dict[str, Article] = {}
        for article in articles:
            unique.setdefault(article.id, article)  # the first of each id, in document order
        if not unique:
            return []
        # Most of a changed document was seen before: renew those marks in one call, and
        # serialise and publish only the rest (the publish script still decides atomically).
        unseen = await self._renew(
            keys=[self._keys.seen(i) for i in unique], args=[self.retention_seconds]
        )
        candidates = [a for a, flag in zip(unique.values(), unseen, strict=True) if flag]
        if not candidates:
            return []
        async with self._client.pipeline(transaction=False) as pipe:
            for article in candidates:
                await self._script(
                    keys=[self._keys.seen(article.id), self._keys.articles],
                    args=[self.retention_seconds, article.model_dump_json()],
                    client=pipe,
                )
            results = await pipe.execute()
        return [a for a, added in zip(candidates, results, strict=True) if added]
