"""Malformed messages are parked with their reason, visible in `wirewatch dead`, and the batch goes on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from services.common.keys import Keys
from services.common.models import Article
from services.matcher.service import MatcherService

pytestmark = pytest.mark.integration
WIREWATCH = str(Path(sys.executable).parent / "wirewatch")


async def test_malformed_article_is_dead_lettered_and_listed(
    redis_client: aioredis.Redis, keys: Keys, redis_url: str, tmp_path: Path
) -> None:
    service = MatcherService(redis_client, keys, [])
    good = Article(id="https://x.example/1", feed="f", title="fine").model_dump(mode="json")
    await service.handle_batch([{"feed": "broken-feed", "title": "no id here"}, good])
    assert await redis_client.xlen(keys.dead_letters) == 1
    assert service.articles_seen == 1  # the good one was still evaluated

    env = {
        "WIREWATCH_REDIS_URL": redis_url,
        "WIREWATCH_KEY_PREFIX": keys.prefix,
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [WIREWATCH, "dead"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "broken-feed: no id here" in result.stdout
    assert "id" in result.stdout and "Field required" in result.stdout
    assert "1 message(s) in the dead-letter stream" in result.stdout
