"""Feed documents -> Articles: which value lands in which field, and documents that lie about
their encoding. Pure: bytes in, Articles out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.common.models import Article
from services.poller.charset import detect_non_latin, is_utf8_in_disguise, script_of
from services.poller.entries import NotAFeedError, entries_to_articles, parse_feed

FETCHED = datetime(2025, 11, 25, 12, 0, tzinfo=UTC)
URL = "https://feeds.example.org/world/rss.xml"


def articles(
    body: bytes, *, header_lang: str | None = None, ctype: str | None = None
) -> list[Article]:
    parsed = parse_feed(body, content_type=ctype, url=URL)
    return entries_to_articles(
        parsed,
        feed_id="world",
        feed_url=URL,
        outlet=parsed.title or "world",
        http_language=header_lang,
        fetched=FETCHED,
    )


RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>World Desk</title><link>https://example.org/</link><language>en-GB</language>
<item>
  <title>AT&amp;T buys 5 &lt; 6 Pyongyang cafes</title>
  <link>/world/2025/11/cafe?utm_source=rss&amp;id=7#comments</link>
  <guid isPermaLink="false">urn:world:1</guid>
  <description>&lt;p&gt;A &lt;em&gt;short&lt;/em&gt; summary.&lt;/p&gt;</description>
  <content:encoded><![CDATA[<p>The <b>full</b> story.</p>]]></content:encoded>
  <dc:creator>Kim &amp; Lee</dc:creator>
  <category>Asia</category><category>Business</category><category>Asia</category>
  <pubDate>Tue, 25 Nov 2025 14:30:00 +0200</pubDate>
</item>
<item><title>No link, only a guid</title><guid>urn:world:2</guid></item>
<item><title>Nothing but a title</title></item>
</channel></rss>"""


def test_rss_fields() -> None:
    first, guid_only, bare = articles(RSS, header_lang="fr")

    assert first.title == "AT&amp;T buys 5 &lt; 6 Pyongyang cafes"  # plain text, escaped
    assert first.link == "https://feeds.example.org/world/2025/11/cafe?id=7"
    assert first.id == first.link  # identity: the canonical link...
    assert first.summary == "<p>A <em>short</em> summary.</p>"  # markup kept as markup
    assert first.content == "<p>The <b>full</b> story.</p>"
    assert first.author == "Kim &amp; Lee"
    assert first.categories == ["Asia", "Business"]
    assert first.lang == "en-GB"  # the feed's, before the server's
    assert first.published == datetime(2025, 11, 25, 12, 30, tzinfo=UTC)  # in UTC
    assert (first.feed, first.outlet, first.fetched) == ("world", "World Desk", FETCHED)

    assert guid_only.id == "urn:world:2"  # ...else the guid...
    assert guid_only.link == ""
    assert guid_only.published is None
    assert bare.id.startswith("hash:") and bare.id != guid_only.id  # ...else feed + title


ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de" xml:base="https://blog.example.net/">
  <title>Blog</title><id>urn:blog</id><updated>2025-11-20T08:00:00Z</updated>
  <entry xml:lang="ko">
    <title type="html">&lt;i&gt;Seoul&lt;/i&gt; news</title>
    <link rel="alternate" href="posts/1"/>
    <id>urn:blog:1</id>
    <updated>2025-11-20T08:00:00+09:00</updated>
    <content type="text">5 &lt; 6 &amp; true</content>
    <author><name>Min</name></author>
    <category term="korea"/>
  </entry>
  <entry>
    <title>Only updated, xhtml content</title>
    <link href="https://blog.example.net/posts/2"/>
    <id>urn:blog:2</id>
    <updated>2025-11-21T00:00:00Z</updated>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Hi</p></div></content>
  </entry>
