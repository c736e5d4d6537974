"""fetch_feed against a real loopback server: normal feeds, conditional GET, files, and every
hostile case of DESIGN §5. Each hostile test asserts no exception, a bounded result and one
clear reason; limits are small so the whole module stays fast.
"""

from __future__ import annotations

import gzip
import socket
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import brotli  # type: ignore[import-untyped]
import feedparser
import pytest

from services.poller.canonical import article_id, canonical_links
from services.poller.fetch import (
    FetchLimits,
    FetchResult,
    fetch_feed,
    host_key,
    make_client,
    redact_url,
    retry_after_seconds,
)
from services.poller.http_client import HttpClient
from services.poller.xml_safety import strip_doctype
from tests.support.feed_server import (
    NORMAL_ETAG,
    NORMAL_FEED,
    NORMAL_LAST_MODIFIED,
    FeedServer,
    Response,
    feed_server_fixture,  # noqa: F401 - provides the `feed_server` fixture
    rss,
)

LIMITS = FetchLimits(
    max_bytes=1_000_000, total_timeout=2.0, connect_timeout=1.0, read_timeout=3.0, max_redirects=3
)
UA = "wirewatch-test/0.1"
MEMORY_CAP = 16 * 1024 * 1024  # a fetch with a 1 MB cap must never peak far beyond it

Fetch = Callable[..., Awaitable[FetchResult]]


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    async with make_client(LIMITS, UA) as c:
        yield c


@pytest.fixture
def fetch(client: HttpClient, tmp_path: Path) -> Fetch:
    async def run(url: str, **kwargs: Any) -> FetchResult:
        kwargs.setdefault("limits", LIMITS)
        return await fetch_feed(client, url, base_dir=tmp_path, **kwargs)

    return run


async def fetch_measured(fetch: Fetch, url: str) -> tuple[FetchResult, int]:
    """The result and the peak of Python allocations while fetching."""
    tracemalloc.start()
    try:
        result = await fetch(url)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def assert_failed(result: FetchResult, error: str) -> None:
    assert result.error == error
    assert result.body is None
    assert not result.not_modified


# --- well-behaved ---------------------------------------------------------------------------


async def test_normal_feed(fetch: Fetch, feed_server: FeedServer) -> None:
    result = await fetch(feed_server.url("/feed.xml"))
    assert result.error is None
    assert result.ok
    assert result.status == 200
    assert result.body == NORMAL_FEED
    assert result.etag == NORMAL_ETAG
    assert result.last_modified == NORMAL_LAST_MODIFIED
    assert result.content_type == "application/rss+xml; charset=utf-8"
    assert result.url == feed_server.url("/feed.xml")
    (request,) = feed_server.requests_to("/feed.xml")
    assert request.headers["user-agent"] == UA
    assert "br" in request.headers["accept-encoding"]
    assert "if-none-match" not in request.headers


async def test_etag_round_trip(fetch: Fetch, feed_server: FeedServer) -> None:
    first = await fetch(feed_server.url("/feed.xml"))
    second = await fetch(feed_server.url("/feed.xml"), etag=first.etag)
    assert second.not_modified
    assert second.ok
    assert second.status == 304
    assert second.body is None
    assert second.etag == NORMAL_ETAG
    assert feed_server.requests_to("/feed.xml")[1].headers["if-none-match"] == NORMAL_ETAG


async def test_last_modified_round_trip(fetch: Fetch, feed_server: FeedServer) -> None:
    result = await fetch(feed_server.url("/feed.xml"), last_modified=NORMAL_LAST_MODIFIED)
    assert result.not_modified
    assert result.last_modified == NORMAL_LAST_MODIFIED
    assert feed_server.requests[-1].headers["if-modified-since"] == NORMAL_LAST_MODIFIED


async def test_stale_etag_gets_full_body(fetch: Fetch, feed_server: FeedServer) -> None:
    result = await fetch(feed_server.url("/feed.xml"), etag='"old"')
    assert not result.not_modified
    assert result.body == NORMAL_FEED


