"""The seen-set: publish each article once across all feeds, replicas and restarts.

Marking an id as seen and appending it to `wirewatch:articles` happen in one Lua script, which
Redis runs atomically (and, with `appendfsync always`, persists as one unit): a crash can never
leave an article marked seen but not published, nor published twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from services.common.keys import Keys
from services.common.models import Article

_PUBLISH_IF_NEW = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[2], '*', '__data__', ARGV[2])
  return 1
end
return 0
"""


class SeenSet:
    """Article ids published within the retention window (one expiring key per id)."""

    def __init__(self, client: aioredis.Redis, keys: Keys, retention_seconds: int) -> None:
        self._client = client
        self._keys = keys
        self._retention = max(1, int(retention_seconds))
        self._script = client.register_script(_PUBLISH_IF_NEW)

    async def publish_new(self, articles: Sequence[Article]) -> list[Article]:
        """XADD the articles not seen before; return those that were new."""
        if not articles:
            return []
        async with self._client.pipeline(transaction=False) as pipe:
            for article in articles:
                await self._script(
                    keys=[self._keys.seen(article.id), self._keys.articles],
                    args=[self._retention, article.model_dump_json()],
                    client=pipe,
                )
            results = await pipe.execute()
        return [a for a, added in zip(articles, results, strict=True) if added]
