"""The Compose deployment's three services, run as local processes with the compose file's own
commands and environment against the real Redis: ready, working, observable, scalable, and
stopping cleanly on SIGTERM.

Only what cannot be the same outside containers is changed (see `local_environment`): the
Redis URL, a free health port per process, the config folder, a private key prefix.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.deploy.compose_file import local_command, local_environment
from tests.deploy.processes import ServiceProcess, wait_for
from tests.support.feed_server import FeedServer, rss
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.e2e
SIGTERM_DEADLINE = 10.0  # DESIGN §5: on SIGTERM a service exits 0 within 10 s
WORK_TIMEOUT = 60.0


def _links(n: int, run: str) -> list[tuple[str, str]]:
    return [
        (f"Probe story {i} from run {run}", f"https://probe.example.org/{run}/{i}")
        for i in range(n)
    ]


def _write_config(folder: Path, feed_url: str, notify: str) -> Path:
    folder.mkdir()
    (folder / "watch.yaml").write_text(
        f"""
feeds:
  - id: probe-wire
    url: {feed_url}
    every: 5s
rules:
  - id: probe
    title: Probe stories
    query: probe
subscriptions:
  - id: probe-desk
    rules: [probe]
    notify: ["{notify}"]
    digest: immediate
    max_items: 1000
""",
        encoding="utf-8",
    )
    return folder


class Deployment:
    """The compose services as processes sharing one config folder and key prefix."""

    def __init__(self, tmp: Path, redis_url: str, config: Path) -> None:
        self.tmp = tmp
        self.redis_url = redis_url
        self.config = config
        self.prefix = f"e2e-{uuid.uuid4().hex[:8]}"
        self.processes: list[ServiceProcess] = []

    def start(self, service: str, replica: int = 1) -> ServiceProcess:
        env = local_environment(
            service, redis_url=self.redis_url, key_prefix=self.prefix, config_dir=self.config
        )
        proc = ServiceProcess(f"{service}-{replica}", local_command(service), env, self.tmp)
        self.processes.append(proc)
        return proc

    def describe(self) -> str:
        return "\n".join(p.describe() for p in self.processes)

    def stop_all(self) -> None:
        for p in self.processes:
            p.kill()


@pytest.fixture
def deployment(
    tmp_path: Path, redis_url: str, receiver: WebhookReceiver
) -> Iterator[tuple[Deployment, FeedServer]]:
    with FeedServer() as feeds:
        config = _write_config(tmp_path / "rules", feeds.url("/wire.xml"), receiver.url)
        d = Deployment(tmp_path, redis_url, config)
        try:
            yield d, feeds
        finally:
            d.stop_all()
            client = redis.Redis.from_url(redis_url)
            for key in client.scan_iter(match=f"{d.prefix}:*", count=500):
                client.delete(key)
            client.close()


def test_three_services_work_report_and_stop_cleanly(
    deployment: tuple[Deployment, FeedServer], receiver: WebhookReceiver
) -> None:
    d, feeds = deployment
    articles, matches = f"{d.prefix}:articles", f"{d.prefix}:matches"
    stories = _links(5, "a")
    matcher, notifier = d.start("matcher"), d.start("notifier")
    for p in (matcher, notifier):
        p.wait_ready()
    assert matcher.metric("wirewatch_stream_length", stream=articles) == 0.0
    assert notifier.metric("wirewatch_stream_length", stream=matches) == 0.0

    feeds.add_route("/wire.xml", rss("Probe Wire", stories))
    poller = d.start("poller")
    poller.wait_ready()
    wait_for(
        "a digest with all 5 stories at the json:// receiver",
        lambda: all(any(link in m for m in receiver.messages()) for _, link in stories),
        WORK_TIMEOUT,
        lambda: f"received: {receiver.messages()}\n{d.describe()}",
    )

    def drained() -> bool:
        m = notifier.metrics()
        return all(
            m.get((name, tuple(sorted(labels.items()))), -1.0) == 0.0
            for name in ("wirewatch_stream_lag", "wirewatch_stream_pending")
            for labels in (
                {"stream": articles, "group": "matcher"},
                {"stream": matches, "group": "notifier"},
            )
        )

    wait_for("lag and pending back to 0 on /metrics", drained, WORK_TIMEOUT, d.describe)
    # The gauges are refreshed from Redis at scrape time, so every process shows the streams.
    for p in (poller, matcher, notifier):
        assert p.metric("wirewatch_stream_length", stream=articles) == 5.0
        assert p.metric("wirewatch_stream_length", stream=matches) == 5.0
        assert p.metric("wirewatch_redis_up") == 1.0
    # FastStream's middleware counts what each consumer took from its stream.
    received = "faststream_received_messages_total"
    labels = {"app_name": "wirewatch", "broker": "redis"}
    assert matcher.metric(received, handler=articles, **labels) == 5.0
    assert notifier.metric(received, handler=matches, **labels) == 5.0
    assert matcher.metric(received, handler=matches, **labels) == 0.0
    # Our counters, each in the process that did the work.
    assert poller.metric("wirewatch_articles_new_total", feed="probe-wire") == 5.0
    assert notifier.metric("wirewatch_items_filed_total", subscription="probe-desk") == 5.0
    assert notifier.metric("wirewatch_digests_sent_total", target_type="json") >= 1.0
    assert matcher.metric("wirewatch_articles_new_total", feed="probe-wire") == 0.0
    acked = "faststream_received_processed_messages_total"
    assert notifier.metric(acked, handler=matches, status="acked", **labels) == 5.0

    for p in (poller, matcher, notifier):
        assert p.terminate(SIGTERM_DEADLINE) == 0, p.describe()
        records = p.log_records()  # every line is JSON: ours, FastStream's and uvicorn's
        events = [r.get("event") for r in records]
        assert "service.stopped" in events, p.describe()
        errors = [r for r in records if r["level"] in ("error", "critical")]
        assert not errors, f"{p.name} logged errors: {errors}"


def test_matcher_scaled_to_three_matches_each_article_once(
    deployment: tuple[Deployment, FeedServer], redis_url: str
) -> None:
    d, feeds = deployment
    stories = _links(300, "b")
    matchers = [d.start("matcher", replica=i) for i in (1, 2, 3)]
    for m in matchers:
        m.wait_ready()
    feeds.add_route("/wire.xml", rss("Probe Wire", stories))
    poller = d.start("poller")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    articles, matches = f"{d.prefix}:articles", f"{d.prefix}:matches"

    def settled() -> bool:
        if client.xlen(matches) < len(stories):
            return False
        group = next(g for g in client.xinfo_groups(articles) if g["name"] == "matcher")
        return group["lag"] == 0 and group["pending"] == 0

    wait_for(f"{len(stories)} matches, articles all acked", settled, WORK_TIMEOUT, d.describe)
    counts = Counter(
        json.loads(fields["__data__"])["article"]["link"] for _, fields in client.xrange(matches)
    )
    twice = {link: n for link, n in counts.items() if n != 1}
    assert not twice, f"matched more than once: {twice}"
    assert set(counts) == {link for _, link in stories}
    consumers = {c["name"] for c in client.xinfo_consumers(articles, "matcher")}
    assert len(consumers) == 3, f"three distinct consumer names: {consumers}"
    handled = [
        m.metric(
            "faststream_received_messages_total",
            app_name="wirewatch",
            broker="redis",
            handler=articles,
        )
        for m in matchers
    ]
    assert sum(handled) == len(stories), f"per matcher: {handled}"
    client.close()
    for p in (*matchers, poller):
        assert p.terminate(SIGTERM_DEADLINE) == 0, p.describe()