async def test_304_without_validators_keeps_ours(fetch: Fetch, feed_server: FeedServer) -> None:
    feed_server.add_route("/bare-304", lambda _request: Response(304))
    result = await fetch(feed_server.url("/bare-304"), etag='"e1"', last_modified="x")
    assert result.not_modified
    assert (result.etag, result.last_modified) == ('"e1"', "x")


async def test_304s_and_small_errors_reuse_the_connection(
    fetch: Fetch, feed_server: FeedServer
) -> None:
    first = await fetch(feed_server.url("/feed.xml"))
    for path in ("/feed.xml", "/404", "/feed.xml", "/hop-2", "/feed.xml"):
        await fetch(feed_server.url(path), etag=first.etag)
    assert len(feed_server.requests) == 7
    assert feed_server.connections == 1, "a new TCP connection per poll costs more than the poll"


async def test_result_counts_wire_bytes(fetch: Fetch, feed_server: FeedServer) -> None:
    plain = await fetch(feed_server.url("/feed.xml"))
    packed = await fetch(feed_server.url("/gzip.xml"))
    assert plain.bytes_read == len(NORMAL_FEED)
    assert 0 < packed.bytes_read < len(NORMAL_FEED) == len(packed.body or b"")


@pytest.mark.parametrize("path", ["/gzip.xml", "/br.xml"])
async def test_compressed_feed_is_decoded(fetch: Fetch, feed_server: FeedServer, path: str) -> None:
    result = await fetch(feed_server.url(path))
    assert result.error is None
    assert result.body == NORMAL_FEED


async def test_redirects_are_followed(fetch: Fetch, feed_server: FeedServer) -> None:
    result = await fetch(feed_server.url("/hop-1"))
    assert result.error is None
    assert result.body == NORMAL_FEED
    assert result.url == feed_server.url("/feed.xml")


# --- files ----------------------------------------------------------------------------------


async def test_file_url(fetch: Fetch, tmp_path: Path) -> None:
    path = tmp_path / "feeds" / "my feed.xml"
    path.parent.mkdir()
    path.write_bytes(NORMAL_FEED)
    result = await fetch(path.as_uri())
    assert result.error is None
    assert result.status is None
    assert result.body == NORMAL_FEED
    assert result.url == path.as_uri()


async def test_relative_and_absolute_paths(fetch: Fetch, tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "a.xml").write_bytes(NORMAL_FEED)
    relative = await fetch("seeds/a.xml")
    absolute = await fetch(str(tmp_path / "seeds" / "a.xml"))
    assert relative.body == absolute.body == NORMAL_FEED


async def test_file_unchanged_is_not_modified(fetch: Fetch, tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_bytes(NORMAL_FEED)
    first = await fetch("a.xml")
    second = await fetch("a.xml", etag=first.etag)
    assert second.not_modified and second.body is None
    (tmp_path / "a.xml").write_bytes(NORMAL_FEED + b"\n")
    third = await fetch("a.xml", etag=first.etag)
    assert not third.not_modified and third.body == NORMAL_FEED + b"\n"


async def test_missing_file_names_the_path(fetch: Fetch, tmp_path: Path) -> None:
    result = await fetch("nope/missing.xml")
    assert_failed(result, f"file not found: {tmp_path / 'nope' / 'missing.xml'}")
    result = await fetch("file:///definitely/not/here.xml")
    assert_failed(result, "file not found: /definitely/not/here.xml")


async def test_directory_is_not_a_feed(fetch: Fetch, tmp_path: Path) -> None:
    assert_failed(await fetch(str(tmp_path)), f"not a regular file: {tmp_path}")


async def test_file_over_cap(fetch: Fetch, tmp_path: Path) -> None:
    (tmp_path / "big.xml").write_bytes(b" " * (LIMITS.max_bytes + 1))
    assert_failed(await fetch("big.xml"), "body exceeds 1000000 bytes")


async def test_unsupported_scheme(fetch: Fetch) -> None:
    assert_failed(await fetch("gopher://example.org/feed"), "unsupported URL scheme gopher:")


# --- HTTP errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/404", "HTTP 404 Not Found"),
        ("/410", "HTTP 410 Gone"),
        ("/500", "HTTP 500 Internal Server Error"),
        ("/no-such-route", "HTTP 404 Not Found"),
    ],
)
async def test_http_error_status(
    fetch: Fetch, feed_server: FeedServer, path: str, error: str
) -> None:
    result = await fetch(feed_server.url(path))
    assert_failed(result, error)
    assert result.status == int(error.split()[1])
    assert result.retry_after is None


