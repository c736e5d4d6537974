"""The notifier against real Redis and a real webhook receiver: delivered once, kept on failure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from services.common.config import SubscriptionConfig
from services.common.keys import Keys
from services.common.models import Article, Match
from services.common.secrets import SecretUrl
from services.notifier.pipeline import Notifier
from services.notifier.schedule import Schedule, parse_schedule
from services.notifier.subscriptions import Subscription
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.integration
NOW = datetime(2024, 6, 19, 9, 0, tzinfo=UTC)


def _article(n: int) -> Article:
    return Article(
        id=f"https://news.example.org/story-{n}",
        feed="global-wire",
        title=f"Story number {n} about Pyongyang",
        summary="Summary text",
        link=f"https://news.example.org/story-{n}",
        published=NOW - timedelta(minutes=n),
        outlet="Global Wire",
    )


def _notifier(client: aioredis.Redis, keys: Keys, url: str, digest: str = "immediate") -> Notifier:
    schedule = parse_schedule(digest)
    assert isinstance(schedule, Schedule)
    sub = Subscription(
        SubscriptionConfig("desk", ("korea",), (SecretUrl(url),), digest), ("korea",), schedule
    )
    return Notifier(
        client,
        keys,
        [sub],
        {"korea": "Korea"},
        immediate_window=0.0,
        ledger_retention=86400,
        clock=lambda: NOW,
    )


async def _file(notifier: Notifier, articles: list[Article]) -> None:
    await notifier.handle_batch(
        [
            Match(article=a, rules=["korea"], matched_at=NOW).model_dump(mode="json")
            for a in articles
        ]
    )


async def test_delivers_each_article_once(
    redis_client: aioredis.Redis, keys: Keys, receiver: WebhookReceiver
) -> None:
    notifier = _notifier(redis_client, keys, receiver.url)
    await _file(notifier, [_article(1), _article(2)])
    outcomes = await notifier.send_due(NOW)
    assert [o.ok for o in outcomes] == [True]
    assert len(receiver.posts) == 1
    assert "https://news.example.org/story-1" in receiver.messages()[0]
    assert "https://news.example.org/story-2" in receiver.messages()[0]

    await _file(notifier, [_article(1), _article(2)])  # a replayed match
    assert await notifier.send_due(NOW + timedelta(seconds=10)) == []
    assert len(receiver.posts) == 1


async def test_outage_keeps_items_then_delivers_once(
    redis_client: aioredis.Redis, keys: Keys, receiver: WebhookReceiver
) -> None:
    notifier = _notifier(redis_client, keys, receiver.url)
    receiver.failing = True
    await _file(notifier, [_article(3)])
    outcomes = await notifier.send_due(NOW, force_immediate=True)
    assert [o.ok for o in outcomes] == [False]
    assert "desk#1" in outcomes[0].error and str(receiver.port) in outcomes[0].error

    receiver.failing = False
    await _file(notifier, [_article(4)])
    outcomes = await notifier.send_due(NOW + timedelta(seconds=1), force_immediate=True)
    assert [o.ok for o in outcomes] == [True]
    assert len(receiver.posts) == 1
    message = receiver.messages()[0]
    assert "story-3" in message and "story-4" in message
    assert await notifier.send_due(NOW + timedelta(hours=1), force_immediate=True) == []


async def test_failed_target_backs_off_without_force(
    redis_client: aioredis.Redis, keys: Keys, receiver: WebhookReceiver
) -> None:
    notifier = _notifier(redis_client, keys, receiver.url)
    receiver.failing = True
    await _file(notifier, [_article(5)])
    assert [o.ok for o in await notifier.send_due(NOW)] == [False]
    receiver.failing = False
    assert await notifier.send_due(NOW + timedelta(seconds=1)) == []  # still backing off
    assert [o.ok for o in await notifier.send_due(NOW + timedelta(seconds=6))] == [True]
    assert len(receiver.posts) == 1
