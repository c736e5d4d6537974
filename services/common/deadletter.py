"""Parking messages that cannot be processed, with the reason, so the pipeline goes on."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from services.common.keys import Keys

log = logging.getLogger(__name__)


async def dead_letter(
    client: aioredis.Redis, keys: Keys, *, source: str, payload: Any, reason: str
) -> None:
    """XADD the payload and why it failed to `wirewatch:dead` (visible via `wirewatch dead`)."""
    body = payload if isinstance(payload, str) else json.dumps(payload, default=str)
    await client.xadd(
        keys.dead_letters,
        {
            "source": source,
            "reason": reason[:2000],
            "payload": body,
            "at": datetime.now(UTC).isoformat(),
        },
    )
    log.error("message.dead_lettered source=%s reason=%s", source, reason[:200])