async def test_429_retry_after_seconds(fetch: Fetch, feed_server: FeedServer) -> None:
    result = await fetch(feed_server.url("/429"))
    assert_failed(result, "HTTP 429 Too Many Requests")
    assert result.retry_after == 120.0


async def test_503_retry_after_http_date(fetch: Fetch, feed_server: FeedServer) -> None:
    result = await fetch(feed_server.url("/503"))
    assert_failed(result, "HTTP 503 Service Unavailable")
    assert result.retry_after is not None
    assert 0 < result.retry_after <= 61


def test_retry_after_parsing() -> None:
    now = datetime(2025, 11, 25, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("30", now) == 30.0
    assert retry_after_seconds(" 1.5 ", now) == 1.5
    assert retry_after_seconds("inf", now) is None
    assert retry_after_seconds("-5", now) is None
    assert retry_after_seconds(format_datetime(now + timedelta(minutes=2), usegmt=True), now) == 120
    assert retry_after_seconds(format_datetime(now - timedelta(minutes=2), usegmt=True), now) == 0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds("", now) is None
    assert retry_after_seconds(None, now) is None


async def test_server_reason_phrase_is_not_trusted(fetch: Fetch, feed_server: FeedServer) -> None:
    feed_server.add_route("/odd", lambda _request: Response(599, {}, b""))
    result = await fetch(feed_server.url("/odd"))
    assert result.error is not None
    assert result.error.startswith("HTTP 599")
    assert len(result.error) < 140


async def test_connection_refused(fetch: Fetch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert_failed(await fetch(f"http://127.0.0.1:{port}/feed.xml"), "connection refused")


async def test_password_never_in_error_or_url(fetch: Fetch, feed_server: FeedServer) -> None:
    secret = "s3cr3t-pw"
    for path in ("/404", "/to-ftp", "/loop-a"):
        url = feed_server.url(path).replace("http://", f"http://alice:{secret}@")
        result = await fetch(url)
        assert result.error
        assert secret not in result.error
        assert secret not in result.url
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = await fetch(f"http://alice:{secret}@127.0.0.1:{port}/x")
    assert result.error == "connection refused"
    assert secret not in result.url and "alice:***@" in result.url


@pytest.mark.parametrize(
    ("url", "server"),
    [
        ("http://Example.org./a", "example.org:80"),
        ("https://u:p@example.org/x", "example.org:443"),
        ("http://example.org:80/", "example.org:80"),
        ("https://EXAMPLE.org:8443/feed", "example.org:8443"),
        ("http://[::1]:8080/x", "[::1]:8080"),
        ("file:///srv/feed.xml", ""),
        ("../seeds/world.xml", ""),
    ],
)
def test_host_key_names_the_server(url: str, server: str) -> None:
    assert host_key(url) == server


def test_redact_url() -> None:
    assert redact_url("https://u:p%40ss@h.org:8/x?q=1") == "https://u:***@h.org:8/x?q=1"
    assert redact_url("https://ghp_token@h.org/x") == "https://***@h.org/x"
    assert redact_url("https://h.org/x@y?a=b:c@d") == "https://h.org/x@y?a=b:c@d"
    assert redact_url("http://a:b@c@d/e") == "http://a:***@d/e"
    assert redact_url("not a url") == "not a url"


# --- hostile feeds --------------------------------------------------------------------------


async def test_redirect_loop(fetch: Fetch, feed_server: FeedServer) -> None:
    result = await fetch(feed_server.url("/loop-a"))
    assert_failed(result, "more than 3 redirects")
    assert len(feed_server.requests) == LIMITS.max_redirects + 1


async def test_redirect_to_ftp(fetch: Fetch, feed_server: FeedServer) -> None:
    result = await fetch(feed_server.url("/to-ftp"))
    assert_failed(result, "redirect to non-HTTP URL ftp://ftp.example.org/feed.xml")


async def test_gzip_bomb_is_cut_off(fetch: Fetch, feed_server: FeedServer) -> None:
    result, peak = await fetch_measured(fetch, feed_server.url("/gzip-bomb.xml"))
    assert_failed(result, "body exceeds 1000000 bytes")
    assert result.status == 200
    assert peak < MEMORY_CAP


async def test_brotli_bomb_is_cut_off(fetch: Fetch, feed_server: FeedServer) -> None:
    result, peak = await fetch_measured(fetch, feed_server.url("/br-bomb.xml"))
    assert_failed(result, "body exceeds 1000000 bytes")
    assert peak < MEMORY_CAP


@pytest.mark.parametrize("path", ["/huge.xml", "/huge-declared.xml"])
async def test_huge_body_is_cut_off(fetch: Fetch, feed_server: FeedServer, path: str) -> None:
    result, peak = await fetch_measured(fetch, feed_server.url(path))
    assert_failed(result, "body exceeds 1000000 bytes")
    assert peak < MEMORY_CAP


async def test_slow_drip_times_out(fetch: Fetch, feed_server: FeedServer) -> None:
    result = await fetch(feed_server.url("/slow.xml"))
    assert_failed(result, "timed out after 2s")


async def test_stalled_server_hits_read_timeout(
    client: HttpClient, tmp_path: Path, feed_server: FeedServer
) -> None:
    def stall() -> Iterator[bytes]:
        yield b"<?xml"
        time.sleep(1.5)
        yield b"?>"

    feed_server.add_route("/stall.xml", lambda _request: Response(200, {}, stall()))
    limits = FetchLimits(read_timeout=0.3, total_timeout=5.0)
    result = await fetch_feed(
        client, feed_server.url("/stall.xml"), base_dir=tmp_path, limits=limits
    )
    assert_failed(result, "no data for 0.3s (read timed out)")


async def test_billion_laughs_is_defused(fetch: Fetch, feed_server: FeedServer) -> None:
    result = await fetch(feed_server.url("/billion-laughs.xml"))
    assert result.ok and result.body
    tracemalloc.start()
    try:
        parsed = feedparser.parse(strip_doctype(result.body))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_CAP
    assert len(parsed.entries) == 1
    assert len(parsed.entries[0].get("title", "")) < 100


async def test_external_entity_is_never_resolved(fetch: Fetch, feed_server: FeedServer) -> None:
    result = await fetch(feed_server.url("/external-entity.xml"))
    assert result.ok and result.body
    parsed = feedparser.parse(strip_doctype(result.body))
    assert len(parsed.entries) == 1
    assert "root:" not in repr(parsed)


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send
        ("gzip, br", lambda data: brotli.compress(gzip.compress(data))),
        ("identity", lambda data: data),
    ],
)
async def test_other_content_encodings(
    fetch: Fetch, feed_server: FeedServer, encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    feed_server.add_route("/enc.xml", compress(NORMAL_FEED), headers={"Content-Encoding": encoding})
    result = await fetch(feed_server.url("/enc.xml"))
    assert result.error is None
    assert result.body == NORMAL_FEED


async def test_html_instead_of_feed(fetch: Fetch, feed_server: FeedServer) -> None:
    result = await fetch(feed_server.url("/html"))
    assert_failed(result, "not a feed: server sent text/html")
    assert result.status == 200


async def test_html_labelled_as_xml(fetch: Fetch, feed_server: FeedServer) -> None:
    feed_server.add_route("/moved", b"<head><title>Moved</title></head><body>here</body>")
    result = await fetch(feed_server.url("/moved"))
    assert_failed(result, "not a feed: server sent an HTML page (labelled application/rss+xml)")


async def test_an_xhtml_doctype_alone_is_not_html(fetch: Fetch, feed_server: FeedServer) -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN" "x">'
        + NORMAL_FEED[38:]
    )
    feed_server.add_route("/xhtml-doctype.xml", body)
    assert (await fetch(feed_server.url("/xhtml-doctype.xml"))).body == body


