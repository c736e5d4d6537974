"""Rendering a `Digest` as plain text, HTML (email) and Markdown (chat), and splitting Markdown.

Owns how a digest looks and that feed text can never inject markup: every article field is
treated as HTML from an untrusted feed, reduced to plain text (tags dropped, `<script>` and
`<style>` content dropped, character references decoded), and only then escaped for the
target format (`html.escape` for HTML, backslash escapes for Markdown). Links are shown only
when they are `http(s)`; the full URL is also printed as visible text in text and HTML.

Matched terms are highlighted in snippets: `highlight` is a list of words, phrases or
prefixes (`weapon*`) for every item, or a mapping article id -> such a list for each item's
lead (what `highlight.matched_terms` computes). They are found by token (`highlight.py`) and
shown as `*word*` in text, `**word**` in Markdown and `<b>word</b>` in HTML. When the start of
an item's text holds no matched term but a later part does, the snippet shows that part.

The HTML-to-text step is `services.common.text.html_to_text`, the same one matching uses,
so the words a rule matched are the words the snippet shows.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from services.common.text import html_to_text
from services.notifier.digest import Digest, DigestGroup, DigestItem
from services.notifier.highlight import Highlighter
from services.notifier.stories import article_time, outlet_of

__all__ = [
    "SNIPPET_CHARS",
    "Highlight",
    "MarkdownPart",
    "digest_title",
    "render_html",
    "render_markdown",
    "render_text",
    "split_markdown",
    "split_markdown_parts",
]

Highlight = Sequence[str] | Mapping[str, Sequence[str]]
"""Terms for every item, or per lead article id."""

SNIPPET_CHARS = 200
"""Longest snippet shown under an item, in characters (a word-boundary cut plus "…")."""

MIN_SPLIT_LIMIT = 80
"""Smallest message size `split_markdown` accepts: a header and a truncated item must fit."""

ELLIPSIS = "…"

SCAN_CHARS = 5000
"""How far into an article's text a matched term is looked for when choosing the snippet."""

LEAD_IN_CHARS = 60
"""Context kept before the first matched term when the snippet starts mid-text."""


def _html_to_text(markup: str) -> str:
    """Feed HTML as one line of plain text (DESIGN §3 stripping, whitespace collapsed)."""
    return " ".join(html_to_text(markup).split())


# ---------------------------------------------------------------------------------------------
# The format-independent view of an item


@dataclass(frozen=True)
class _View:
    headline: str
    outlet: str
    when: str
    link: str  # "" when the article has no http(s) link
    snippet: str
    also: tuple[str, ...]
    marker: Highlighter

    def pieces(self) -> list[tuple[str, bool]]:
        """The snippet as (text, is_matched_term) pieces."""
        return self.marker.segments(self.snippet) if self.snippet else []


_NO_TERMS = Highlighter(())


def _highlighters(d: Digest, highlight: Highlight) -> dict[str, Highlighter]:
    """One highlighter per lead article id ("" for the one shared by every item)."""
    if isinstance(highlight, Mapping):
        return {
            item.story.lead.id: Highlighter(highlight.get(item.story.lead.id, ()))
            for item in d.items
        }
    return {"": Highlighter(highlight)}


def _marker_for(markers: Mapping[str, Highlighter], item: DigestItem) -> Highlighter:
    return markers.get(item.story.lead.id) or markers.get("") or _NO_TERMS


def _view(item: DigestItem, zone: ZoneInfo, marker: Highlighter = _NO_TERMS) -> _View:
    lead = item.story.lead
    headline = _html_to_text(lead.title) or "(untitled)"
    texts = [t for t in (_html_to_text(lead.summary), _html_to_text(lead.content)) if t]
    texts = [t for t in texts if t != headline]
    return _View(
        headline=headline,
        outlet=" ".join(outlet_of(lead).split()),
        when=_format_time(article_time(lead), zone),
        link=_safe_link(lead.link),
        snippet=_snippet(texts, marker),
        also=tuple(" ".join(name.split()) for name in item.story.also_outlets),
        marker=marker,
    )


def _snippet(texts: Sequence[str], marker: Highlighter) -> str:
    """The first text that shows a matched term (around its first one), else the first text."""
    if marker:
        for text in texts:  # the common case first: a term right at the start
            if marker.spans(text[:SNIPPET_CHARS]):
                return _shorten(text, SNIPPET_CHARS)
        for text in texts:
            hit = marker.first_span(text[:SCAN_CHARS])
            if hit is not None:
                return _window(text, *hit)
    return _shorten(texts[0], SNIPPET_CHARS) if texts else ""


def _window(text: str, start: int, end: int) -> str:
    """A snippet of `text` that shows the span [start, end), with a little context before it."""
    if end <= SNIPPET_CHARS - 1:
        return _shorten(text, SNIPPET_CHARS)
    cut = text.rfind(" ", 0, max(0, start - LEAD_IN_CHARS)) + 1
    if start - cut > LEAD_IN_CHARS * 2:
        cut = max(0, start - LEAD_IN_CHARS)
    return ELLIPSIS + _shorten(text[cut:].lstrip(), SNIPPET_CHARS - 1)


