"""Shared fixtures: the real Redis on 127.0.0.1:6379 (a private, flushed db per test run and a
fresh key prefix per test), the corpus location, and the path of the project."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from services.common.keys import Keys
from services.common.redis import ensure_groups
from services.common.runtime import Runtime
from services.common.settings import Settings
from tests.support.receiver import receiver  # noqa: F401  (fixture for every test)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
LEASE_KEY = "wirewatch-test-run-lease"


def corpus_path(*parts: str) -> Path:
    """A corpus file or folder; skips (or fails in CI) when the corpus is absent."""
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        if os.environ.get("WIREWATCH_REQUIRE_CORPUS") == "1":
            pytest.fail(f"corpus missing at {path} but WIREWATCH_REQUIRE_CORPUS=1")
        pytest.skip(f"corpus not found at {path} (put ../shared/corpus beside the project)")
    return path


@pytest.fixture(scope="session")
def redis_db() -> Iterator[int]:
    """Lease a database number no other concurrent test run uses, flush it, flush it again after."""
    try:
        probe = redis.Redis(REDIS_HOST, REDIS_PORT, socket_connect_timeout=2)
        probe.ping()
    except redis.RedisError as exc:
        pytest.fail(f"integration tests need Redis on {REDIS_HOST}:{REDIS_PORT}: {exc}")
    token = uuid.uuid4().hex
    for db in range(15, 0, -1):
        client = redis.Redis(REDIS_HOST, REDIS_PORT, db=db)
        if client.set(LEASE_KEY, token, nx=True, ex=3600):
            client.flushdb()
            client.set(LEASE_KEY, token, ex=3600)
            yield db
            client.flushdb()
            return
    pytest.fail("no free Redis database 1-15 for this test run (stale leases? FLUSHALL)")


@pytest.fixture
def redis_url(redis_db: int) -> str:
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}"


@pytest.fixture
async def keys(redis_url: str) -> AsyncIterator[Keys]:
    """A fresh key prefix per test, with both consumer groups created."""
    k = Keys(f"t-{uuid.uuid4().hex[:10]}")
    client = aioredis.Redis.from_url(redis_url)
    await ensure_groups(client, k)
    yield k
    async for key in client.scan_iter(match=f"{k.prefix}:*", count=500):
        await client.delete(key)
    await client.aclose()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@contextlib.asynccontextmanager
async def open_runtime(redis_url: str, keys: Keys, **settings: Any) -> AsyncIterator[Runtime]:
    """A Runtime on the test Redis and key prefix, with these settings (no .env file read)."""
    full = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=redis_url,
        key_prefix=keys.prefix,
        **settings,
    )
    runtime = await Runtime.open(full)
    try:
        yield runtime
    finally:
        await runtime.close()