async def test_empty_body(fetch: Fetch, feed_server: FeedServer) -> None:
    assert_failed(await fetch(feed_server.url("/empty.xml")), "empty body")


async def test_binary_garbage_reaches_parser_harmlessly(
    fetch: Fetch, feed_server: FeedServer
) -> None:
    # Bytes are bytes to the fetcher; the parser (bozo, no version, no entries) calls it no feed.
    result = await fetch(feed_server.url("/garbage.xml"))
    assert result.ok and result.body
    parsed = feedparser.parse(result.body)
    assert not parsed.entries
    assert not parsed.version


async def test_wrong_declared_charset_still_parses(fetch: Fetch, feed_server: FeedServer) -> None:
    result = await fetch(feed_server.url("/wrong-charset.xml"))
    assert result.ok and result.body
    parsed = feedparser.parse(result.body, response_headers={"content-type": result.content_type})
    assert parsed.bozo  # the declared UTF-8 is a lie...
    assert len(parsed.entries) == 1  # ...but the entry is still there for the caller to judge


async def test_gzip_with_corrupt_stream(fetch: Fetch, feed_server: FeedServer) -> None:
    body = gzip.compress(NORMAL_FEED)
    broken = body[:10] + b"\xff" * 20 + body[30:]
    feed_server.add_route("/broken-gzip.xml", broken, headers={"Content-Encoding": "gzip"})
    result = await fetch(feed_server.url("/broken-gzip.xml"))
    assert result.error is not None
    assert result.error.startswith("could not decompress gzip body")
    assert result.body is None


