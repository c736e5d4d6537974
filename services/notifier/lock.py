"""A short-lived Redis lock per subscription, so two notifier replicas never send the same
digest at once (each would pass the sent-ledger check before the other recorded it).

The lock expires on its own (`TTL`) when its holder dies, and is renewed while a long send is
under way. Release deletes it only when it is still ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.common.keys import Keys

__all__ = ["TTL", "SendLocks"]

log = logging.getLogger(__name__)

TTL = 15.0
"""Seconds a lock outlives a holder that died (renewed every TTL/3 while held)."""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class SendLocks:
    """`async with locks.hold(subscription, wait=...) as held:` — send only when `held`."""

    def __init__(self, client: aioredis.Redis, keys: Keys, ttl: float = TTL) -> None:
        self._client = client
        self._keys = keys
        self._ttl_ms = int(ttl * 1000)
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)

    @contextlib.asynccontextmanager
    async def hold(self, subscription: str, *, wait: float = 0.0) -> AsyncIterator[bool]:
        """Take the lock, waiting up to `wait` seconds for another holder; yields whether held."""
        key = self._keys.send_lock(subscription)
        token = uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while not await self._client.set(key, token, nx=True, px=self._ttl_ms):
            if loop.time() >= deadline:
                yield False
                return
            await asyncio.sleep(0.2)
        keeper = asyncio.create_task(self._keep(key, token))
        try:
            yield True
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            try:
                await self._release(keys=[key], args=[token])
            except RedisError as exc:  # it expires on its own
                log.warning("lock.release_failed subscription=%s error=%s", subscription, exc)

    async def _keep(self, key: str, token: str) -> None:
        while True:
            await asyncio.sleep(self._ttl_ms / 3000)
            try:
                await self._renew(keys=[key], args=[token, self._ttl_ms])
            except RedisError as exc:
                log.warning("lock.renew_failed error=%s", exc)
