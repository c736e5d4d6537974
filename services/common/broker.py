"""FastStream's Redis broker and our consumer-group subscriptions on it.

Every grouped stream gets two subscribers (STACK-NOTES): a reader of new entries (`>`, in
batches, ack after the handler returns) and a reclaimer that XAUTOCLAIMs entries left pending
longer than `claim_idle` by a consumer that died, so nothing stays stuck.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from faststream.redis import RedisBroker, StreamSub

BATCH_SIZE = 50
BROKER_LOGGER = logging.getLogger("wirewatch.broker")
POLL_MS = 100


def make_broker(url: str) -> RedisBroker:
    """A broker with a bounded, reconnecting connection pool (logs stay secret-free: no URL)."""
    return RedisBroker(
        url,
        max_connections=200,
        socket_connect_timeout=5,
        health_check_interval=15,
        log_level=logging.DEBUG,  # per-message logs only when debugging
        logger=BROKER_LOGGER,  # through our redacting handler, not FastStream's own
    )


def consumer_name(service: str) -> str:
    """Unique per process so a restarted replica is a new consumer (its old entries get claimed)."""
    return f"{service}-{socket.gethostname()}-{os.getpid()}"


def subscribe_group(
    broker: RedisBroker,
    *,
    stream: str,
    group: str,
    consumer: str,
    claim_idle_seconds: float,
    handle_batch: Callable[[list[dict[str, Any]]], Awaitable[None]],
) -> None:
    """Register reader and reclaimer on one group, both calling `handle_batch` with raw payloads."""

    async def read(messages: list[dict[str, Any]]) -> None:
        await handle_batch(messages)

    async def reclaim(message: dict[str, Any]) -> None:
        await handle_batch([message])

    broker.subscriber(
        stream=StreamSub(
            stream,
            group=group,
            consumer=consumer,
            batch=True,
            max_records=BATCH_SIZE,
            polling_interval=POLL_MS,
            last_id=">",
        )
    )(read)
    broker.subscriber(
        stream=StreamSub(
            stream,
            group=group,
            consumer=consumer,
            min_idle_time=int(claim_idle_seconds * 1000),
            polling_interval=int(min(claim_idle_seconds, 5) * 1000),
        )
    )(reclaim)
