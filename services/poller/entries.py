"""A parsed feed document -> `Article` messages: the adapter between feedparser and our contract.

Pure (no I/O): takes the bytes already fetched and the time of fetching as arguments.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import feedparser

from services.common.models import Article
from services.poller.canonical import article_id, canonical_links
from services.poller.xml_safety import strip_doctype


class NotAFeedError(ValueError):
    """The body parsed to nothing a feed reader could use (HTML page, empty body, garbage)."""


def parse_feed(body: bytes, *, content_type: str | None = None, url: str = "") -> Any:
    """feedparser on bytes we fetched ourselves, with the DOCTYPE (entity bombs) removed first.

    Raises NotAFeedError with a reason a user can act on when nothing feed-like came back.
    """
    headers = {"content-type": content_type} if content_type else {}
    parsed = feedparser.parse(
        strip_doctype(body),
        response_headers=headers,
        sanitize_html=False,  # we escape everything we render ourselves
        resolve_relative_uris=False,
    )
    if not parsed.get("version") and not parsed.entries:
        if not body.strip():
            raise NotAFeedError("empty body")
        if "html" in (content_type or "").lower() or body.lstrip()[:15].lower().startswith(
            (b"<!doctype html", b"<html")
        ):
            raise NotAFeedError(
                "not a feed: got an HTML page (is the URL the feed's, not the site's?)"
            )
        reason = parsed.get("bozo_exception")
        detail = f": {reason}" if reason else ""
        raise NotAFeedError(f"not a feed: no RSS/Atom content found{detail}")
    return parsed


def feed_title(parsed: Any) -> str:
    """The feed document's own title (used as outlet name when the config gives none)."""
    return str(parsed.feed.get("title", "") or "").strip()


def entries_to_articles(
    parsed: Any,
    *,
    feed_id: str,
    feed_url: str,
    outlet: str,
    http_language: str | None,
    fetched: datetime,
) -> list[Article]:
    """Every entry the document lists becomes an Article (the first poll has no silent baseline)."""
    entries: Sequence[Any] = parsed.entries
    raw_links = [str(e.get("link", "") or "") for e in entries]
    links = canonical_links(raw_links, feed_url)
    feed_lang = str(parsed.feed.get("language", "") or "")
    articles = []
    for entry, link in zip(entries, links, strict=True):
        title = str(entry.get("title", "") or "")
        guid = entry.get("id") or None
        articles.append(
            Article(
                id=article_id(link=link, guid=guid, feed_id=feed_id, title=title),
                feed=feed_id,
                title=title,
                summary=str(entry.get("summary", "") or ""),
                content="\n".join(str(c.get("value", "")) for c in entry.get("content", []) or []),
                author=str(entry.get("author", "") or ""),
                categories=[
                    str(t.get("term")) for t in entry.get("tags", []) or [] if t.get("term")
                ],
                lang=_entry_language(entry)
                or feed_lang
                or (http_language or "").split(",")[0].strip(),
                link=link,
                published=_published(entry),
                fetched=fetched,
                outlet=outlet,
            )
        )
    return articles


def _entry_language(entry: Any) -> str:
    for key in ("title_detail", "summary_detail"):
        detail = entry.get(key)
        if detail and detail.get("language"):
            return str(detail["language"])
    return ""


def _published(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None
