"""`wirewatch test-rule QUERY [--config DIR] [--text T | --file F | --feed URL]`: try a query.

Shows which parts of the query held and the matched words in the text, highlighted (colour on
a terminal, `[[word]]` otherwise). With `--feed`, fetches the feed once and reports each entry.
The config folder's `define`s are available as `@name`. Exit 0 when something matched, 1 when
nothing did, 2 for a bad query (shown with a caret under the column) or unreadable input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UserError, add_command
from services.common import event_loop
from services.common.config import Config, load_config
from services.common.models import Article
from services.common.settings import Settings
from services.common.text import token_offsets
from services.matcher.query import (
    And,
    Document,
    Near,
    Node,
    Not,
    Or,
    Query,
    QueryError,
    evaluate,
    lint_query,
    matched_spans,
    parse_query,
)
from services.matcher.rules import document_for

BOLD, RESET, GREEN, RED = "\x1b[1;33m", "\x1b[0m", "\x1b[32m", "\x1b[31m"
CONTEXT_CHARS = 70  # text shown on each side of a match in long fields
SHOWN_FIELDS = ("title", "summary", "content", "author")


def register(sub: Any) -> None:
    parser = add_command(
        sub, "test-rule", "try a query on a text, a file or a feed: what held, what matched", _cmd
    )
    parser.description = __doc__.split("\n\n", 1)[1] if __doc__ else None
    parser.add_argument("query", metavar="QUERY", help='the query, e.g. "Russia AND @dprk"')
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--text", metavar="T", help="the text of an article (title and content)")
    source.add_argument("--file", type=Path, metavar="F", help="a file holding such a text")
    source.add_argument("--feed", metavar="URL", help="a feed to fetch; each entry is tested")


def _cmd(args: argparse.Namespace, settings: Settings) -> int:
    config = _config(args, settings)
    query = parse_query(args.query, config.defines)
    colour = sys.stdout.isatty()
    if isinstance(query, QueryError):
        print(_pointed(args.query, query.column, f"bad query: {query.message}"), file=sys.stderr)
        return EXIT_USAGE
    for warning in lint_query(args.query):
        print(_pointed(args.query, warning.column, f"warning: {warning.message}"), file=sys.stderr)
    if args.feed:
        articles = event_loop.run(_fetch(args.feed, config, settings))
        return _report_feed(query, articles, colour)
    text = _text(args)
    doc = Document.from_fields(title=text, content=text)
    matched = evaluate(query, doc)
    _print_verdict(matched, colour)
    for line in explain_lines(query, doc, colour):
        print(line)
    print(f"  text: {_marked(doc.texts['title'], _text_ranges(query, doc), colour)}")
    return EXIT_OK if matched else EXIT_FAILED


def _text_ranges(query: Query, doc: Document) -> list[tuple[int, int]]:
    """Matched character ranges of a text tested as both title and content (same tokens)."""
    text = doc.texts["title"]
    offsets = token_offsets(text)
    if len(offsets) != len(doc.tokens("title")):  # rare compositions: show the text unmarked
        return []
    spans = matched_spans(query, doc)
    marks = spans.get("title", []) + spans.get("content", [])
    return [(offsets[first][0], offsets[last][1]) for first, last in marks]


def _config(args: argparse.Namespace, settings: Settings) -> Config:
    """The config folder, for its defines (and feed ids); none is fine unless --config named one."""
    config, problems = load_config(settings.config)
    if not settings.config.is_dir() and args.config is not None:
        raise UserError(str(problems[0]))
    return config


def _text(args: argparse.Namespace) -> str:
    if args.text is not None:
        return str(args.text)
    if args.file is not None:
        try:
            return Path(args.file).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise UserError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
    if sys.stdin.isatty():
        raise UserError("give --text T, --file F or --feed URL (or pipe a text in)")
    return sys.stdin.read()


def _pointed(source: str, column: int, message: str) -> str:
    """The message, then the query with a caret under the column (tabs kept so they line up)."""
    pad = "".join("\t" if ch == "\t" else " " for ch in source[: column - 1])
    return f"wirewatch: {message}\n  {source}\n  {pad}^"


def _print_verdict(matched: bool, colour: bool) -> None:
    verdict = "MATCH" if matched else "no match"
    if colour:
        verdict = f"{GREEN if matched else RED}{verdict}{RESET}"
    print(verdict)


def explain_lines(query: Query, doc: Document, colour: bool) -> list[str]:
    """Each part of the query, indented under the part it belongs to, marked ✓ held or ✗ not."""
    lines = []
    for depth, node in _walk(query.root, 0):
        held = evaluate(Query(node, query.source), doc)
        mark = "✓" if held else "✗"
        if colour:
            mark = f"{GREEN if held else RED}{mark}{RESET}"
        lines.append(f"{'  ' * (depth + 1)}{mark} {node.text}")
    return lines


def _walk(node: Node, depth: int) -> Iterator[tuple[int, Node]]:
    yield depth, node
    children: tuple[Node, ...] = ()
    if isinstance(node, And | Or):
        children = node.children
    elif isinstance(node, Not):
        children = (node.child,)
    elif isinstance(node, Near):
        children = (node.left, node.right)
    for child in children:
        yield from _walk(child, depth + 1)


def highlighted(query: Query, doc: Document, fields: tuple[str, ...], colour: bool) -> list[str]:
    """`field: text` lines with the matched words marked; long fields only around the matches.

    The first field is always shown, the others only when something matched in them.
    """
    lines = []
    spans = matched_spans(query, doc)
    for key in fields:
        text = doc.texts.get(key, "")
        if not text:
            continue
        offsets = token_offsets(text)
        marks = spans.get(key, [])
        if len(offsets) != len(doc.tokens(key)):  # rare compositions: show the text unmarked
            marks = []
        if not marks and key != fields[0]:
            continue  # only the first field (the title) is shown without a match in it
        ranges = [(offsets[first][0], offsets[last][1]) for first, last in marks]
        lines.append(f"  {key}: {_marked(text, ranges, colour)}")
    return lines


def _marked(text: str, ranges: list[tuple[int, int]], colour: bool) -> str:
    """The text with each range marked; far from any range, long text is cut to `…`."""
    opening, closing = (BOLD, RESET) if colour else ("[[", "]]")
    pieces: list[str] = []
    position = 0
    for start, end in _merged(ranges):
        pieces.append(_context(text[position:start], first=not pieces, last=False))
        pieces.append(f"{opening}{text[start:end]}{closing}")
        position = end
    pieces.append(_context(text[position:], first=not pieces, last=True))
    return "".join(pieces).replace("\n", " ")


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _context(gap: str, *, first: bool, last: bool) -> str:
    """Text between marks, shortened in the middle (or at the open end) when it is long."""
    if len(gap) <= 2 * CONTEXT_CHARS:
        return gap
    if first and last:
        return gap[: 2 * CONTEXT_CHARS] + "…"
    if first:
        return "…" + gap[-CONTEXT_CHARS:]
    if last:
        return gap[:CONTEXT_CHARS] + "…"
    return gap[:CONTEXT_CHARS] + " … " + gap[-CONTEXT_CHARS:]


async def _fetch(url: str, config: Config, settings: Settings) -> list[Article]:
    """The feed's entries as the poller would publish them (feed id from the config if listed)."""
    from services.poller.entries import NotAFeedError, entries_to_articles, parse_feed
    from services.poller.fetch import FetchLimits, fetch_feed, make_client

    limits = FetchLimits(
        max_bytes=settings.max_body_bytes,
        total_timeout=settings.fetch_timeout,
        max_redirects=settings.max_redirects,
    )
    known = next((feed for feed in config.feeds if feed.url == url), None)
    async with make_client(limits, settings.user_agent) as client:
        result = await fetch_feed(client, url, base_dir=Path.cwd(), limits=limits)
    if result.error is not None or result.body is None:
        raise UserError(f"cannot fetch the feed: {result.error or 'no body'}")
    try:
        parsed = parse_feed(result.body, content_type=result.content_type, url=result.url)
    except NotAFeedError as exc:
        raise UserError(f"cannot read the feed: {exc}") from exc
    return entries_to_articles(
        parsed,
        feed_id=known.id if known else "test-rule",
        feed_url=result.url,
        outlet=(known.title if known else "") or parsed.title,
        http_language=result.content_language,
        fetched=datetime.now(UTC),
    )


def _report_feed(query: Query, articles: list[Article], colour: bool) -> int:
    """One line per entry (✓ or ✗ and its title), the highlights under each that matched."""
    hits = 0
    for article in articles:
        doc = document_for(article)
        matched = evaluate(query, doc)
        hits += matched
        mark = "✓" if matched else "✗"
        if colour:
            mark = f"{GREEN if matched else RED}{mark}{RESET}"
        print(f"{mark} {article.title or '(no title)'}  {article.link}")
        if matched:
            for line in highlighted(query, doc, SHOWN_FIELDS, colour):
                print(f"  {line}")
    print(f"{hits} of {len(articles)} entries match")
    return EXIT_OK if hits else EXIT_FAILED