def _format_time(moment: datetime | None, zone: ZoneInfo) -> str:
    return "" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _safe_link(link: str) -> str:
    """The link if it is an http(s) URL (never `javascript:` and friends), else ""."""
    link = link.strip()
    try:
        scheme = urlsplit(link).scheme.lower()
    except ValueError:
        return ""
    return link if scheme in ("http", "https") and not any(c.isspace() for c in link) else ""


def _shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, at a word boundary when one is near, with "…"."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return ELLIPSIS[:limit]
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 3 // 4:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + ELLIPSIS


def _more_line(more: int) -> str:
    return f"+{more} more {'story' if more == 1 else 'stories'}"


def _meta(view: _View) -> str:
    return ", ".join(part for part in (view.outlet, view.when) if part)


# ---------------------------------------------------------------------------------------------
# Plain text


def render_text(d: Digest, *, highlight: Highlight = ()) -> str:
    """Plain text, for targets that show no markup: readable as is, every URL in full."""
    markers = _highlighters(d, highlight)
    sections: list[str] = []
    for group in d.groups:
        lines = [group.title, "=" * len(group.title)]
        for item in group.items:
            view = _view(item, d.zone, _marker_for(markers, item))
            lines.append("")
            lines.append(f"* {view.headline}")
            if meta := _meta(view):
                lines.append(f"  {meta}")
            if view.link:
                lines.append(f"  {view.link}")
            if view.snippet:
                marked = "".join(f"*{p}*" if hit else p for p, hit in view.pieces())
                lines.append(f"  {marked}")
            if view.also:
                lines.append(f"  also: {', '.join(view.also)}")
        sections.append("\n".join(lines))
    if d.more:
        sections.append(_more_line(d.more))
    return "\n\n".join(sections) + "\n"


# ---------------------------------------------------------------------------------------------
# Markdown

_MD_SPECIAL_RE = re.compile(r"([\\`*_\[\]<>#|~])")
_MD_LINE_START_RE = re.compile(r"^(\s*)([-+=]|\d+[.)])")


def _md_escape(text: str) -> str:
    """Backslash-escape what Markdown would read as markup (CommonMark escapes any of these)."""
    return _MD_SPECIAL_RE.sub(r"\\\1", text)


def _md_line_start(line: str) -> str:
    """Escape a list, quote or heading marker at the start of an (escaped) line."""

    def escape(m: re.Match[str]) -> str:
        marker = m.group(2)
        marker = marker[:-1] + "\\" + marker[-1] if marker[0].isdigit() else "\\" + marker
        return m.group(1) + marker

    return _MD_LINE_START_RE.sub(escape, line)


def _md_url(link: str) -> str:
    return quote(link, safe="/:?#[]@!$&'*+,;=%-._~")


def _md_header(group: DigestGroup) -> str:
    return f"## {_md_escape(' '.join(group.title.split()))}"


def _md_item(view: _View) -> str:
    headline = _md_escape(view.headline)
    first = f"- [{headline}]({_md_url(view.link)})" if view.link else f"- {headline}"
    if meta := _meta(view):
        first += f" — {_md_escape(meta)}"
    lines = [first]
    if view.snippet:
        marked = "".join(
            f"**{_md_escape(p)}**" if hit else _md_escape(p) for p, hit in view.pieces()
        )
        lines.append("  " + _md_line_start(marked))
    if view.also:
        lines.append(f"  also: {_md_escape(', '.join(view.also))}")
    return "\n".join(lines)


def render_markdown(d: Digest, *, highlight: Highlight = ()) -> str:
    """The chat message: `## rule title` per group, one list item per story."""
    markers = _highlighters(d, highlight)
    sections = [
        _md_header(group)
        + "\n\n"
        + "\n".join(_md_item(_view(i, d.zone, _marker_for(markers, i))) for i in group.items)
        for group in d.groups
    ]
    if d.more:
        sections.append(_more_line(d.more))
    return "\n\n".join(sections)


@dataclass(frozen=True)
class MarkdownPart:
    """One chat message of a split digest: its text and the digest items it shows.

    `more` is set on the part that carries the "+N more" line (those stories count as
    delivered with it).
    """

    text: str
    items: tuple[DigestItem, ...]
    more: bool = False


def split_markdown(d: Digest, limit: int, *, highlight: Highlight = ()) -> list[str]:
    """`render_markdown` cut into messages of at most `limit` characters (see the parts)."""
    return [part.text for part in split_markdown_parts(d, limit, highlight=highlight)]


