"""Every real feed in the corpus, served over loopback HTTP, through fetch -> parse -> Article.

The corpus is ~400 real-world feeds (`corpus/feeds`, listed in FEEDS_INDEX.tsv with the script
their text is written in) and feedparser's own ~2,100 test documents (`corpus/feedparser-tests`,
served with the `Header:` lines they carry, as feedparser's test server does). For each we
check what a user would notice: nothing crashes, every entry feedparser can read becomes an
Article (none lost to DOCTYPE stripping, charset repair or our adapter), and non-Latin feeds
come out in their own script, not as mojibake. A summary is printed (run with `-s`).
"""

from __future__ import annotations

import asyncio
import gzip
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import feedparser
import pytest

from services.common.config import FeedConfig
from services.common.models import Article
from services.common.text import html_to_text
from services.poller.charset import script_of
from services.poller.entries import NotAFeedError
from services.poller.fetch import FetchLimits, fetch_feed, make_client
from services.poller.http_client import HttpClient
from services.poller.poll import read_articles
from tests.conftest import corpus_path
from tests.support.feed_server import FeedServer, Request, Response

pytestmark = pytest.mark.integration

LIMITS = FetchLimits(total_timeout=20.0)
_HEADER = re.compile(rb"^Header:\s*([A-Za-z-]+):\s*(.*?)\s*$", re.MULTILINE)
_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".atom": "application/atom+xml"}


@dataclass(frozen=True)
class CorpusFeed:
    """One corpus document as served: path, HTTP headers, and what feedparser makes of it."""

    name: str
    path: Path
    headers: dict[str, str]
    script: str  # FEEDS_INDEX's dominant script ("" when not listed or not text)
    entries: int  # what feedparser alone reads from the served bytes


@dataclass
class Read:
    feed: CorpusFeed
    articles: list[Article]
    error: str = ""


def _corpus() -> list[CorpusFeed]:
    feeds_dir, tests_dir = corpus_path("feeds"), corpus_path("feedparser-tests")
    root = feeds_dir.parent
    listed: list[tuple[Path, str]] = []
    for line in (feeds_dir / "FEEDS_INDEX.tsv").read_text().splitlines()[1:]:
        columns = line.split("\t")
        listed.append((root / columns[0], columns[12].strip("- ")))
    listed += [(p, "") for p in sorted(tests_dir.rglob("*.xml"))]
    return [_describe(path, root, script) for path, script in listed]


def _describe(path: Path, root: Path, script: str) -> CorpusFeed:
    raw = path.read_bytes()
    body = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    headers = {"Content-Type": _CONTENT_TYPES.get(path.suffix, "application/xml")}
    if "feedparser-tests" in path.parts:
        for name, value in _HEADER.findall(body[:4096]):
            headers[name.decode().title()] = value.decode("latin-1")
    if raw is not body:
        headers["Content-Encoding"] = "gzip"
    baseline = feedparser.parse(
        body,
        response_headers={k.lower(): v for k, v in headers.items()},
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    return CorpusFeed(str(path.relative_to(root)), path, headers, script, len(baseline.entries))


def _serve(server: FeedServer, feed: CorpusFeed) -> str:
    route = "/" + quote(feed.name)
    body, headers = feed.path.read_bytes(), dict(feed.headers)

    def handler(_request: Request) -> Response:
        return Response(200, dict(headers), body)

    server.add_route(route, handler)
    return server.url(route)


@pytest.fixture(scope="module")
def corpus() -> list[CorpusFeed]:
    return _corpus()


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    async with make_client(LIMITS, "wirewatch-corpus-test") as c:
        yield c


async def _read_all(client: HttpClient, corpus: list[CorpusFeed]) -> list[Read]:
    now = datetime.now(UTC)
    slots = asyncio.Semaphore(20)
    with FeedServer() as server:
        urls = [_serve(server, feed) for feed in corpus]

        async def read(feed: CorpusFeed, url: str) -> Read:
            async with slots:
                result = await fetch_feed(client, url, base_dir=Path("."), limits=LIMITS)
            if result.error:
                return Read(feed, [], result.error)
            config = FeedConfig(id=f"corpus-{len(feed.name)}", url=url)
            try:
                return Read(feed, read_articles(config, result, now).articles)
            except NotAFeedError as exc:
                return Read(feed, [], str(exc))

        return await asyncio.gather(*(read(f, u) for f, u in zip(corpus, urls, strict=True)))


def _summary(reads: list[Read], seconds: float) -> str:
    failures = Counter(re.sub(r" \(.*", "", r.error) for r in reads if r.error)
    lines = [
        f"corpus: {len(reads)} documents served, {sum(not r.error for r in reads)} read as "
        f"feeds, {sum(len(r.articles) for r in reads)} articles, {len(failures) and sum(failures.values())} "
        f"not feeds, in {seconds:.1f}s",
        *(f"  {count:4d}  {reason}" for reason, count in failures.most_common()),
    ]
    return "\n".join(lines)


def _sample_script(read: Read) -> str:
    """The script of the feed's outlet name and titles (summaries when titles are empty)."""
    outlet = read.articles[0].outlet
    titles = " ".join(html_to_text(a.title) for a in read.articles)
    if not any(ch.isalpha() for ch in titles):
        titles = " ".join(html_to_text(a.summary) for a in read.articles)
    return script_of(f"{outlet} {titles}")


async def test_every_corpus_feed_becomes_articles(
    client: HttpClient, corpus: list[CorpusFeed]
) -> None:
    started = time.perf_counter()
    reads = await _read_all(client, corpus)
    print("\n" + _summary(reads, time.perf_counter() - started))

    lost = [(r.feed.name, r.feed.entries, len(r.articles), r.error) for r in reads]
    assert [x for x in lost if x[1] != x[2]] == [], "entries feedparser reads must all be Articles"
    assert all(r.error.startswith(("not a feed", "empty body")) for r in reads if r.error)
    assert sum(not r.error for r in reads) > 0.95 * len(reads)

    wrong_script = [
        (r.feed.name, r.feed.script, _sample_script(r))
        for r in reads
        if r.articles and r.feed.script not in ("", "Latin")
        if _sample_script(r) != r.feed.script
    ]
    assert wrong_script == [], "non-Latin feeds must keep their script (no mojibake)"
    checked = [r for r in reads if r.articles and r.feed.script not in ("", "Latin")]
    assert len(checked) >= 25


async def test_urdu_feed_has_arabic_script_titles(client: HttpClient) -> None:
    path = corpus_path("feeds", "miniflux", "urdu_UTF8.xml")
    feed = _describe(path, path.parents[2], "Arabic")
    (read,) = await _read_all(client, [feed])
    assert len(read.articles) == feed.entries > 20
    for article in read.articles:
        assert script_of(html_to_text(article.title)) == "Arabic", article.title
        assert article.lang == "ur"
        assert article.link.startswith("http")
