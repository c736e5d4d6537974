"""Connecting to Redis and preparing the streams: one client factory, groups created at start-up.

STACK-NOTES: a consumer group only sees entries added after it exists, so every service
creates every group (from id 0) before anything publishes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from services.common.keys import Keys


class RedisUnavailableError(RuntimeError):
    """Redis did not answer; the message names the (redacted) URL and what to check."""


def redact_url(url: str) -> str:
    """scheme://host:port/db only: a Redis URL may carry a password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def make_client(url: str) -> aioredis.Redis:
    """A client with bounded timeouts, so an outage shows as an error instead of a hang."""
    return aioredis.Redis.from_url(
        url,
        decode_responses=False,
        socket_connect_timeout=5,
        socket_timeout=10,
        health_check_interval=15,
        max_connections=200,
    )


async def check_reachable(client: aioredis.Redis, url: str, *, timeout: float = 5.0) -> None:
    """Fail fast, with one clear line, when the configured Redis does not answer."""
    try:
        await asyncio.wait_for(client.ping(), timeout)
    except (RedisError, OSError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        raise RedisUnavailableError(
            f"cannot reach Redis at {redact_url(url)} (WIREWATCH_REDIS_URL): {reason}; "
            "check that it runs and the URL is right, or unset WIREWATCH_REDIS_URL "
            "to use the embedded engine"
        ) from exc


async def ensure_groups(client: aioredis.Redis, keys: Keys) -> None:
    """Create both streams and their consumer groups from id 0 (idempotent)."""
    for stream, group in ((keys.articles, keys.matcher_group), (keys.matches, keys.notifier_group)):
        try:
            await client.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


@dataclass(frozen=True)
class GroupBacklog:
    """How far a consumer group is behind: entries not yet delivered, and delivered but unacked."""

    lag: int
    pending: int

    @property
    def idle(self) -> bool:
        return self.lag == 0 and self.pending == 0


async def group_backlog(client: aioredis.Redis, stream: str, group: str) -> GroupBacklog:
    """Read lag and pending of one group (Redis ≥ 7 reports lag in XINFO GROUPS)."""
    for info in await client.xinfo_groups(stream):
        name = info["name"]
        if (name.decode() if isinstance(name, bytes) else name) == group:
            lag = info.get("lag")
            if lag is None:  # lag unknown (e.g. after XDEL): count entries after last-delivered
                last = info["last-delivered-id"]
                lag = len(await client.xrange(stream, min=f"({as_text(last)}", count=10_000) or [])
            return GroupBacklog(lag=int(lag), pending=int(info["pending"]))
    return GroupBacklog(lag=0, pending=0)


def as_text(value: object) -> str:
    """Redis replies are bytes (decode_responses=False); text for display and JSON."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return "" if value is None else str(value)