</feed>"""


def test_atom_fields() -> None:
    korean, german = articles(ATOM, header_lang="en")

    assert korean.title == "<i>Seoul</i> news"
    assert korean.link == "https://blog.example.net/posts/1"  # xml:base wins over the feed URL
    assert korean.content == "5 &lt; 6 &amp; true"
    assert korean.lang == "ko"  # the entry's own
    assert korean.published == datetime(2025, 11, 19, 23, 0, tzinfo=UTC)
    assert (korean.author, korean.categories) == ("Min", ["korea"])
    assert german.lang == "de"
    assert "<p>Hi</p>" in german.content


def test_server_language_is_the_last_resort() -> None:
    body = RSS.replace(b"<language>en-GB</language>", b"")
    assert articles(body, header_lang="fr-CA, fr")[0].lang == "fr-CA"


def test_fragment_links_are_kept_only_when_they_tell_entries_apart() -> None:
    body = b"""<rss version="2.0"><channel><title>Live</title>
    <item><title>1</title><link>https://live.example.org/blog#p1</link></item>
    <item><title>2</title><link>https://live.example.org/blog#p2</link></item>
    <item><title>3</title><link>https://live.example.org/other#top</link></item>
    </channel></rss>"""
    assert [a.link for a in articles(body)] == [
        "https://live.example.org/blog#p1",
        "https://live.example.org/blog#p2",
        "https://live.example.org/other",
    ]


def test_text_and_html_alternatives_give_the_html_once() -> None:
    body = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title>
    <entry><title>t</title><id>urn:1</id>
    <content type="html">&lt;p&gt;Body&lt;/p&gt;</content>
    <content type="text">Body</content></entry></feed>"""
    assert articles(body)[0].content == "<p>Body</p>"


CYRILLIC_AS_UTF8 = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Новости</title>'
    "<item><title>Россия и Северная Корея провели учения</title>"
    "<link>https://ru.example.org/1</link></item></channel></rss>"
).encode("cp1251")


def test_a_lying_declaration_is_seen_through() -> None:
    parsed = parse_feed(CYRILLIC_AS_UTF8, content_type="application/rss+xml; charset=utf-8")
    assert parsed.note == "declared charset is wrong; read as cp1251"
    assert parsed.entries[0].title == "Россия и Северная Корея провели учения"


def test_utf8_labelled_latin1_is_read_as_utf8() -> None:
    body = '<?xml version="1.0" encoding="ISO-8859-1"?><rss version="2.0"><channel><title>x</title><item><title>Café in Zürich</title></item></channel></rss>'
    (article,) = articles(body.encode("utf-8"))
    assert article.title == "Café in Zürich"
    latin1 = articles(body.encode("latin-1"))[0]  # really Latin-1: left alone
    assert latin1.title == "Café in Zürich"


@pytest.mark.parametrize(
    ("body", "ctype", "reason"),
    [
        (b"   \n", None, "empty body"),
        (b"<!DOCTYPE html><html><body>Hi</body></html>", "text/html", "not a feed: got an HTML page (is the URL the feed's, not the site's?)"),
        (b'<?xml version="1.0"?><note><to>x</to></note>', "application/xml", "not a feed: no RSS or Atom document found"),
        (b"\x00\x01garbage\xff", None, "not a feed: no RSS or Atom document found (XML error at line 2, column 0: not well-formed (invalid token))"),
    ],
)  # fmt: skip
def test_not_a_feed_says_why(body: bytes, ctype: str | None, reason: str) -> None:
    with pytest.raises(NotAFeedError) as caught:
        parse_feed(body, content_type=ctype)
    assert str(caught.value) == reason


def test_an_empty_feed_is_a_feed() -> None:
    assert articles(b'<rss version="2.0"><channel><title>Quiet</title></channel></rss>') == []


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("Россия", "Cyrillic"),
        ("پاکستان میں", "Arabic"),
        ("北朝鮮とロシア", "CJK"),
        ("북한", "Hangul"),
        ("Ελλάδα", "Greek"),
        ("भारत", "Devanagari"),
        ("Café 2025", "Latin"),
        ("2025 ...", ""),
    ],
)
def test_script_of(text: str, script: str) -> None:
    assert script_of(text) == script


def test_charset_detection_only_trusts_non_latin_findings() -> None:
    assert detect_non_latin("Северная Корея провела испытания ракеты".encode("cp1251")) == "cp1251"
    assert detect_non_latin("Une journée à Zürich".encode("cp1252")) is None
    assert is_utf8_in_disguise("Café".encode(), "iso-8859-1")
    assert not is_utf8_in_disguise("Café".encode("latin-1"), "iso-8859-1")
    assert not is_utf8_in_disguise(b"plain ascii", "windows-1252")
    assert not is_utf8_in_disguise("Café".encode(), "utf-8")
