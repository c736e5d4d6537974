"""Hostile feeds through the whole poll path: PollerApp -> fetch -> parse -> seen-set -> stream.

Real loopback HTTP server, real Redis. For each bad input a user would notice: the poller does
not crash, memory stays bounded, the feed shows unhealthy with a clear reason in what
`wirewatch feeds --json` prints, the good feeds go on, and nothing is published twice.
"""

from __future__ import annotations

import asyncio
import json
import tracemalloc
import unicodedata
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from prometheus_client import generate_latest

from services.common.config import FeedConfig
from services.common.keys import Keys
from services.common.metrics import (
    ARTICLES_NEW,
    FEEDS_PARSED,
    PARSE_ERRORS,
    POLL_BYTES,
    POLLS,
    REGISTRY,
)
from services.common.runtime import Runtime
from services.poller.app import PollerApp
from services.poller.feed_state import FeedStates
from services.poller.poll import PollOutcome
from services.poller.report import feed_record, feed_rows, format_table
from tests.conftest import open_runtime
from tests.support.feed_server import (
    NORMAL_ETAG,
    FeedServer,
    Response,
    feed_server_fixture,  # noqa: F401 - provides the `feed_server` fixture
    install_standard_routes,
    rss,
)

pytestmark = pytest.mark.integration
MEMORY_CAP = 16 * 1024 * 1024  # the body cap is 1 MB; bombs expand to 100+ MB if let through

# id -> (route, state, the reason `wirewatch feeds --json` shows)
HOSTILE = {
    "gzip-bomb": ("/gzip-bomb.xml", "error", "body exceeds 1000000 bytes; raise WIREWATCH_MAX_BODY_BYTES if the feed is really that big"),
    "br-bomb": ("/br-bomb.xml", "error", "body exceeds 1000000 bytes; raise WIREWATCH_MAX_BODY_BYTES if the feed is really that big"),
    "huge": ("/huge.xml", "error", "body exceeds 1000000 bytes; raise WIREWATCH_MAX_BODY_BYTES if the feed is really that big"),
    "huge-declared": ("/huge-declared.xml", "error", "body exceeds 1000000 bytes; raise WIREWATCH_MAX_BODY_BYTES if the feed is really that big"),
    "slow-drip": ("/slow.xml", "error", "timed out after 2s; raise WIREWATCH_FETCH_TIMEOUT if the server is just slow"),
    "redirect-loop": ("/loop-a", "error", "more than 3 redirects; check the feed's url"),
    "redirect-ftp": ("/to-ftp", "error", "redirect to non-HTTP URL ftp://ftp.example.org/feed.xml; check the feed's url"),
    "gone-404": ("/404", "error", "HTTP 404 Not Found; check the feed's url"),
    "gone-410": ("/410", "error", "HTTP 410 Gone; check the feed's url"),
    "broken-500": ("/500", "error", "HTTP 500 Internal Server Error"),
    "html-page": ("/html", "error", "not a feed: server sent text/html"),
    "empty": ("/empty.xml", "error", "empty body"),
    "garbage": ("/garbage.xml", "error", "not a feed: no RSS or Atom document found (XML error at line 2, column 3: not well-formed (invalid token))"),
}  # fmt: skip
# id -> (route, articles it publishes)
GOOD = {
    "normal": ("/feed.xml", 2),
    "billion-laughs": ("/billion-laughs.xml", 1),
    "external-entity": ("/external-entity.xml", 1),
    "wrong-charset": ("/wrong-charset.xml", 1),
    "tracking": ("/tracking.xml", 2),  # 4 entries, 2 pages once tracking is stripped
    "outlet-a": ("/outlet-a.xml", 2),
    "outlet-b": ("/outlet-b.xml", 1),  # its ceasefire story is outlet A's
}


@pytest.fixture
async def runtime(redis_url: str, keys: Keys) -> AsyncIterator[Runtime]:
    async with open_runtime(
        redis_url, keys, max_body_bytes=1_000_000, fetch_timeout=2.0, max_redirects=3
    ) as rt:
        yield rt


@pytest.fixture
def second_server() -> Iterator[FeedServer]:
    """Another server (another `host:port`): a Retry-After there holds only its own feeds."""
    with FeedServer() as server:
        install_standard_routes(server)
        yield server


