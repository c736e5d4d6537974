"""A feed document -> `Article` messages: the adapter between feedparser and our contract.

Pure (no I/O): takes the bytes already fetched and the time of fetching as arguments.
Owns which feedparser value becomes which Article field (DESIGN §6 "Contract details"):

- every text field is HTML (DESIGN §3): values feedparser marks as plain text are escaped,
  so `AT&T <b>` in a plain title stays those characters after HTML is stripped;
- `lang`: the entry's own (`xml:lang`), else the feed's (`<language>`), else the server's
  `Content-Language`;
- `link`: canonical (DESIGN §4), relative links resolved against `xml:base` or the feed URL;
- `published`: UTC, from `published`, else `updated`, else `created`;
- `content`: each distinct content body once; a plain-text alternative only when there is
  no HTML one (it repeats the same text).
"""

from __future__ import annotations

import calendar
import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from services.common.models import Article
from services.poller.canonical import article_id, canonical_links
from services.poller.charset import detect_non_latin, is_utf8_in_disguise, recode_to_utf8
from services.poller.result import clip
from services.poller.xml_safety import strip_doctype

__all__ = ["NotAFeedError", "ParsedFeed", "entries_to_articles", "parse_feed"]

_PLAIN = ("text/plain", "text")


class NotAFeedError(ValueError):
    """The body parsed to nothing a feed reader could use (HTML page, empty body, garbage)."""


@dataclass(frozen=True)
class ParsedFeed:
    """feedparser's result, plus what we had to do to read it (shown as the feed's note)."""

    doc: Any
    note: str = ""

    @property
    def title(self) -> str:
        """The feed document's own title (the outlet name when the config gives none)."""
        return str(self.doc.feed.get("title", "") or "").strip()

    @property
    def entries(self) -> Sequence[Any]:
        return self.doc.entries  # type: ignore[no-any-return]


def parse_feed(body: bytes, *, content_type: str | None = None, url: str = "") -> ParsedFeed:
    """feedparser on bytes we fetched ourselves, with the DOCTYPE (entity bombs) removed first.

    Raises NotAFeedError with a reason a user can act on when nothing feed-like came back.
    A document whose declared encoding is wrong is re-read in the one it is really in.
    """
    safe = strip_doctype(body)
    doc = _feedparser(safe, content_type, url)
    note = ""
    if is_utf8_in_disguise(safe, str(doc.get("encoding", "") or "")):
        doc = _feedparser(recode_to_utf8(safe, "utf-8"), "application/xml", url)
        note = "declared charset is wrong; read as utf-8"
    elif _encoding_was_overridden(doc):
        real = detect_non_latin(safe)
        if real is not None:
            doc = _feedparser(recode_to_utf8(safe, real), "application/xml", url)
            note = f"declared charset is wrong; read as {real}"
        else:
            note = f"declared charset is wrong ({_bozo_text(doc)})"
    if not doc.get("version") and not doc.entries:
        raise NotAFeedError(_not_a_feed_reason(body, content_type, doc))
    return ParsedFeed(doc, note)


def entries_to_articles(
    parsed: ParsedFeed,
    *,
    feed_id: str,
    feed_url: str,
    outlet: str,
    http_language: str | None,
    fetched: datetime,
) -> list[Article]:
    """Every entry the document lists becomes an Article (the first poll has no silent baseline)."""
    entries = parsed.entries
    links = canonical_links([_raw_link(e) for e in entries], feed_url)
    feed_lang = _language(parsed.doc.feed.get("language"))
    header_lang = _language((http_language or "").split(",")[0])
    articles = []
    for entry, link in zip(entries, links, strict=True):
        title = _html(entry.get("title_detail"), entry.get("title"))
        guid = str(entry.get("id", "") or "").strip() or None
        articles.append(
            Article(
                id=article_id(link=link, guid=guid, feed_id=feed_id, title=title),
                feed=feed_id,
                title=title,
                summary=_html(entry.get("summary_detail"), entry.get("summary")),
                content=_content(entry.get("content")),
                author=_escape(entry.get("author")),
                categories=_categories(entry.get("tags")),
                lang=_entry_language(entry) or feed_lang or header_lang,
                link=link,
                published=_published(entry),
                fetched=fetched,
                outlet=outlet,
            )
        )
    return articles


