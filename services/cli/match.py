"""`wirewatch match [--config DIR] [FILE|-]`: offline matching of JSON-lines articles (DESIGN §6).

Streams: one article in, one line out, in constant memory, however long the input. Each output
line is `{"id": …, "rules": [ids…]}` (rule ids sorted; an empty list when nothing matched). A
line that is not an article is reported on stderr with its line number and skipped; the exit
code is then 1. Gzip input is read when the file name ends in `.gz`.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import io
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from services.cli.common import EXIT_FAILED, EXIT_OK, UserError, add_command
from services.common.settings import Settings
from services.matcher.query import Document
from services.matcher.reload import load_rule_set
from services.matcher.rules import RuleSet

TEXT_FIELDS = ("title", "summary", "content", "author", "feed", "lang", "link")
PROGRESS_SECONDS = 1.0

DESCRIPTION = """\
Match JSON-lines articles against the config's rules, offline (no Redis).

Each input line is one article: a JSON object with "id" and any of title, summary, content,
author, feed, lang, link (strings; text fields may be HTML), categories (a list of strings) and
published. Each output line is {"id": ..., "rules": [matched rule ids, sorted]}, in input order.

A bad input line (not JSON, not an object, no id, a field of the wrong type) is reported on
stderr as FILE:LINE: reason, and skipped; matching goes on and the exit code is 1. Exit 0 when
every line was an article, 2 when the config or the file cannot be used. FILE may be gzipped
(*.gz); - or no FILE reads stdin. On a terminal, progress is shown on stderr.
"""


class BadArticleError(ValueError):
    """An input line that is not an article; the message says why."""


def register(sub: Any) -> None:
    parser = add_command(
        sub, "match", "match JSON-lines articles against the rules, offline", run_match
    )
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "file",
        nargs="?",
        default="-",
        metavar="FILE|-",
        help="JSON-lines articles (gzip if it ends in .gz); - or none: stdin",
    )


def run_match(args: argparse.Namespace, settings: Settings) -> int:
    rule_set = _rules(settings)
    gc.freeze()  # the rules live until exit: spare the garbage collector from walking them
    name = "<stdin>" if args.file == "-" else args.file
    with _open_input(args.file) as lines:
        try:
            bad = _match_lines(rule_set, lines, name, sys.stdout)
        except BrokenPipeError:  # `wirewatch match big.jsonl | head`: the reader is done
            silence_stdout()
            return EXIT_OK
    return EXIT_FAILED if bad else EXIT_OK


def _rules(settings: Settings) -> RuleSet:
    """The folder's rules, checked like `wirewatch check` (any error stops us, as a service)."""
    rule_set, problems = load_rule_set(settings.config)
    errors = [problem for problem in problems if problem.severity == "error"]
    if rule_set is None or errors:
        listing = "\n".join(str(problem) for problem in errors)
        count = f"{len(errors)} problems in {settings.config}:\n" if len(errors) > 1 else ""
        raise UserError(count + listing)
    return rule_set


def _open_input(file: str) -> IO[str]:
    if file == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    path = Path(file)
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rt", encoding="utf-8", errors="replace")
        return path.open(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UserError(f"cannot read {file}: {exc.strerror or exc}") from exc


def _match_lines(rule_set: RuleSet, lines: IO[str], name: str, out: IO[str]) -> int:
    """Match every line; returns how many were skipped as bad."""
    bad = 0
    progress = _Progress() if sys.stderr.isatty() else None
    for number, line in _numbered(lines, name):
        if not line.strip():
            continue
        try:
            ident, doc = parse_article(line)
        except BadArticleError as exc:
            bad += 1
            print(f"wirewatch: {name}:{number}: {exc}; line skipped", file=sys.stderr)
            continue
        out.write(
            json.dumps({"id": ident, "rules": sorted(rule_set.match(doc))}, ensure_ascii=False)
        )
        out.write("\n")
        if progress is not None:
            progress.tick()
    if progress is not None:
        progress.done()
    out.flush()
    return bad


def _numbered(lines: IO[str], name: str) -> Iterator[tuple[int, str]]:
    try:
        yield from enumerate(lines, start=1)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise UserError(f"cannot read {name}: {exc}") from exc


def parse_article(line: str) -> tuple[Any, Document]:
    """One input line to (id, prepared article), or BadArticleError saying what is wrong."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadArticleError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(raw, dict):
        raise BadArticleError('not a JSON object (one article per line: {"id": ..., ...})')
    ident = raw.get("id")
    if not isinstance(ident, str | int) or isinstance(ident, bool) or ident == "":
        raise BadArticleError('no "id" (a string)')
    fields: dict[str, str] = {}
    for key in TEXT_FIELDS:
        value = raw.get(key)
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise BadArticleError(f'"{key}" must be a string, not {type(value).__name__}')
        fields[key] = value
    categories = raw.get("categories") or []
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        raise BadArticleError('"categories" must be a list of strings')
    return ident, Document.from_fields(categories=categories, **fields)


def silence_stdout() -> None:
    """After a broken pipe, point stdout at nothing so the interpreter's final flush is quiet."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


class _Progress:
    """`matched N articles (R/s)` on stderr, at most once a second (terminals only)."""

    def __init__(self) -> None:
        self.count = 0
        self.start = self.last = time.monotonic()

    def tick(self) -> None:
        self.count += 1
        if self.count % 256:
            return
        now = time.monotonic()
        if now - self.last >= PROGRESS_SECONDS:
            self.last = now
            rate = self.count / (now - self.start)
            sys.stderr.write(f"\rmatched {self.count:,} articles ({rate:,.0f}/s)")
            sys.stderr.flush()

    def done(self) -> None:
        if self.last != self.start:
            sys.stderr.write(f"\rmatched {self.count:,} articles{' ' * 20}\n")
            sys.stderr.flush()