def feeds_on(server: FeedServer, routes: dict[str, str]) -> list[FeedConfig]:
    return [FeedConfig(id=i, url=server.url(path), every=900) for i, path in routes.items()]


async def published(client: aioredis.Redis, keys: Keys) -> list[dict[str, object]]:
    entries = await client.xrange(keys.articles)
    return [json.loads(fields[b"__data__"]) for _id, fields in entries]


async def shown(runtime: Runtime, feeds: list[FeedConfig]) -> dict[str, dict[str, object]]:
    """What `wirewatch feeds --json` prints, per feed id."""
    states = await FeedStates(runtime.client, runtime.keys).load_many([f.id for f in feeds])
    return {f.id: json.loads(json.dumps(feed_record(f, states[f.id]))) for f in feeds}


async def poll_all(runtime: Runtime, feeds: list[FeedConfig], tmp: Path) -> list[PollOutcome]:
    app = PollerApp(runtime, feeds, tmp)
    try:
        return await app.poll_all()
    finally:
        await app.close()


async def test_hostile_feeds_are_contained_and_the_others_go_on(
    runtime: Runtime, feed_server: FeedServer, tmp_path: Path
) -> None:
    routes = {i: r for i, (r, _, _) in HOSTILE.items()} | {i: r for i, (r, _) in GOOD.items()}
    feeds = feeds_on(feed_server, routes)
    garbage_errors = PARSE_ERRORS.labels("garbage")._value.get()

    tracemalloc.start()
    try:
        outcomes = await poll_all(runtime, feeds, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < MEMORY_CAP
    assert sorted(o.feed for o in outcomes) == sorted(routes)
    view = await shown(runtime, feeds)
    for feed_id, (_route, state, reason) in HOSTILE.items():
        assert (view[feed_id]["state"], view[feed_id]["last_error"]) == (state, reason), feed_id
        assert view[feed_id]["consecutive_errors"] == 1
    for feed_id, (_route, count) in GOOD.items():
        assert view[feed_id]["state"] == "ok", (feed_id, view[feed_id]["last_error"])
        assert view[feed_id]["new_items"] == count, feed_id
    assert view["normal"]["http_status"] == 200
    assert view["gone-404"]["http_status"] == 404
    assert view["wrong-charset"]["note"] == "declared charset is wrong; read as cp1251"

    articles = await published(runtime.client, runtime.keys)
    assert len(articles) == sum(count for _route, count in GOOD.values())
    assert len({a["id"] for a in articles}) == len(articles), "nothing published twice"
    by_feed = {a["feed"]: a for a in articles}
    assert "root:" not in json.dumps(articles)  # external entity never resolved
    assert len(str(by_feed["billion-laughs"]["title"])) < 100  # entities never expanded
    assert unicodedata.name(str(by_feed["wrong-charset"]["title"])[0]).startswith("CYRILLIC")
    ceasefire = [a for a in articles if "ceasefire" in str(a["link"])]
    assert [a["link"] for a in ceasefire] == ["https://wire.example.com/world/ceasefire"]

    assert PARSE_ERRORS.labels("garbage")._value.get() == garbage_errors + 1
    assert POLLS.labels("gzip-bomb", "error")._value.get() >= 1
    assert ARTICLES_NEW.labels("tracking")._value.get() >= 2

    table = format_table(
        feed_rows(feeds, await FeedStates(runtime.client, runtime.keys).load_many(list(routes)))
    )
    assert "gzip-bomb" in table and "body exceeds 1000000 bytes" in table


async def test_second_poll_publishes_nothing_and_parses_only_changes(
    runtime: Runtime, feed_server: FeedServer, tmp_path: Path
) -> None:
    body = rss("No validators", [("Same bytes every time", "https://same.example.org/1")])
    feed_server.add_route("/no-validators.xml", body)
    feeds = feeds_on(
        feed_server,
        {"normal": "/feed.xml", "same-bytes": "/no-validators.xml", "outlet-a": "/outlet-a.xml"},
    )
    await poll_all(runtime, feeds, tmp_path)
    first = await published(runtime.client, runtime.keys)
    parsed_before = FEEDS_PARSED._value.get()
    not_modified = POLLS.labels("normal", "not_modified")._value.get()
    new_before = ARTICLES_NEW.labels("normal")._value.get()
    bytes_before = POLL_BYTES.labels("normal")._value.get()

    outcomes = await poll_all(runtime, feeds, tmp_path)

    assert await published(runtime.client, runtime.keys) == first
    assert [o.new for o in outcomes] == [0, 0, 0]
    assert FEEDS_PARSED._value.get() == parsed_before, "a 304 or the same bytes are not parsed"
    assert POLLS.labels("normal", "not_modified")._value.get() == not_modified + 1
    assert ARTICLES_NEW.labels("normal")._value.get() == new_before
    assert POLL_BYTES.labels("normal")._value.get() == bytes_before  # a 304 has no body
    assert feed_server.requests_to("/feed.xml")[-1].headers["if-none-match"] == NORMAL_ETAG
    view = await shown(runtime, feeds)
    assert view["normal"]["http_status"] == 304 and view["normal"]["state"] == "ok"


async def test_same_article_in_two_feeds_is_published_once_across_restarts(
    runtime: Runtime, feed_server: FeedServer, tmp_path: Path
) -> None:
    a = feeds_on(feed_server, {"outlet-a": "/outlet-a.xml"})
    b = feeds_on(feed_server, {"outlet-b": "/outlet-b.xml"})
    await poll_all(runtime, a, tmp_path)  # one process...
    await poll_all(runtime, b, tmp_path)  # ...and a later one, knowing only outlet B

    links = [a["link"] for a in await published(runtime.client, runtime.keys)]
    assert sorted(links) == [
        "https://outlet-a.example.com/local/1",
        "https://outlet-b.example.com/local/9",
        "https://wire.example.com/world/ceasefire",
    ]


@pytest.mark.parametrize(
    ("route", "reason"),
    [("/429", "HTTP 429 Too Many Requests"), ("/503", "HTTP 503 Service Unavailable")],
)
async def test_retry_after_holds_the_whole_server(
    runtime: Runtime,
    second_server: FeedServer,
    feed_server: FeedServer,
    tmp_path: Path,
    route: str,
    reason: str,
) -> None:
    feeds = feeds_on(second_server, {"limited": route, "neighbour": "/feed.xml"})
    feeds += feeds_on(feed_server, {"elsewhere": "/feed.xml"})

    first = {o.feed: o for o in await poll_all(runtime, feeds, tmp_path)}
    second = {o.feed: o for o in await poll_all(runtime, feeds, tmp_path)}

    view = await shown(runtime, feeds)
    assert view["limited"]["state"] == "backoff"
    assert view["limited"]["last_error"] == reason
    assert view["limited"]["http_status"] == int(route[1:])
    assert first["neighbour"].error.endswith(
        "not polled: its server asked us to wait (Retry-After) until "
        + first["neighbour"].error.rsplit("until ", 1)[1]
    )
    assert "Retry-After" in second["limited"].error
    assert len(second_server.requests) == 1, "nothing more asked of a server that said wait"
    assert not first["elsewhere"].error and not second["elsewhere"].error
    assert len(feed_server.requests_to("/feed.xml")) == 2


async def test_unexpected_crash_is_contained(
    runtime: Runtime, feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("bug")

    feed_server.add_route("/other.xml", rss("Other", [("Fine", "https://other.example.org/1")]))
    feeds = [
        *feeds_on(feed_server, {"crashing": "/feed.xml"}),
        FeedConfig(id="fine", url=feed_server.url("/other.xml")),
    ]
    app = PollerApp(runtime, feeds, tmp_path)
    real_poll = app._poller.poll

    async def poll(feed: FeedConfig, *args: object, **kwargs: object) -> object:
        if feed.id == "crashing":
            explode()
        return await real_poll(feed, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(app._poller, "poll", poll)
    try:
        outcomes = {o.feed: o for o in await app.poll_all()}
    finally:
        await app.close()
    view = await shown(runtime, feeds)
    assert view["crashing"]["state"] == "error"
    assert view["crashing"]["last_error"] == "internal error (RuntimeError); see the poller's log"
    assert outcomes["fine"].new == 1 and view["fine"]["state"] == "ok"


async def test_poll_holds_one_connection_per_server(
    runtime: Runtime, feed_server: FeedServer, tmp_path: Path
) -> None:
    feed_server.add_route("/not-modified", lambda _request: Response(304, {"ETag": '"x"'}))
    feeds = [
        FeedConfig(id=f"quiet-{n}", url=feed_server.url(f"/not-modified?n={n}")) for n in range(8)
    ]
    await poll_all(runtime, feeds, tmp_path)
    assert len(feed_server.requests) == 8
    assert feed_server.connections == 1, "304s must not cost a new connection each"


async def test_wirewatch_feeds_command_shows_each_feeds_health(
    runtime: Runtime,
    feed_server: FeedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "feeds.yaml").write_text(
        "feeds:\n"
        f"  - {{id: good, url: '{feed_server.url('/feed.xml')}'}}\n"
        f"  - {{id: bomb, url: '{feed_server.url('/gzip-bomb.xml')}'}}\n"
        "  - {id: later, url: 'http://127.0.0.1:9/never.xml'}\n"
    )
    feeds = feeds_on(feed_server, {"good": "/feed.xml", "bomb": "/gzip-bomb.xml"})
    await poll_all(runtime, feeds, tmp_path)
    monkeypatch.setenv("WIREWATCH_REDIS_URL", runtime.url)
    monkeypatch.setenv("WIREWATCH_KEY_PREFIX", runtime.keys.prefix)
    from services.cli import main

    assert await asyncio.to_thread(main, ["feeds", "--json", "--config", str(tmp_path)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["id"], r["state"]) for r in rows] == [
        ("good", "ok"),
        ("bomb", "error"),
        ("later", "never polled"),
    ]
    assert rows[1]["last_error"] == HOSTILE["gzip-bomb"][2]
    assert rows[0]["new_items"] == 2 and rows[0]["http_status"] == 200

    assert await asyncio.to_thread(main, ["feeds", "--config", str(tmp_path)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == [
        "id",
        "state",
        "last",
        "poll",
        "(UTC)",
        "http",
        "new",
        "errors",
        "last",
        "error",
    ]
    assert table[2].startswith("bomb ") and table[2].endswith(HOSTILE["gzip-bomb"][2])
    assert "never polled" in table[3]


async def test_articles_a_feed_still_lists_are_never_new_again(
    runtime: Runtime, feed_server: FeedServer, tmp_path: Path
) -> None:
    """Seen marks are renewed by a full re-read every half retention, even behind 304s."""
    feeds = feeds_on(feed_server, {"normal": "/feed.xml"})
    await poll_all(runtime, feeds, tmp_path)
    seen_key = runtime.keys.seen("https://news.example.org/a/1")
    await runtime.client.expire(seen_key, 60)  # as if the retention were nearly over
    status_key = runtime.keys.feed_status("normal")
    stored = json.loads(await runtime.client.get(status_key))
    stored["parsed_at"] = "2000-01-01T00:00:00+00:00"  # last parsed long ago
    await runtime.client.set(status_key, json.dumps(stored))

    outcomes = await poll_all(runtime, feeds, tmp_path)

    assert "if-none-match" not in feed_server.requests_to("/feed.xml")[-1].headers
    assert [o.new for o in outcomes] == [0]
    assert len(await published(runtime.client, runtime.keys)) == 2
    assert await runtime.client.ttl(seen_key) > 29 * 86400  # renewed for a full retention


async def test_every_feed_shows_in_metrics_before_its_first_poll(
    runtime: Runtime, tmp_path: Path
) -> None:
    feeds = [FeedConfig("not-polled-yet", "http://127.0.0.1:9/never.xml")]
    app = PollerApp(runtime, feeds, tmp_path)
    try:
        text = generate_latest(REGISTRY).decode()
    finally:
        await app.close()
    for outcome in ("ok", "not_modified", "error"):
        line = f'wirewatch_polls_total{{feed="not-polled-yet",outcome="{outcome}"}} 0.0'
        assert line in text
    assert 'wirewatch_poll_bytes_total{feed="not-polled-yet"} 0.0' in text
