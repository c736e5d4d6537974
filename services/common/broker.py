"""FastStream's Redis broker and our consumer-group subscriptions on it.

Every grouped stream gets two subscribers (STACK-NOTES): a reader of new entries (`>`, in
batches, ack after the handler returns) and a reclaimer that XAUTOCLAIMs entries left pending
longer than `claim_idle` by a consumer that died, so nothing stays stuck.

A poison entry (one whose handler raises every time) is retried by the reclaimer, one entry at
a time, and after `max_deliveries` tries it is parked in the dead-letter stream with the last
error it raised, so the group goes on (`wirewatch dead` lists them).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import RedisBatchStreamMessage, RedisStreamMessage
from faststream.redis.prometheus import RedisPrometheusMiddleware

from services.common.deadletter import dead_letter
from services.common.keys import Keys
from services.common.metrics import DEAD_LETTERS, REGISTRY
from services.common.redis import as_text

BATCH_SIZE = 50
BROKER_LOGGER = logging.getLogger("wirewatch.broker")
GRACEFUL_SECONDS = 4.0  # on stop, how long an in-flight batch may finish before it is cancelled
POLL_MS = 100


def make_broker(url: str) -> RedisBroker:
    """A broker with a bounded, reconnecting connection pool (logs stay secret-free: no URL).

    FastStream's Prometheus middleware counts received messages, sizes and handler time per
    stream into our one registry, so `/metrics` shows them next to ours (metrics it already
    registered are reused, so several brokers in one process, as in tests, are fine).
    """
    return RedisBroker(
        url,
        max_connections=200,
        socket_connect_timeout=5,
        health_check_interval=15,
        log_level=logging.DEBUG,  # per-message logs only when debugging
        logger=BROKER_LOGGER,  # through our redacting handler, not FastStream's own
        middlewares=[RedisPrometheusMiddleware(registry=REGISTRY, app_name="wirewatch")],
        graceful_timeout=GRACEFUL_SECONDS,  # SIGTERM: finish in flight, or leave it pending
    )


def reader_sub(stream: str, *, group: str, consumer: str) -> StreamSub:
    """The group reader's settings: new entries only, in bounded batches (STACK-NOTES).

    Shared with the AsyncAPI document so the published contract shows what really runs.
    """
    return StreamSub(
        stream,
        group=group,
        consumer=consumer,
        batch=True,
        max_records=BATCH_SIZE,
        polling_interval=POLL_MS,
        last_id=">",
    )


def consumer_name(service: str) -> str:
    """Unique per process so a restarted replica is a new consumer (its old entries get claimed)."""
    return f"{service}-{socket.gethostname()}-{os.getpid()}"


FAILURE_TTL_SECONDS = 7 * 86400


@dataclass(frozen=True)
class PoisonPolicy:
    """How many tries an entry gets, and where its failures are remembered and parked."""

    client: aioredis.Redis
    keys: Keys
    source: str
    max_deliveries: int

    async def remember(self, entry_ids: Sequence[bytes | str], exc: BaseException) -> None:
        """Keep the error for the dead-letter reason (the retry may run in another replica)."""
        reason = f"{type(exc).__name__}: {exc}"[:1000]
        key = self.keys.failures(self.source)
        async with self.client.pipeline(transaction=False) as pipe:
            for entry_id in entry_ids:
                pipe.hset(key, as_text(entry_id), reason)
            pipe.expire(key, FAILURE_TTL_SECONDS)
            await pipe.execute()

    async def park(self, entry_id: str, payload: Any, tries: int) -> None:
        """Move the entry to the dead-letter stream; the caller's return acks it off the group."""
        key = self.keys.failures(self.source)
        last = await self.client.hget(key, entry_id)
        cause = as_text(last) if last else "no error recorded (its consumer died while handling it)"
        await dead_letter(
            self.client,
            self.keys,
            source=self.source,
            payload=payload,
            reason=f"gave up after {tries - 1} tries: {cause}",
        )
        await self.client.hdel(key, entry_id)
        DEAD_LETTERS.labels(source=self.source).inc()


def subscribe_group(
    broker: RedisBroker,
    *,
    stream: str,
    group: str,
    consumer: str,
    claim_idle_seconds: float,
    handle_batch: Callable[[list[dict[str, Any]]], Awaitable[None]],
    poison: PoisonPolicy | None = None,
) -> None:
    """Register reader and reclaimer on one group, both calling `handle_batch` with raw payloads."""

    async def read(messages: list[dict[str, Any]], msg: RedisBatchStreamMessage) -> None:
        try:
            await handle_batch(messages)
        except Exception as exc:
            if poison is not None:
                await poison.remember(msg.raw_message["message_ids"], exc)
            raise  # left pending: the reclaimer retries it, one entry at a time

    async def reclaim(message: dict[str, Any], msg: RedisStreamMessage) -> None:
        entry_id = as_text(msg.raw_message["message_ids"][0])
        if poison is not None:
            tries = await msg.get_delivery_count()
            if tries > poison.max_deliveries:
                await poison.park(entry_id, message, tries)
                return
        try:
            await handle_batch([message])
        except Exception as exc:
            if poison is not None:
                await poison.remember([entry_id], exc)
            raise

    broker.subscriber(stream=reader_sub(stream, group=group, consumer=consumer))(read)
    broker.subscriber(
        stream=StreamSub(
            stream,
            group=group,
            consumer=consumer,
            min_idle_time=int(claim_idle_seconds * 1000),
            polling_interval=int(min(claim_idle_seconds, 5) * 1000),
        )
    )(reclaim)
