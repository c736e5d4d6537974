"""The process's HTTP face: `/healthz` (alive), `/readyz` (can work) and `/metrics` (Prometheus).

One tiny ASGI app served by uvicorn as a task on the service's own event loop, on
`WIREWATCH_HTTP_PORT` (0 picks a free port; the bound port is logged). `wirewatch run` serves one
for all three services. We bind the socket ourselves so a taken port is one clear error before
anything starts, and we drive uvicorn's startup/main loop/shutdown directly so it never installs
signal handlers of its own (the service owns SIGTERM).

`/metrics` renders the one registry (`services.common.metrics.REGISTRY`: our counters and
FastStream's middleware metrics) after refreshing the stream gauges from Redis, so lag, pending
and length are as of the scrape, whichever process serves it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import redis.asyncio as aioredis
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from services.common.keys import Keys
from services.common.metrics import (
    REDIS_UP,
    REGISTRY,
    STREAM_LAG,
    STREAM_LENGTH,
    STREAM_PENDING,
)
from services.common.redis import group_backlog

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
REDIS_TIMEOUT = 2.0  # a probe must answer before an orchestrator's healthcheck gives up
_PATHS = ["/healthz", "/readyz", "/metrics"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class HealthBindError(OSError):
    """The health port could not be bound (taken, or not allowed)."""


class Probe:
    """What the endpoints ask Redis, and whether the services in this process are up."""

    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys
        self._started = False

    def mark_started(self) -> None:
        """Config loaded, groups created, consumers running: from now on readiness is Redis's."""
        self._started = True

    def _groups(self) -> tuple[tuple[str, str], ...]:
        k = self._keys
        return ((k.articles, k.matcher_group), (k.matches, k.notifier_group))

    async def readiness(self) -> str | None:
        """None when ready, else why not (shown in the 503 body)."""
        if not self._started:
            return "starting"
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                await self._client.ping()
                for stream, group in self._groups():
                    names = {_text(g["name"]) for g in await self._client.xinfo_groups(stream)}
                    if group not in names:
                        return f"consumer group {group} missing on {stream}"
        except (RedisError, OSError, TimeoutError) as exc:
            return f"redis: {str(exc) or type(exc).__name__}"
        return None

    async def refresh_metrics(self) -> None:
        """Stream length, group lag and pending from Redis; on an outage keep the last values."""
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                for stream, group in self._groups():
                    backlog = await group_backlog(self._client, stream, group)
                    STREAM_LAG.labels(stream=stream, group=group).set(backlog.lag)
                    STREAM_PENDING.labels(stream=stream, group=group).set(backlog.pending)
                    STREAM_LENGTH.labels(stream=stream).set(await self._client.xlen(stream))
        except (RedisError, OSError, TimeoutError) as exc:
            REDIS_UP.set(0)
            log.debug("metrics.refresh_failed reason=%s", str(exc) or type(exc).__name__)
            return
        REDIS_UP.set(1)


def health_app(probe: Probe) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI app: three GET routes, nothing else (no lifespan, no docs)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/healthz":
            await _respond(send, 200, {"status": "alive"})
        elif path == "/readyz":
            reason = await probe.readiness()
            if reason is None:
                await _respond(send, 200, {"status": "ready"})
            else:
                await _respond(send, 503, {"status": "not ready", "reason": reason})
        elif path == "/metrics":
            await probe.refresh_metrics()
            body = generate_latest(REGISTRY)
            await _send(send, 200, CONTENT_TYPE_LATEST, body)
        else:
            await _respond(send, 404, {"status": "not found", "paths": _PATHS})

    return app


class HealthServer:
    """uvicorn on one socket, as a task of the running loop: `bind()`, `start(probe)`, `stop()`.

    Binding is separate and comes first, so a taken port fails before Redis or the engine is
    touched, with nothing else on stderr.
    """

    def __init__(self, *, port: int, host: str = LOOPBACK) -> None:
        self._host = host
        self._requested_port = port
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.port: int | None = None

    def bind(self) -> int:
        """Take the port (HealthBindError when taken or not allowed); return the bound port."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._requested_port))
            sock.listen(64)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise HealthBindError(
                exc.errno, f"{self._host}:{self._requested_port}: {exc.strerror or exc}"
            ) from exc
        self._socket = sock
        self.port = int(sock.getsockname()[1])
        return self.port

    async def start(self, probe: Probe) -> None:
        """Serve the endpoints on the bound socket until `stop()`."""
        if self._socket is None:
            self.bind()
        assert self._socket is not None
        config = uvicorn.Config(
            health_app(probe),
            log_config=None,  # uvicorn logs through our handler (redacting, JSON off a TTY)
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=1,
        )
        config.load()
        self._server = uvicorn.Server(config)
        self._server.lifespan = config.lifespan_class(config)
        await self._server.startup(sockets=[self._socket])
        self._task = asyncio.create_task(self._server.main_loop(), name="health-server")
        log.info("health.listening host=%s port=%d", self._host, self.port)

    async def stop(self) -> None:
        """Stop accepting, let open requests finish (bounded by uvicorn's graceful timeout)."""
        sockets = [self._socket] if self._socket is not None else []
        self._socket = None
        if self._server is None or self._task is None:
            for sock in sockets:
                sock.close()
            return
        self._server.should_exit = True
        await self._task
        await self._server.shutdown(sockets=sockets)
        self._server = self._task = None


async def _respond(send: Send, status: int, payload: dict[str, Any]) -> None:
    await _send(send, status, "application/json", json.dumps(payload).encode() + b"\n")


async def _send(send: Send, status: int, content_type: str, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
