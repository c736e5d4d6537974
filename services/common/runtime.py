"""What every service needs at run time: the Redis URL (embedded or external), a client, the
broker and the key names — started and stopped in one place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from faststream.redis import RedisBroker

from services.common.broker import PoisonPolicy, consumer_name, make_broker, subscribe_group
from services.common.embedded import EmbeddedEngine
from services.common.keys import Keys
from services.common.redis import check_reachable, ensure_groups, make_client, redact_url
from services.common.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Connections shared by the services in one process."""

    settings: Settings
    keys: Keys
    url: str
    client: aioredis.Redis
    broker: RedisBroker
    engine: EmbeddedEngine | None = field(default=None)

    @classmethod
    async def open(cls, settings: Settings) -> Runtime:
        """Start the embedded engine when no external Redis is set; check Redis answers; create groups."""
        engine: EmbeddedEngine | None = None
        url = settings.redis_url_value()
        if url is None:
            engine = EmbeddedEngine(settings.data_dir)
            url = engine.start()
            log.info("engine.started data_dir=%s", engine.data_dir)
        client = make_client(url)
        try:
            await check_reachable(client, url)
            keys = Keys(settings.key_prefix)
            await ensure_groups(client, keys)
        except BaseException:
            await client.aclose()
            if engine is not None:
                engine.stop()
            raise
        log.info("redis.connected url=%s", redact_url(url))
        return cls(settings, keys, url, client, make_broker(url), engine)

    def consume(
        self,
        *,
        stream: str,
        group: str,
        service: str,
        source: str,
        handle_batch: Callable[[list[dict[str, Any]]], Awaitable[None]],
    ) -> None:
        """Put a service's handler on its consumer group, with this process's consumer name,
        the configured claim time and poison policy (`source` names the dead letters)."""
        subscribe_group(
            self.broker,
            stream=stream,
            group=group,
            consumer=consumer_name(service),
            claim_idle_seconds=self.settings.claim_idle,
            handle_batch=handle_batch,
            poison=PoisonPolicy(self.client, self.keys, source, self.settings.max_deliveries),
        )

    async def close(self) -> None:
        """Stop consuming first, then let cancelled reads unwind, then stop the engine."""
        await stop_consuming(self.broker)
        await self.broker.stop()
        await self.client.aclose()
        if self.engine is not None:
            await asyncio.to_thread(self.engine.stop)


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep for a loop tick, waking at once when the service is asked to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def stop_consuming(broker: RedisBroker) -> None:
    """Stop every subscriber and wait for its read tasks to finish.

    FastStream's `broker.stop()` cancels the read tasks without awaiting them and then closes the
    pool, so an in-flight XREADGROUP fails with "connection closed" and is logged as an error.
    All subscribers stop at once: each stops reading, gives its in-flight batch up to the
    broker's graceful timeout to finish (else cancels it, leaving it pending for a reclaimer),
    so shutdown takes one graceful timeout at most, not one per subscriber.
    """
    await asyncio.gather(*(_stop_subscriber(s) for s in broker.subscribers))


async def _stop_subscriber(subscriber: Any) -> None:
    tasks = list(getattr(subscriber, "tasks", ()))
    await subscriber.stop()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
