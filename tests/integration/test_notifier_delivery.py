"""The notifier against real Redis and real webhook receivers: what a subscriber would notice.

Delivered once, kept on failure, a failing target never holds up the others, a split digest
whose second part fails re-sends only the rest, a late article of a delivered story is not
sent, bursts are coalesced, schedules fire on their grid, two replicas never double-send.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from prometheus_client import generate_latest

from services.common.config import SubscriptionConfig
from services.common.keys import Keys
from services.common.metrics import REGISTRY
from services.common.models import Article, Match
from services.common.secrets import SecretUrl
from services.matcher.query import Query, parse_query
from services.notifier.pipeline import Notifier
from services.notifier.schedule import Schedule, parse_schedule
from services.notifier.subscriptions import Subscription
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.integration
NOW = datetime(2024, 6, 19, 9, 0, tzinfo=UTC)
LINK_RE = re.compile(r"\]\((https://[^)\s]+)\)")


def _article(n: int, **fields: object) -> Article:
    values: dict[str, object] = {
        "id": f"https://news.example.org/story-{n}",
        "feed": "global-wire",
        "title": f"Story number {n} about Pyongyang",
        "summary": "Summary text",
        "link": f"https://news.example.org/story-{n}",
        "published": NOW - timedelta(minutes=n),
        "outlet": "Global Wire",
    }
    values.update(fields)
    return Article.model_validate(values)


def _sub(
    urls: Sequence[str],
    digest: str = "immediate",
    max_items: int | None = None,
    sub_id: str = "desk",
) -> Subscription:
    schedule = parse_schedule(digest)
    assert isinstance(schedule, Schedule)
    config = SubscriptionConfig(
        sub_id, ("korea",), tuple(SecretUrl(u) for u in urls), digest, max_items
    )
    return Subscription(config, ("korea",), schedule)


def _notifier(
    client: aioredis.Redis,
    keys: Keys,
    urls: Sequence[str] | Subscription,
    digest: str = "immediate",
    *,
    window: float = 0.0,
    max_items: int | None = None,
    queries: dict[str, Query] | None = None,
    clock: datetime = NOW,
) -> Notifier:
    sub = urls if isinstance(urls, Subscription) else _sub(urls, digest, max_items)
    return Notifier(
        client,
        keys,
        [sub],
        {"korea": "Korea"},
        immediate_window=window,
        ledger_retention=86400,
        rule_queries=queries,
        clock=lambda: clock,
    )


async def _file(notifier: Notifier, articles: list[Article]) -> None:
    await notifier.handle_batch(
        [
            Match(article=a, rules=["korea"], matched_at=NOW).model_dump(mode="json")
            for a in articles
        ]
    )


def _links(receiver: WebhookReceiver) -> list[str]:
    return [link for message in receiver.messages() for link in LINK_RE.findall(message)]


# --- once, and kept on failure ------------------------------------------------------------


async def test_delivers_each_article_once(
    redis_client: aioredis.Redis, keys: Keys, receiver: WebhookReceiver
) -> None:
    notifier = _notifier(redis_client, keys, [receiver.url])
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
    notifier = _notifier(redis_client, keys, [receiver.url])
    receiver.failing = True
    await _file(notifier, [_article(3)])
    outcomes = await notifier.send_due(NOW, force_immediate=True)
    assert [o.ok for o in outcomes] == [False]
    assert outcomes[0].target == "desk#1"
    assert outcomes[0].error.startswith(f"json://127.0.0.1:{receiver.port}: ")

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
    notifier = _notifier(redis_client, keys, [receiver.url])
    receiver.failing = True
    await _file(notifier, [_article(5)])
    assert [o.ok for o in await notifier.send_due(NOW)] == [False]
    receiver.failing = False
    assert await notifier.send_due(NOW + timedelta(seconds=1)) == []  # still backing off
    assert [o.ok for o in await notifier.send_due(NOW + timedelta(seconds=6))] == [True]
    assert len(receiver.posts) == 1


async def test_a_down_target_does_not_hold_up_the_others(
    redis_client: aioredis.Redis, keys: Keys, receiver: WebhookReceiver
) -> None:
    down = WebhookReceiver()
    down.stop()  # connection refused
    try:
        notifier = _notifier(redis_client, keys, [down.url, receiver.url])
        await _file(notifier, [_article(1)])
        outcomes = await notifier.send_due(NOW)
        assert [(o.target, o.ok) for o in outcomes] == [("desk#1", False), ("desk#2", True)]
        assert _links(receiver) == ["https://news.example.org/story-1"]
        assert len(await notifier.pending.items("desk")) == 1  # kept for desk#1

        await _file(notifier, [_article(2)])  # the healthy target goes on getting news
        await notifier.send_due(NOW + timedelta(seconds=1))
        assert _links(receiver)[1:] == ["https://news.example.org/story-2"]

        down.start()  # back on the same port: the next retry catches up with everything
        outcomes = await notifier.send_due(NOW + timedelta(minutes=1))
        assert [(o.target, o.ok) for o in outcomes] == [("desk#1", True)]
        assert sorted(_links(down)) == [f"https://news.example.org/story-{n}" for n in (1, 2)]
        assert await notifier.pending.items("desk") == []
    finally:
        down.close()


# --- multi-part chat digests ---------------------------------------------------------------


async def test_split_digest_resends_only_the_parts_not_accepted(
    redis_client: aioredis.Redis, keys: Keys, receiver: WebhookReceiver
) -> None:
    notifier = _notifier(redis_client, keys, [receiver.url])
    long_summary = "Officials said the talks would continue next week. " * 5
    articles = [_article(n, summary=long_summary) for n in range(1, 201)]
    await _file(notifier, articles)
    receiver.accept_only(1)  # part 1 goes through, part 2 is refused

    first = await notifier.send_due(NOW)
    assert [o.ok for o in first] == [False]
    accepted = _links(receiver)
    assert len(receiver.posts) == 1 and first[0].items == len(accepted) > 0
    assert "(1/" in str(receiver.posts[0]["title"])

    receiver.accept_only(None)
    second = await notifier.send_due(NOW + timedelta(seconds=1), force_immediate=True)
    assert [o.ok for o in second] == [True]
    everything = Counter(_links(receiver))
    assert set(everything) == {a.link for a in articles}
    assert max(everything.values()) == 1, "part 1 must not be sent again"
    assert await notifier.pending.items("desk") == []


# --- same story, late ------------------------------------------------------------------------


async def test_late_article_of_a_delivered_story_is_not_sent_again(
    redis_client: aioredis.Redis, keys: Keys, receiver: WebhookReceiver
) -> None:
    other = WebhookReceiver()
    other.failing = True
    try:
        notifier = _notifier(redis_client, keys, [receiver.url, other.url])
        first = _article(
            1, title="Putin arrives in Pyongyang for rare visit to North Korea", feed="reuters"
        )
        late = _article(
            2,
            title="Putin arrives in North Korea for rare visit as Moscow deepens ties",
            feed="ap",
            outlet="AP",
            published=NOW + timedelta(hours=3),
        )
        await _file(notifier, [first])
        await notifier.send_due(NOW)  # desk#1 gets the story, desk#2 is down
        other.failing = False
        await _file(notifier, [late])
        outcomes = await notifier.send_due(NOW + timedelta(hours=3), force_immediate=True)

        assert [(o.target, o.ok) for o in outcomes] == [("desk#2", True)]
        assert len(receiver.posts) == 1, "desk#1 already has this story"
        assert _links(other) == [first.link]  # one item: the story, with the other outlet
        assert "also: AP" in other.messages()[0]
        assert await notifier.pending.items("desk") == []
    finally:
        other.close()


# --- immediate: bursts ---------------------------------------------------------------------


async def test_burst_is_coalesced_into_one_message(
    redis_client: aioredis.Redis, keys: Keys, receiver: WebhookReceiver
) -> None:
    early = _notifier(redis_client, keys, [receiver.url], window=2.0, clock=NOW)
    later = _notifier(
        redis_client, keys, [receiver.url], window=2.0, clock=NOW + timedelta(seconds=1)
    )
    await _file(early, [_article(1)])
    assert await early.send_due(NOW + timedelta(seconds=1)) == []  # the window is still open
    await _file(later, [_article(2)])
    assert [o.ok for o in await early.send_due(NOW + timedelta(seconds=2))] == [True]
    assert sorted(_links(receiver)) == [f"https://news.example.org/story-{n}" for n in (1, 2)]


async def test_item_filed_during_a_send_keeps_its_own_burst_mark(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    notifier = _notifier(redis_client, keys, ["json://127.0.0.1:9/never"], window=2.0)
    await _file(notifier, [_article(1)])
    attempted = {a.article.id for a in await notifier.pending.items("desk")}
    late = _notifier(
        redis_client, keys, ["json://127.0.0.1:9/never"], clock=NOW + timedelta(seconds=3)
    )
    await _file(late, [_article(2)])  # filed while the first burst was being sent
    await notifier.pending.settle("desk", attempted, attempted)
    marks = await notifier.pending.marks()
    assert marks["desk"] == (NOW + timedelta(seconds=3)).timestamp()
    assert [i.article.id for i in await notifier.pending.items("desk")] == [_article(2).id]


# --- schedules -------------------------------------------------------------------------------


async def test_every_is_anchored_on_the_previous_due_time(
    redis_client: aioredis.Redis, keys: Keys, receiver: WebhookReceiver
) -> None:
    notifier = _notifier(redis_client, keys, [receiver.url], "every 30m")
    await _file(notifier, [_article(1)])
    assert await notifier.send_due(NOW) == []  # first seen: due 30 min later, not now
    assert await notifier.send_due(NOW + timedelta(minutes=29)) == []
    assert [o.ok for o in await notifier.send_due(NOW + timedelta(minutes=31))] == [True]
    stored = await notifier.due_times.get("desk")
    assert stored is not None and stored.due == NOW + timedelta(minutes=60)

    await _file(notifier, [_article(2)])
    assert [o.ok for o in await notifier.send_due(NOW + timedelta(hours=3, minutes=5))] == [True]
    stored = await notifier.due_times.get("desk")  # missed slots skipped, grid kept
    assert stored is not None and stored.due == NOW + timedelta(hours=3, minutes=30)
    assert len(receiver.posts) == 2


async def test_daily_first_due_is_the_first_occurrence_after_first_seen(
    redis_client: aioredis.Redis, keys: Keys, receiver: WebhookReceiver
) -> None:
    notifier = _notifier(redis_client, keys, [receiver.url], "daily 08:00 Asia/Seoul")
    await _file(notifier, [_article(1)])
    assert await notifier.send_due(NOW) == []  # 09:00 UTC = 18:00 in Seoul
    stored = await notifier.due_times.get("desk")
    assert stored is not None and stored.due == datetime(2024, 6, 19, 23, 0, tzinfo=UTC)
    assert await notifier.send_due(datetime(2024, 6, 19, 22, 59, tzinfo=UTC)) == []
    assert len(await notifier.send_due(datetime(2024, 6, 19, 23, 0, 1, tzinfo=UTC))) == 1
    assert len(receiver.posts) == 1

    hourly = _notifier(redis_client, keys, [receiver.url], "hourly")  # the digest: line edited
    await hourly.send_due(datetime(2024, 6, 20, 0, 10, tzinfo=UTC))
    stored = await hourly.due_times.get("desk")
    assert stored is not None and stored.due == datetime(2024, 6, 20, 1, 0, tzinfo=UTC)


async def test_flush_sends_a_scheduled_digest_now_and_keeps_the_schedule(
    redis_client: aioredis.Redis, keys: Keys, receiver: WebhookReceiver
) -> None:
    notifier = _notifier(redis_client, keys, [receiver.url], "weekly mon 09:00 UTC")
    await _file(notifier, [_article(1)])
    assert await notifier.send_due(NOW, force_immediate=True) == []  # --once alone: not due
    due_before = await notifier.due_times.get("desk")
    outcomes = await notifier.send_due(NOW, force_immediate=True, flush=True)
    assert [o.ok for o in outcomes] == [True]
    assert await notifier.due_times.get("desk") == due_before
    assert await notifier.send_due(NOW, force_immediate=True, flush=True) == []


# --- max_items, highlighting, replicas ------------------------------------------------------


async def test_more_line_counts_as_delivered(
    redis_client: aioredis.Redis, keys: Keys, receiver: WebhookReceiver
) -> None:
    notifier = _notifier(redis_client, keys, [receiver.url], max_items=2)
    articles = [_article(n) for n in range(1, 6)]
    await _file(notifier, articles)
    await notifier.send_due(NOW)
    assert _links(receiver) == [articles[0].link, articles[1].link]  # the newest two
    assert "+3 more stories" in receiver.messages()[0]
    await _file(notifier, articles)  # replayed: nothing new
    assert await notifier.send_due(NOW + timedelta(minutes=1), force_immediate=True) == []
    assert len(receiver.posts) == 1


async def test_matched_terms_are_highlighted(
    redis_client: aioredis.Redis, keys: Keys, receiver: WebhookReceiver
) -> None:
    query = parse_query("@dprk AND weapon*", {"dprk": "North Korea OR Pyongyang"})
    assert isinstance(query, Query)
    notifier = _notifier(redis_client, keys, [receiver.url], queries={"korea": query})
    summary = "Analysts say North Korea shipped weapons and shells to Russia."
    await _file(notifier, [_article(1, summary=summary)])
    await notifier.send_due(NOW)
    assert "Analysts say **North Korea** shipped **weapons** and shells" in receiver.messages()[0]


async def test_two_replicas_sending_at_once_deliver_once(
    redis_client: aioredis.Redis, keys: Keys, receiver: WebhookReceiver
) -> None:
    one = _notifier(redis_client, keys, [receiver.url])
    two = _notifier(redis_client, keys, [receiver.url])
    await _file(one, [_article(n) for n in range(1, 4)])
    await asyncio.gather(one.send_due(NOW), two.send_due(NOW))
    assert len(receiver.posts) == 1
    assert sorted(_links(receiver)) == sorted(_article(n).link for n in range(1, 4))


# --- housekeeping and metrics ---------------------------------------------------------------


async def test_shared_articles_are_kept_until_the_last_subscription_has_them(
    redis_client: aioredis.Redis, keys: Keys, receiver: WebhookReceiver
) -> None:
    down = WebhookReceiver()
    down.failing = True
    try:
        subs = [_sub([receiver.url], sub_id="desk"), _sub([down.url], sub_id="other")]
        notifier = Notifier(
            redis_client,
            keys,
            subs,
            {},
            immediate_window=0.0,
            ledger_retention=86400,
            clock=lambda: NOW,
        )
        await _file(notifier, [_article(1)])
        await notifier.send_due(NOW)
        assert await notifier.pending.items("desk") == []
        assert [i.article.title for i in await notifier.pending.items("other")] == [
            _article(1).title
        ]
        down.failing = False
        await notifier.send_due(NOW, force_immediate=True)
        assert await notifier.pending.items("other") == []
        assert await redis_client.exists(keys.pending_articles(), keys.pending_refs()) == 0
    finally:
        down.close()


async def test_metrics_name_the_scheme_never_the_url(
    redis_client: aioredis.Redis, keys: Keys, receiver: WebhookReceiver
) -> None:
    secret = "m3tric-t0ken"
    notifier = _notifier(redis_client, keys, [f"{receiver.url}/{secret}?:key={secret}"])
    await _file(notifier, [_article(1)])
    await notifier.send_due(NOW)
    exposition = generate_latest(REGISTRY).decode()
    assert 'wirewatch_digests_sent_total{target_type="json"}' in exposition
    assert 'wirewatch_items_filed_total{subscription="desk"}' in exposition
    # a leaked URL would show ":PORT" (a bare number could sit inside a _created timestamp)
    assert secret not in exposition and f":{receiver.port}" not in exposition
