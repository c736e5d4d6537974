"""The health server against the real Redis: what `/healthz`, `/readyz` and `/metrics` answer."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from services.common.health import HealthBindError, HealthServer, Probe
from services.common.keys import Keys

pytestmark = pytest.mark.integration


@pytest.fixture
async def served(redis_client: aioredis.Redis, keys: Keys) -> AsyncIterator[tuple[Probe, str]]:
    """A started health server on a free loopback port; yields its probe and base URL."""
    probe = Probe(redis_client, keys)
    server = HealthServer(port=0)
    port = server.bind()
    await server.start(probe)
    yield probe, f"http://127.0.0.1:{port}"
    await server.stop()


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_alive_then_ready_once_started(served: tuple[Probe, str]) -> None:
    probe, base = served
    async with httpx.AsyncClient(base_url=base) as http:
        assert (await http.get("/healthz")).status_code == 200
        starting = await http.get("/readyz")
        assert starting.status_code == 503 and starting.json()["reason"] == "starting"
        probe.mark_started()
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
        assert (await http.get("/nope")).status_code == 404


async def test_not_ready_when_a_group_is_missing(
    served: tuple[Probe, str], redis_client: aioredis.Redis, keys: Keys
) -> None:
    probe, base = served
    probe.mark_started()
    await redis_client.xgroup_destroy(keys.matches, keys.notifier_group)
    async with httpx.AsyncClient(base_url=base) as http:
        answer = await http.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["reason"] == f"consumer group notifier missing on {keys.matches}"


async def test_not_ready_and_metrics_still_served_when_redis_is_away(keys: Keys) -> None:
    unreachable = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    probe = Probe(unreachable, keys)
    probe.mark_started()
    server = HealthServer(port=0)
    port = server.bind()
    await server.start(probe)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            ready = await http.get("/readyz")
            metrics = await http.get("/metrics")
    finally:
        await server.stop()
        await unreachable.aclose()
    assert ready.status_code == 503 and ready.json()["reason"].startswith("redis: ")
    assert metrics.status_code == 200
    assert _samples(metrics.text)[("wirewatch_redis_up", frozenset())] == 0.0


async def test_metrics_show_stream_length_lag_and_pending(
    served: tuple[Probe, str], redis_client: aioredis.Redis, keys: Keys
) -> None:
    _, base = served
    for i in range(5):
        await redis_client.xadd(keys.articles, {"__data__": f'{{"id": "{i}"}}'})
    # The matcher group reads two and acks one: lag 3, pending 1.
    read = await redis_client.xreadgroup(keys.matcher_group, "probe", {keys.articles: ">"}, count=2)
    await redis_client.xack(keys.articles, keys.matcher_group, read[0][1][0][0])
    async with httpx.AsyncClient(base_url=base) as http:
        answer = await http.get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain")
    samples = _samples(answer.text)
    articles = frozenset({("stream", keys.articles), ("group", keys.matcher_group)})
    assert samples[("wirewatch_stream_length", frozenset({("stream", keys.articles)}))] == 5.0
    assert samples[("wirewatch_stream_lag", articles)] == 3.0
    assert samples[("wirewatch_stream_pending", articles)] == 1.0
    assert samples[("wirewatch_redis_up", frozenset())] == 1.0


async def test_a_taken_port_fails_at_bind() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(HealthBindError) as info:
            HealthServer(port=port).bind()
    assert f"127.0.0.1:{port}" in str(info.value.strerror)


async def test_port_zero_binds_a_free_loopback_port() -> None:
    server = HealthServer(port=0)
    port = server.bind()
    try:
        assert port > 0
    finally:
        await server.stop()
