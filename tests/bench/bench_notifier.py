"""Notifier benchmarks (run by hand: `uv run pytest -m bench tests/bench/bench_notifier.py -s`).

Real Redis on 127.0.0.1:6379, articles from the corpus (`../shared/corpus/articles`).

1. Filing: matches/s through `handle_batch` (batches of 50, as the broker delivers them) with
   1,000 subscriptions over 50 rules (each subscription wants 3 rules).
2. Rendering: digests/s for assemble + highlight + Markdown + HTML (pure), and a full send pass
   (`send_due(flush=True)`) over 1,000 subscriptions with 10 pending items each, delivering to
   an in-process Apprise target that accepts everything (Redis reads, ledger writes included).
3. Latency: fetch -> webhook for an `immediate` subscription through the whole pipeline in one
   process (poller publish script -> matcher -> notifier -> Apprise `json://` -> a real HTTP
   receiver), coalescing window 0, with 1,000 subscriptions configured. p50 / p99 over 200
   articles published one at a time.

Results go to tests/bench/RESULTS.md, section "## Notifier".
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import apprise
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from services.common.config import Config, RuleConfig, SubscriptionConfig
from services.common.keys import Keys
from services.common.models import Article, Match
from services.common.runtime import Runtime
from services.common.secrets import SecretUrl
from services.common.settings import Settings
from services.matcher.app import create_matcher
from services.notifier.app import create_notifier, rule_queries, run_digests
from services.notifier.digest import PendingItem, assemble_digest
from services.notifier.highlight import matched_terms
from services.notifier.pipeline import Notifier
from services.notifier.render import render_html, render_markdown
from services.notifier.subscriptions import resolve_subscriptions
from services.poller.seen import SeenSet
from tests.conftest import corpus_path
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.bench

SUBSCRIPTIONS = 1000
RULES = 50
WORDS = (  # noqa: SIM905  (a word list reads better as text)
    "government minister election market company shares bank police court football "
    "world president party economy growth oil prices trade union health hospital film "
    "music award china europe russia america war army security report profit "
    "sales technology internet phone games school children water energy climate tax "
    "budget plan deal talks"
).split()


def corpus_articles(limit: int = 2000) -> list[Article]:
    """English corpus articles with a link and a time (made up where the corpus has none)."""
    now = datetime.now(UTC)
    out: list[Article] = []
    for name in ("bbc_news", "reuters", "gensim_lee"):
        path: Path = corpus_path("articles", f"{name}.jsonl.gz")
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                data = json.loads(line)
                n = len(out)
                out.append(
                    Article(
                        id=f"bench:{data['id']}",
                        feed=data["feed"],
                        title=data["title"],
                        summary=data["summary"],
                        content=data["content"],
                        categories=data.get("categories") or [],
                        lang=data.get("lang") or "en",
                        link=data.get("link") or f"https://{data['feed']}.example/{n}",
                        published=now - timedelta(minutes=n),
                        outlet=data["feed"],
                    )
                )
                if len(out) >= limit:
                    return out
    return out


def bench_config(target: str, *, immediate_rule: str | None = None) -> Config:
    """50 rules of two words each; 1,000 subscriptions wanting 3 rules each."""
    rng = random.Random(7)
    rules = tuple(
        RuleConfig(id=f"r{i}", title=f"Rule {i}", query=" OR ".join(rng.sample(WORDS, 2)))
        for i in range(RULES)
    )
    subs = [
        SubscriptionConfig(
            id=f"s{i}",
            rules=tuple(f"r{j}" for j in rng.sample(range(RULES), 3)),
            notify=(SecretUrl(target),),
            digest="daily 08:00 Europe/London",
            max_items=20,
        )
        for i in range(SUBSCRIPTIONS)
    ]
    if immediate_rule is not None:
        rules += (RuleConfig(id="hot", title="Hot", query=immediate_rule),)
        subs[0] = SubscriptionConfig(
            id="s0", rules=("hot",), notify=(SecretUrl(target),), digest="immediate"
        )
    return Config(folder=Path("."), rules=rules, subscriptions=tuple(subs))


def notifier_for(client: aioredis.Redis, keys: Keys, config: Config) -> Notifier:
    subs, errors = resolve_subscriptions(config)
    assert not errors
    return Notifier(
        client,
        keys,
        subs,
        {r.id: r.title for r in config.rules},
        immediate_window=0.0,
        ledger_retention=86400,
        rule_queries=rule_queries(config),
    )


def matches_for(articles: list[Article], config: Config) -> list[dict[str, Any]]:
    """Each article matched by 1-2 rules (what the matcher would publish)."""
    rng = random.Random(11)
    now = datetime.now(UTC)
    rule_ids = [r.id for r in config.rules]
    return [
        Match(article=a, rules=rng.sample(rule_ids, rng.choice((1, 2))), matched_at=now).model_dump(
            mode="json"
        )
        for a in articles
    ]


def batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def report(line: str) -> None:
    print(f"\n[bench notifier] {line}")


_NULL_REGISTERED = False


def register_null_target() -> None:
    """`benchnull://` accepts every message in-process: measures our side, not a network."""
    global _NULL_REGISTERED
    if _NULL_REGISTERED:
        return

    @apprise.decorators.notify(on="benchnull", name="bench null")  # type: ignore[misc]
    def _accept(body: str, title: str, *args: Any, **kwargs: Any) -> bool:
        return True

    _NULL_REGISTERED = True


# --- 1. filing -----------------------------------------------------------------------------


async def test_filing_throughput(redis_client: aioredis.Redis, keys: Keys) -> None:
    config = bench_config("benchnull://")
    notifier = notifier_for(redis_client, keys, config)
    matches = matches_for(corpus_articles(2000), config)
    started = time.perf_counter()
    for batch in batches(matches, 50):
        await notifier.handle_batch(batch)
    elapsed = time.perf_counter() - started
    filed = sum([await redis_client.hlen(keys.pending(f"s{i}")) for i in range(SUBSCRIPTIONS)])
    report(
        f"filing: {len(matches) / elapsed:,.0f} matches/s ({filed:,} items filed into "
        f"{SUBSCRIPTIONS} subscriptions, {filed / elapsed:,.0f} items/s)"
    )


# --- 2. rendering ----------------------------------------------------------------------------


async def test_rendering_throughput(redis_client: aioredis.Redis, keys: Keys) -> None:
    register_null_target()
    config = bench_config("benchnull://")
    articles = corpus_articles(2000)
    queries = rule_queries(config)

    rng = random.Random(3)
    digests = 0
    started = time.perf_counter()
    while time.perf_counter() - started < 5:
        chosen = rng.sample(articles, 20)
        items = [PendingItem(a, (f"r{rng.randrange(RULES)}",)) for a in chosen]
        digest = assemble_digest(
            items,
            subscription="s",
            rule_order=[f"r{i}" for i in range(RULES)],
            rule_titles={},
            max_items=None,
            zone=ZoneInfo("Europe/London"),
        )
        assert digest is not None
        terms = {i.article.id: matched_terms(i.article, i.rules, queries) for i in items}
        render_markdown(digest, highlight=terms)
        render_html(digest, highlight=terms)
        digests += 1
    pure = digests / (time.perf_counter() - started)
    report(f"render (assemble + highlight + Markdown + HTML, 20 items): {pure:,.0f} digests/s")

    notifier = notifier_for(redis_client, keys, config)
    for batch in batches(matches_for(articles[:1000], config), 50):
        await notifier.handle_batch(batch)
    pending = sum([await redis_client.hlen(keys.pending(f"s{i}")) for i in range(SUBSCRIPTIONS)])
    started = time.perf_counter()
    outcomes = await notifier.send_due(datetime.now(UTC), flush=True)
    elapsed = time.perf_counter() - started
    assert all(o.ok for o in outcomes)
    report(
        f"send pass (flush, {SUBSCRIPTIONS} subscriptions, {pending:,} pending items, "
        f"max_items 20): {len(outcomes) / elapsed:,.0f} digests/s, {len(outcomes)} digests in "
        f"{elapsed:.2f} s"
    )


# --- 3. latency ------------------------------------------------------------------------------


async def test_fetch_to_webhook_latency(redis_url: str, keys: Keys) -> None:
    receiver = WebhookReceiver()
    config = bench_config(receiver.url, immediate_rule="wirewatchbench")
    settings = Settings(
        redis_url=SecretStr(redis_url),
        key_prefix=keys.prefix,
        immediate_window=0.0,
    )
    runtime = await Runtime.open(settings)
    create_matcher(runtime, config)
    notifier = create_notifier(runtime, config)
    stop = asyncio.Event()
    seen = SeenSet(runtime.client, runtime.keys, 3600)
    articles = corpus_articles(200)
    latencies: list[float] = []
    try:
        await runtime.broker.start()
        loop_task = asyncio.create_task(run_digests(notifier, stop))
        await asyncio.sleep(1.0)  # first pass sets 999 first due times
        for n, base in enumerate(articles):
            fetched = datetime.now(UTC)
            article = base.model_copy(
                update={
                    "id": f"{base.id}:{keys.prefix}",
                    "title": f"{base.title} wirewatchbench",
                    "link": f"https://bench.example/{n}",
                    "fetched": fetched,
                }
            )
            await seen.publish_new([article])
            deadline = time.monotonic() + 10
            while len(receiver.posts) <= n and time.monotonic() < deadline:
                await asyncio.sleep(0.001)
            assert len(receiver.posts) == n + 1, "digest did not arrive"
            assert article.link in receiver.messages()[n]
            latencies.append((receiver.arrivals[n] - fetched.timestamp()) * 1000)
        stop.set()
        await loop_task
    finally:
        stop.set()
        await runtime.close()
        receiver.close()
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    report(
        f"fetch -> webhook, immediate, window 0, {len(latencies)} articles one at a time: "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms"
    )
