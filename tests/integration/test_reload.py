"""Hot reload against a real folder and real Redis: edit a rule file and the new rule is live;
break it and the last good rules stay live, with the problem logged (DESIGN §1, §5)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from services.common.keys import Keys
from services.common.metrics import CONFIG_RELOAD_ERRORS
from services.matcher.reload import load_rule_set, watch_rules
from services.matcher.service import MatcherService

pytestmark = pytest.mark.integration
POLL = 0.05

FEEDS = "feeds:\n  - id: wire\n    url: wire.xml\n"
RULES = "rules:\n  - id: korea\n    query: North Korea\n"


def _article(n: int, title: str) -> dict[str, object]:
    return {"id": f"https://news.example.org/{n}", "feed": "wire", "title": title}


async def _matched(client: aioredis.Redis, keys: Keys) -> list[list[str]]:
    entries = await client.xrange(keys.matches)
    return [json.loads(fields[b"__data__"])["rules"] for _, fields in entries]


def _write(path: Path, text: str) -> None:
    """Write and move the modification time on, as a later save would."""
    path.write_text(text, encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


async def _wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(POLL)


async def test_edit_then_break_a_rule_file(
    tmp_path: Path, redis_client: aioredis.Redis, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "feeds.yaml").write_text(FEEDS, encoding="utf-8")
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(RULES, encoding="utf-8")
    rule_set, problems = load_rule_set(tmp_path)
    assert rule_set is not None and problems == []
    service = MatcherService(redis_client, keys, rule_set)
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_rules(service, tmp_path, stop, poll_seconds=POLL))
    try:
        await service.handle_batch([_article(1, "Seoul and North Korea talk; markets rally")])
        assert await _matched(redis_client, keys) == [["korea"]]

        _write(rules_file, RULES + "  - id: markets\n    query: market*\n")
        await _wait_for(lambda: len(service.rules) == 2)
        await service.handle_batch([_article(2, "North Korea fires missile; markets fall")])
        assert (await _matched(redis_client, keys))[-1] == ["korea", "markets"]

        rejected = CONFIG_RELOAD_ERRORS._value.get()
        with caplog.at_level(logging.ERROR, logger="services.matcher.reload"):
            _write(rules_file, RULES + "  - id: markets\n    query: market* AND (\n")
            await _wait_for(lambda: CONFIG_RELOAD_ERRORS._value.get() == rejected + 1)
        assert [r.id for r in service.rules] == ["korea", "markets"]  # the last good rules
        await service.handle_batch([_article(3, "Markets: North Korea")])
        assert (await _matched(redis_client, keys))[-1] == ["korea", "markets"]
        logged = [record.getMessage() for record in caplog.records]
        assert any(m.startswith("rules.reload_rejected") and "errors=1" in m for m in logged)
        assert (
            f"rules.problem {rules_file}:5:24: rule markets: unbalanced parenthesis: this ( is never closed; add a )"
            in logged
        )

        _write(rules_file, RULES)  # fixed again: back to one rule
        await _wait_for(lambda: len(service.rules) == 1)
    finally:
        stop.set()
        await asyncio.wait_for(watcher, 5)
