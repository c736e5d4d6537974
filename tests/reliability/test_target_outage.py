"""A delivery target down for a long stretch, then back: everything pending arrives, once.

`wirewatch run` keeps running through the outage (feeds keep growing, matches keep being
filed); the notifier backs off (5 s, 10 s, 20 s, ...) and, once the target answers again,
delivers every pending item by itself — no `run --once` to help. Two targets: a webhook whose
port is closed (connection refused) and an SMTP server answering 451 (try again later).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.reliability.harness import (
    LINK_RE,
    FeedHTTP,
    GrowingFeeds,
    PrivateRedis,
    Supervisor,
    Verdict,
    report,
    service_env,
    tally,
    write_config,
)
from tests.support.receiver import WebhookReceiver
from tests.support.smtp import SmtpSink

pytestmark = pytest.mark.reliability
OUTAGE_SECONDS = 25.0  # four failed tries at least: 0, 5, 15 s (+ jitter of the first send)
DELIVER_WITHIN = 75.0  # the retry after 20 s more, plus room on a loaded machine
MAIL_LINK = re.compile(r"http://127\.0\.0\.1:\d+/articles/f\d+-i\d+")


@pytest.fixture
def feeds() -> Iterator[GrowingFeeds]:
    """~120 articles, all served within the outage (so all of them pile up)."""
    growing = GrowingFeeds(feeds=4, per_step=5, step_seconds=2.0, max_items=30)
    http = FeedHTTP(growing)
    yield growing
    http.close()


def _outage(
    tmp_path: Path,
    redis_server: PrivateRedis,
    feeds: GrowingFeeds,
    target_url: str,
    down: Callable[[], None],
    up: Callable[[], None],
    delivered: Callable[[], Counter[str]],
) -> tuple[Verdict, int]:
    config = tmp_path / "rules"
    write_config(config, feeds, target_url)
    sup = Supervisor(["run"], service_env(redis_server.url, config), tmp_path, "outage")
    down()
    sup.start()
    try:
        time.sleep(OUTAGE_SECONDS)
        during = sum(delivered().values())
        assert sup.proc is not None and sup.proc.poll() is None, "the outage must not stop run"
        up()
        expected = feeds.expected_links()
        deadline = time.monotonic() + DELIVER_WITHIN
        while time.monotonic() < deadline and not expected <= set(delivered()):
            time.sleep(0.5)
        time.sleep(2.0)  # anything sent twice would arrive now
    finally:
        sup.stop()
    return tally(expected, delivered(), 0, 0), during


def test_webhook_down_then_back(
    tmp_path: Path, redis_server: PrivateRedis, feeds: GrowingFeeds, receiver: WebhookReceiver
) -> None:
    def delivered() -> Counter[str]:
        return Counter(link for message in receiver.messages() for link in LINK_RE.findall(message))

    v, during = _outage(
        tmp_path, redis_server, feeds, receiver.url, receiver.stop, receiver.start, delivered
    )
    report(v.line(f"webhook down {OUTAGE_SECONDS:g}s then back"))
    assert during == 0
    assert v.served >= 100
    assert v.lost == 0, v
    assert v.duplicated == 0, v


def test_smtp_refusing_then_back(
    tmp_path: Path, redis_server: PrivateRedis, feeds: GrowingFeeds
) -> None:
    sink = SmtpSink()

    def down() -> None:
        sink.failing = True

    def up() -> None:
        sink.failing = False

    def delivered() -> Counter[str]:
        return Counter(link for message in list(sink.messages) for link in _links(message))

    try:
        v, during = _outage(tmp_path, redis_server, feeds, sink.url(), down, up, delivered)
    finally:
        sink.close()
    report(v.line(f"SMTP 451 for {OUTAGE_SECONDS:g}s then back"))
    assert during == 0
    assert v.served >= 100
    assert v.lost == 0, v
    assert v.duplicated == 0, v


def _links(message: EmailMessage) -> set[str]:
    """The article links of one email (its text part; each item's link, once per message)."""
    part = message.get_body(preferencelist=("plain",))
    text = part.get_content() if part is not None else ""
    return set(MAIL_LINK.findall(text))