def split_markdown_parts(d: Digest, limit: int, *, highlight: Highlight = ()) -> list[MarkdownPart]:
    """`render_markdown` cut into messages of at most `limit` characters, for chat services.

    Cuts fall between items; each part repeats the header of the group it continues. An item
    too long for a message on its own is shortened (snippet, then `also`, then headline,
    then a hard cut, each ending in "…") rather than dropped: no item is ever lost. Each part
    knows its items, so a sender can record exactly what a service accepted.
    """
    if limit < MIN_SPLIT_LIMIT:
        raise ValueError(f"limit must be at least {MIN_SPLIT_LIMIT} characters")
    markers = _highlighters(d, highlight)
    parts: list[MarkdownPart] = []
    current = ""
    items: list[DigestItem] = []
    current_rule: str | None = None
    for group in d.groups:
        header = _shorten(_md_header(group), limit // 2)
        for item in group.items:
            view = _view(item, d.zone, _marker_for(markers, item))
            block = _md_item(view)
            same_group = bool(current) and current_rule == group.rule
            addition = ("\n" + block) if same_group else ("\n\n" + header + "\n\n" + block)
            if current and len(current) + len(addition) <= limit:
                current += addition
                items.append(item)
            else:
                if current:
                    parts.append(MarkdownPart(current, tuple(items)))
                budget = limit - len(header) - 2
                current = header + "\n\n" + _fit_item(view, budget)
                items = [item]
            current_rule = group.rule
    if d.more:
        line = _more_line(d.more)
        if current and len(current) + 2 + len(line) <= limit:
            current += "\n\n" + line
        else:
            if current:
                parts.append(MarkdownPart(current, tuple(items)))
            current, items = line, []
    if current:
        parts.append(MarkdownPart(current, tuple(items), more=bool(d.more)))
    return parts


def _fit_item(view: _View, budget: int) -> str:
    """The item's Markdown in at most `budget` characters, shortening the least useful first.

    Order: snippet (down to a lone "…"), `also`, time, outlet, headline; the link goes last
    (a hard cut), because a receiver identifies the item by it.
    """
    original = view
    while True:
        block = _md_item(view)
        over = len(block) - budget
        if over <= 0:
            if view != original and ELLIPSIS not in block:  # say that something was cut
                marked = block + "\n  " + ELLIPSIS
                block = marked if len(marked) <= budget else block[: budget - 1] + ELLIPSIS
            return block
        if view.snippet and view.snippet != ELLIPSIS:
            keep = len(view.snippet) - over - 1
            view = replace(view, snippet=_shorten(view.snippet, keep) if keep >= 20 else ELLIPSIS)
        elif view.also:
            names = [name for name in view.also if name != ELLIPSIS][:-1]
            view = replace(view, also=(*names, ELLIPSIS) if names else ())
        elif view.snippet:
            view = replace(view, snippet="")
        elif view.when:
            view = replace(view, when="")
        elif view.outlet:
            view = replace(view, outlet="")
        elif len(view.headline) > 1:
            view = replace(
                view, headline=_shorten(view.headline, max(1, len(view.headline) - over))
            )
        else:
            return block[: max(0, budget - 1)] + ELLIPSIS


# ---------------------------------------------------------------------------------------------
# HTML


def _h(text: str) -> str:
    return html.escape(text, quote=True)


def _html_item(view: _View) -> str:
    if view.link:
        head = f'<a href="{_h(view.link)}">{_h(view.headline)}</a>'
    else:
        head = f"<strong>{_h(view.headline)}</strong>"
    lines = [f'<li style="margin-bottom:1em">{head}']
    if meta := _meta(view):
        lines.append(f"<br>{_h(meta)}")
    if view.link:
        lines.append(f'<br><span style="color:#555">{_h(view.link)}</span>')
    if view.snippet:
        marked = "".join(f"<b>{_h(p)}</b>" if hit else _h(p) for p, hit in view.pieces())
        lines.append(f"<br>{marked}")
    if view.also:
        lines.append(f"<br><i>also: {_h(', '.join(view.also))}</i>")
    lines.append("</li>")
    return "\n".join(lines)


def render_html(d: Digest, *, highlight: Highlight = ()) -> str:
    """The HTML part of the email: a complete document, all feed text escaped."""
    markers = _highlighters(d, highlight)
    title = _h(digest_title(d))
    body: list[str] = []
    for group in d.groups:
        body.append(f"<h2>{_h(group.title)}</h2>")
        body.append("<ul>")
        body.extend(
            _html_item(_view(item, d.zone, _marker_for(markers, item))) for item in group.items
        )
        body.append("</ul>")
    if d.more:
        body.append(f"<p>{_h(_more_line(d.more))}</p>")
    return (
        "<!DOCTYPE html>\n"
        '<html>\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n"
        "</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def digest_title(d: Digest) -> str:
    """The subject line / chat title, e.g. `wirewatch: 7 new stories for korea-desk`."""
    n = d.story_count
    return f"wirewatch: {n} new {'story' if n == 1 else 'stories'} for {d.subscription}"
