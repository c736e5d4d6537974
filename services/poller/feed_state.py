"""Per-feed state kept in Redis: conditional-GET validators, body hash, schedule and health.

Kept in Redis (not memory) so any poller replica may pick up any feed and `wirewatch feeds`
can show every feed's health from outside the process. Stored as one JSON value per feed
(read by the claim and written by the finish script of `due.py`, on every poll); this module
owns its shape and the read side.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import redis.asyncio as aioredis

from services.common.keys import Keys

__all__ = ["BACKOFF", "ERROR", "NEVER_POLLED", "OK", "FeedState", "FeedStates"]

OK, ERROR, BACKOFF, NEVER_POLLED = "ok", "error", "backoff", "never polled"


@dataclass(frozen=True)
class FeedState:
    """What we remember about one feed between polls (times are ISO 8601 UTC, "" = never)."""

    url: str = ""  # the (redacted) URL the validators below belong to
    etag: str = ""
    last_modified: str = ""
    body_hash: str = ""
    parsed_at: str = ""  # last time a body was parsed and its articles' seen marks renewed
    last_poll: str = ""
    next_due: str = ""
    state: str = NEVER_POLLED  # ok | error | backoff | never polled
    http_status: str = ""
    new_items: int = 0
    consecutive_errors: int = 0
    last_error: str = ""
    last_error_at: str = ""
    note: str = ""  # something odd but handled, e.g. a wrong declared charset

    @classmethod
    def from_json(cls, raw: bytes | str | None) -> FeedState:
        """From the stored JSON; missing or unknown fields are ignored (older pollers)."""
        if not raw:
            return cls()
        try:
            values = json.loads(raw)
        except ValueError:
            return cls()
        if not isinstance(values, dict):
            return cls()
        known: dict[str, Any] = {
            k: v for k, v in values.items() if k in _TYPES and isinstance(v, _TYPES[k])
        }
        return cls(**known)

    def to_json(self) -> str:
        return json.dumps(vars(self), ensure_ascii=False, separators=(",", ":"))


_TYPES: dict[str, type] = {
    f.name: int if f.type in ("int", int) else str for f in fields(FeedState)
}


class FeedStates:
    """Reads feed states (the report, tests); one round trip for any number of feeds."""

    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys

    async def load(self, feed_id: str) -> FeedState:
        return (await self.load_many([feed_id]))[feed_id]

    async def load_many(self, feed_ids: Sequence[str]) -> dict[str, FeedState]:
        if not feed_ids:
            return {}
        answers = await self._client.mget([self._keys.feed_status(f) for f in feed_ids])
        return {f: FeedState.from_json(a) for f, a in zip(feed_ids, answers, strict=True)}