def _feedparser(body: bytes, content_type: str | None, url: str) -> Any:
    headers = {"content-type": content_type} if content_type else {}
    if b"xml:base" in body and url.startswith(("http://", "https://", "file:")):
        # The base xml:base values resolve against. Only then: it costs feedparser 40 % more
        # time, and without xml:base `canonical_links` resolves against the feed URL alike.
        headers["content-location"] = url
    return feedparser.parse(
        body,
        response_headers=headers,
        sanitize_html=False,  # we escape everything we render ourselves
        resolve_relative_uris=False,
    )


def _encoding_was_overridden(doc: Any) -> bool:
    exc = doc.get("bozo_exception")
    return exc is not None and type(exc).__name__ == "CharacterEncodingOverride"


def _not_a_feed_reason(body: bytes, content_type: str | None, doc: Any) -> str:
    if not body.strip():
        return "empty body"
    start = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:15].lower()
    if "html" in (content_type or "").lower() or start.startswith((b"<!doctype html", b"<html")):
        return "not a feed: got an HTML page (is the URL the feed's, not the site's?)"
    detail = _bozo_text(doc)
    suffix = f" ({detail})" if detail else ""
    return f"not a feed: no RSS or Atom document found{suffix}"


def _bozo_text(doc: Any) -> str:
    """feedparser's complaint, without its `<unknown>:` file-name prefix."""
    exc = doc.get("bozo_exception")
    if exc is None:
        return ""
    text = str(exc).removeprefix("<unknown>:")
    if type(exc).__name__ == "SAXParseException":
        line, _, rest = text.partition(":")
        column, _, message = rest.partition(":")
        if line.isdigit() and column.isdigit():
            text = f"XML error at line {line}, column {column}:{message}"
    return clip(text)


def _raw_link(entry: Any) -> str:
    """The entry's link; one feedparser took from a guid only when it is a web URL.

    RSS says a guid is a permalink unless marked otherwise, so `<guid>12345</guid>` would
    otherwise become a link to `12345` relative to the feed.
    """
    link = str(entry.get("link", "") or "").strip()
    if entry.get("guidislink") and not link.lower().startswith(("http://", "https://")):
        return ""
    return link


def _html(detail: Any, value: Any) -> str:
    """A text construct as HTML: plain text is escaped, markup kept as the feed wrote it."""
    text = str(value or "")
    kind = str((detail or {}).get("type", "") or "").lower()
    return html.escape(text, quote=False) if kind in _PLAIN else text


def _escape(value: Any) -> str:
    return html.escape(str(value or "").strip(), quote=False)


def _content(contents: Iterable[Any] | None) -> str:
    """Every distinct content body; plain-text ones only when there is no markup one."""
    items = list(contents or [])
    markup = [c for c in items if str(c.get("type", "")).lower() not in _PLAIN]
    bodies: list[str] = []
    for item in markup or items:
        text = _html(item, item.get("value"))
        if text.strip() and text not in bodies:
            bodies.append(text)
    return "\n".join(bodies)


def _categories(tags: Iterable[Any] | None) -> list[str]:
    seen: list[str] = []
    for tag in tags or []:
        term = _escape(tag.get("term") or tag.get("label"))
        if term and term not in seen:
            seen.append(term)
    return seen


def _language(value: Any) -> str:
    return str(value or "").strip()


def _entry_language(entry: Any) -> str:
    for key in ("title_detail", "summary_detail"):
        detail = entry.get(key)
        if detail and detail.get("language"):
            return _language(detail["language"])
    return ""


def _published(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = dict.get(entry, key)  # not entry.get: feedparser maps published to updated
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None