async def test_unknown_content_encoding(fetch: Fetch, feed_server: FeedServer) -> None:
    feed_server.add_route("/zstd.xml", b"\x28\xb5\x2f\xfd", headers={"Content-Encoding": "zstd"})
    assert_failed(await fetch(feed_server.url("/zstd.xml")), "unsupported Content-Encoding: zstd")


# --- the same article, however it is linked -------------------------------------------------


async def test_tracking_duplicates_collapse(fetch: Fetch, feed_server: FeedServer) -> None:
    result = await fetch(feed_server.url("/tracking.xml"))
    assert result.body
    parsed = feedparser.parse(result.body)
    links = canonical_links([e.link for e in parsed.entries], result.url)
    assert links == [
        "https://news.example.org/story/1",
        "https://news.example.org/story/1",
        "https://news.example.org/story/2?b=1&id=7",
        "https://news.example.org/story/2?b=1&id=7",
    ]


async def test_same_article_in_two_feeds(fetch: Fetch, feed_server: FeedServer) -> None:
    ids: list[set[str]] = []
    for feed in ("outlet-a", "outlet-b"):
        result = await fetch(feed_server.url(f"/{feed}.xml"))
        assert result.body
        entries = feedparser.parse(result.body).entries
        links = canonical_links([e.link for e in entries], result.url)
        ids.append(
            {
                article_id(link=link, guid=e.get("id"), feed_id=feed, title=e.title)
                for link, e in zip(links, entries, strict=True)
            }
        )
    assert ids[0] & ids[1] == {"https://wire.example.com/world/ceasefire"}


async def test_fragment_feed_keeps_anchors(fetch: Fetch, feed_server: FeedServer) -> None:
    result = await fetch(feed_server.url("/fragments.xml"))
    assert result.body
    links = canonical_links([e.link for e in feedparser.parse(result.body).entries], result.url)
    assert links == [
        "https://live.example.org/blog#post-1",
        "https://live.example.org/blog#post-2",
        "https://live.example.org/other",
    ]


def test_rss_helper_round_trips() -> None:
    parsed = feedparser.parse(rss("T", [("A & B", "https://e.org/?a=1&b=2")]))
    assert parsed.entries[0].link == "https://e.org/?a=1&b=2"
