"""Email digests through Apprise's real `mailto://` plugin to a real SMTP server (aiosmtpd).

What a reader's mail client gets: one multipart/alternative message (plain text and HTML),
the digest title as Subject, every item's full URL as text in both parts, matched terms in
bold, and no markup from a feed anywhere.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from services.common.config import SubscriptionConfig
from services.common.keys import Keys
from services.common.models import Article, Match
from services.common.secrets import SecretUrl
from services.matcher.query import Query, parse_query
from services.notifier.pipeline import Notifier
from services.notifier.schedule import Schedule, parse_schedule
from services.notifier.subscriptions import Subscription
from tests.support import smtp as smtp_support
from tests.support.smtp import SmtpSink

pytestmark = pytest.mark.integration
smtp = smtp_support.smtp  # the fixture: a real SMTP server on loopback
NOW = datetime(2024, 6, 19, 9, 0, tzinfo=UTC)

ARTICLES = [
    Article(
        id="a1",
        feed="global-wire",
        outlet="Global Wire",
        title="Russia and North Korea sign mutual defence pact",
        summary="<p>The pact obliges each side to send <b>military</b> aid if the other is attacked.</p>",
        link="https://news.example.org/world/pact?id=17&lang=en",
        published=NOW - timedelta(hours=1),
    ),
    Article(
        id="a2",
        feed="evil-feed",
        outlet="Totally <Legit> News",
        title="<script>alert('title')</script>Pyongyang parades <b>new</b> missiles",
        summary=(
            "Kim watched the <b>military</b> parade.<script>document.location='https://x'</script>"
            '<img src=x onerror="alert(2)"> &lt;i&gt;not markup&lt;/i&gt;'
        ),
        link="https://evil.example/parade?a=1&b=2",
        published=NOW - timedelta(hours=2),
    ),
]


def _notifier(client: aioredis.Redis, keys: Keys, url: str) -> Notifier:
    schedule = parse_schedule("immediate")
    assert isinstance(schedule, Schedule)
    config = SubscriptionConfig("korea-desk", ("korea",), (SecretUrl(url),), "immediate")
    query = parse_query("(North Korea OR Pyongyang) AND military", {})
    assert isinstance(query, Query)
    return Notifier(
        client,
        keys,
        [Subscription(config, ("korea",), schedule)],
        {"korea": "Russia – North Korea military ties"},
        immediate_window=0.0,
        ledger_retention=86400,
        rule_queries={"korea": query},
        clock=lambda: NOW,
    )


async def test_email_is_multipart_with_every_url_and_no_feed_markup(
    redis_client: aioredis.Redis, keys: Keys, smtp: SmtpSink
) -> None:
    notifier = _notifier(redis_client, keys, smtp.url(to="desk@example.org"))
    await notifier.handle_batch(
        [
            Match(article=a, rules=["korea"], matched_at=NOW).model_dump(mode="json")
            for a in ARTICLES
        ]
    )
    outcomes = await notifier.send_due(NOW)
    assert [o.ok for o in outcomes] == [True]

    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["Subject"] == "wirewatch: 2 new stories for korea-desk"
    assert smtp.envelopes[0][1] == ["desk@example.org"]
    assert message.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    text, page = parts["text/plain"], parts["text/html"]

    for article in ARTICLES:
        assert article.link in text
        assert html.escape(article.link) in page  # the URL as visible text, not only in href

    for part in (text, page):
        assert "<script" not in part and "alert(" not in part and "document.location" not in part
        assert "onerror" not in part and "<img" not in part
        assert "Pyongyang parades new missiles" in part
    assert "<b>new</b>" not in page  # feed markup never reaches the HTML
    assert "&lt;i&gt;not markup&lt;/i&gt;" in page  # decoded references stay text
    assert "Totally &lt;Legit&gt; News" in page
    assert "<b>military</b> aid" in page  # our highlight: the only markup in snippets
    assert await notifier.send_due(NOW + timedelta(minutes=1), force_immediate=True) == []
    assert len(smtp.messages) == 1


async def test_refused_email_stays_pending_then_goes_out_once(
    redis_client: aioredis.Redis, keys: Keys, smtp: SmtpSink
) -> None:
    notifier = _notifier(redis_client, keys, smtp.url())
    await notifier.handle_batch(
        [Match(article=ARTICLES[0], rules=["korea"], matched_at=NOW).model_dump(mode="json")]
    )
    smtp.failing = True
    outcomes = await notifier.send_due(NOW)
    assert [o.ok for o in outcomes] == [False]
    assert "desk@example.org" not in outcomes[0].error  # the recipient is part of the secret URL
    smtp.failing = False
    assert [o.ok for o in await notifier.send_due(NOW, force_immediate=True)] == [True]
    assert len(smtp.messages) == 1
