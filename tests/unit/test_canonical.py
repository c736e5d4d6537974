"""Table tests for canonical links and article identity (DESIGN §4)."""

from __future__ import annotations

import hashlib

import pytest

from services.poller.canonical import article_id, canonical_links, canonical_url

BASE = "https://Feeds.Example.org/world/rss.xml"


@pytest.mark.parametrize(
    ("link", "base", "expected"),
    [
        # already canonical: unchanged
        ("https://example.org/a/b?x=1", None, "https://example.org/a/b?x=1"),
        # scheme and host lower-cased, path case kept
        ("HTTPS://Example.ORG/News/Item", None, "https://example.org/News/Item"),
        # default ports removed, others kept
        ("http://example.org:80/a", None, "http://example.org/a"),
        ("https://example.org:443/a", None, "https://example.org/a"),
        ("https://example.org:8443/a", None, "https://example.org:8443/a"),
        ("http://example.org:443/a", None, "http://example.org:443/a"),
        ("https://example.org:/a", None, "https://example.org/a"),
        # empty path becomes /
        ("https://example.org", None, "https://example.org/"),
        ("https://example.org?b=2", None, "https://example.org/?b=2"),
        # trailing dot of a fully-qualified host
        ("https://example.org./a", None, "https://example.org/a"),
        # fragment removed
        ("https://example.org/a#section-2", None, "https://example.org/a"),
        # tracking parameters removed, the rest sorted, encoding kept
        ("https://e.org/a?utm_source=rss&utm_medium=feed", None, "https://e.org/a"),
        ("https://e.org/a?z=1&utm_campaign=x&a=2", None, "https://e.org/a?a=2&z=1"),
        ("https://e.org/a?UTM_Source=x&id=5", None, "https://e.org/a?id=5"),
        ("https://e.org/a?fbclid=1&gclid=2&dclid=3&msclkid=4&id=1", None, "https://e.org/a?id=1"),
        ("https://e.org/a?mc_cid=1&mc_eid=2&_hsenc=3&_hsmi=4&p=1", None, "https://e.org/a?p=1"),
        ("https://e.org/a?yclid=1&igshid=2&ref_src=twsrc&q=x", None, "https://e.org/a?q=x"),
        ("https://e.org/a?at_medium=RSS&at_campaign=KARANGA", None, "https://e.org/a"),
        ("https://e.org/s?q=a%20b&lang=en", None, "https://e.org/s?lang=en&q=a%20b"),
        ("https://e.org/s?b=2&a=1&a=0", None, "https://e.org/s?a=0&a=1&b=2"),
        ("https://e.org/s?flag&a=1", None, "https://e.org/s?a=1&flag"),
        ("https://e.org/s?&&a=1&", None, "https://e.org/s?a=1"),
        # parameters that merely look like tracking stay
        (
            "https://e.org/a?ref=home&source=x&utm=1",
            None,
            "https://e.org/a?ref=home&source=x&utm=1",
        ),
        # relative links resolved against the feed URL
        ("/news/1", BASE, "https://feeds.example.org/news/1"),
        ("item?id=3&utm_source=x", BASE, "https://feeds.example.org/world/item?id=3"),
        ("../up", BASE, "https://feeds.example.org/up"),
        ("//cdn.Example.org/x", BASE, "https://cdn.example.org/x"),
        ("https://other.org/x", BASE, "https://other.org/x"),
        ("  https://e.org/padded  ", None, "https://e.org/padded"),
        # userinfo dropped (also when inherited from a feed URL with credentials)
        ("https://user:pw@e.org/a", None, "https://e.org/a"),
        ("/a", "https://user:s3cret@feeds.e.org/rss", "https://feeds.e.org/a"),
        # IPv6 literal host
        ("http://[2001:DB8::1]:80/x", None, "http://[2001:db8::1]/x"),
        # non-http links are left alone apart from the scheme
        ("mailto:Editor@Example.org", None, "mailto:Editor@Example.org"),
    ],
)
def test_canonical_url(link: str, base: str | None, expected: str) -> None:
    assert canonical_url(link, base) == expected


def test_canonical_url_is_idempotent() -> None:
    once = canonical_url("HTTP://E.org:80/a?utm_source=1&b=2&a=1#f")
    assert canonical_url(once) == once


def test_tracking_variants_collapse() -> None:
    links = [
        "https://News.Example.org:443/story/1?utm_source=rss&utm_medium=feed",
        "https://news.example.org/story/1?fbclid=abc123",
        "https://news.example.org/story/1#comments",  # a lone fragment is dropped
    ]
    assert {canonical_url(link) for link in links} == {"https://news.example.org/story/1"}
    assert set(canonical_links(links[:2])) == {"https://news.example.org/story/1"}


@pytest.mark.parametrize(
    ("links", "expected"),
    [
        # a live blog: entries differ only by fragment, so they keep it
        (
            ["https://e.org/live#p1", "https://e.org/live#p2", "https://e.org/other#x"],
            ["https://e.org/live#p1", "https://e.org/live#p2", "https://e.org/other"],
        ),
        # the exception is judged after canonicalisation
        (
            ["https://E.org/live?utm_source=a#p1", "https://e.org:443/live#p2"],
            ["https://e.org/live#p1", "https://e.org/live#p2"],
        ),
        # the same fragment twice is not a difference: dropped
        (
            ["https://e.org/a#top", "https://e.org/a#top"],
            ["https://e.org/a", "https://e.org/a"],
        ),
        # one with and one without a fragment differ only by it: both keep what they have
        (["https://e.org/a#x", "https://e.org/a"], ["https://e.org/a#x", "https://e.org/a"]),
        # relative links and empty links
        (
            ["/a#1", "/a#2", ""],
            ["https://feeds.example.org/a#1", "https://feeds.example.org/a#2", ""],
        ),
    ],
)
def test_canonical_links_fragment_exception(links: list[str], expected: list[str]) -> None:
    assert canonical_links(links, BASE) == expected


@pytest.mark.parametrize(
    ("link", "guid", "expected"),
    [
        ("https://e.org/a", "urn:uuid:1", "https://e.org/a"),
        ("", "urn:uuid:1", "urn:uuid:1"),
        ("  ", "  tag:e.org,2025:1 ", "tag:e.org,2025:1"),
        ("", None, None),
        ("", "   ", None),
    ],
)
def test_article_id(link: str, guid: str | None, expected: str | None) -> None:
    got = article_id(link=link, guid=guid, feed_id="bbc", title="Hello")
    if expected is None:
        digest = hashlib.sha256(b"bbc\nHello").hexdigest()
        assert got == f"hash:{digest}"
    else:
        assert got == expected


def test_article_id_hash_depends_on_feed_and_title() -> None:
    ids = {
        article_id(link="", guid=None, feed_id=feed, title=title)
        for feed, title in [("a", "x"), ("b", "x"), ("a", "y"), ("a\nx", ""), ("a", "x")]
    }
    assert len(ids) == 4


def test_same_article_in_two_feeds_has_one_id() -> None:
    (a,) = canonical_links(["https://wire.example.com/world/ceasefire?utm_source=a"], BASE)
    (b,) = canonical_links(["HTTPS://WIRE.example.com/world/ceasefire#top"], BASE)
    assert article_id(link=a, guid="a-1", feed_id="a", title="t") == article_id(
        link=b, guid="b-9", feed_id="b", title="t"
    )
