"""What `load_config` cannot see on its own: queries, schedules, targets and rule examples.

`check_config` parses every rule query and define, lints them, parses every digest schedule,
asks Apprise about every target and runs every rule example, and reports each problem at the
place in the file where it is: a query error at its own column inside the query text, wherever
YAML put that text (plain, quoted, or a `|`/`>` block over several lines).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from services.common.config.model import Config, Position, Problem, RuleConfig, SubscriptionConfig
from services.common.secrets import SecretUrl
from services.matcher.query import And, Document, Query, QueryError, evaluate, lint_query
from services.matcher.query import parse_query as _parse_query
from services.matcher.query.parser import parse_define

__all__ = ["check_config", "value_position"]

_EXAMPLE_CHARS = 60  # how much of a failing example is quoted in the message


def check_config(config: Config, *, parsed: dict[str, Query] | None = None) -> list[Problem]:
    """Every problem in the queries, defines, schedules, targets and examples of `config`.

    `parsed`, when given, receives each rule's parsed query (by rule id), so a caller that goes
    on to compile the rules need not parse them again.
    """
    problems: list[Problem] = []
    for name in config.defines:
        problems += _check_define(config, name)
    for rule in config.rules:
        query = _check_query(config, rule, problems)
        if query is not None:
            problems += _check_examples(rule, query)
            if parsed is not None:
                parsed[rule.id] = query
    for sub in config.subscriptions:
        problems += _check_schedule(config, sub)
        problems += _check_targets(sub)
    return problems


def _check_define(config: Config, name: str) -> list[Problem]:
    pos = config.define_pos.get(name)
    if pos is None:
        return []
    source = config.defines[name]
    place = _placer(config, pos, source)
    result = parse_define(name, config.defines)
    problems = []
    if isinstance(result, QueryError):
        problems.append(Problem.at(place(result.column), f"define {name}: {result.message}"))
    for warning in lint_query(source):
        problems.append(
            Problem.at(place(warning.column), f"define {name}: {warning.message}", warning=True)
        )
    return problems


def _check_query(config: Config, rule: RuleConfig, problems: list[Problem]) -> Query | None:
    """Parse and lint one rule's query; the parsed query, or None when it has an error."""
    result = _parse_query(rule.query, config.defines)
    if rule.query_pos is None:  # built in code, not read from a file
        return result if isinstance(result, Query) else None
    place = _placer(config, rule.query_pos, rule.query, opened=True)
    if isinstance(result, QueryError):
        problems.append(Problem.at(place(result.column), f"rule {rule.id}: {result.message}"))
    for warning in lint_query(rule.query):
        problems.append(
            Problem.at(place(warning.column), f"rule {rule.id}: {warning.message}", warning=True)
        )
    return result if isinstance(result, Query) else None


def _check_examples(rule: RuleConfig, query: Query) -> list[Problem]:
    """Each example text, as an article's title and content, must (or must not) match."""
    problems = []
    for expected, examples in ((True, rule.examples.match), (False, rule.examples.no_match)):
        for text, pos in examples:
            doc = Document.from_fields(title=text, content=text)
            if evaluate(query, doc) is expected:
                continue
            quoted = text if len(text) <= _EXAMPLE_CHARS else text[: _EXAMPLE_CHARS - 1] + "…"
            if expected:
                failed = _failed_parts(query, doc)
                why = f" ({failed} did not hold)" if failed else ""
                message = (
                    f'rule {rule.id}: example "{quoted}" is listed under match: but the query '
                    f"does not match it{why}; fix the query or move the example to no_match:"
                )
            else:
                message = (
                    f'rule {rule.id}: example "{quoted}" is listed under no_match: but the '
                    f"query matches it; narrow the query (AND, NOT) or move the example to match:"
                )
            problems.append(Problem.at(pos, message))
    return problems


def _failed_parts(query: Query, doc: Document) -> str:
    """The operands of a top-level AND that did not hold, as written in the query."""
    root = query.root
    if not isinstance(root, And):
        return ""
    failed = [child.text for child in root.children if not evaluate(Query(child, ""), doc)]
    return ", ".join(failed)


def _check_schedule(config: Config, sub: SubscriptionConfig) -> list[Problem]:
    from services.notifier.schedule import ScheduleError, parse_schedule

    schedule = parse_schedule(sub.digest)
    if not isinstance(schedule, ScheduleError):
        return []
    pos = sub.digest_pos or sub.pos
    if pos is None:
        return []
    place = _placer(config, pos, sub.digest)
    return [
        Problem.at(place(schedule.column), f"subscription {sub.id}: bad digest: {schedule.message}")
    ]


def _check_targets(sub: SubscriptionConfig) -> list[Problem]:
    """Targets Apprise cannot parse; the message shows only the redacted URL (DESIGN §4)."""
    if not sub.notify:
        return []
    from services.notifier.deliver import is_valid_target

    problems = []
    for index, url in enumerate(sub.notify):
        if _quietly(is_valid_target, url):
            continue
        pos = sub.notify_pos[index] if index < len(sub.notify_pos) else sub.pos
        if pos is not None:
            problems.append(
                Problem.at(
                    pos,
                    f"subscription {sub.id}: target {sub.target_name(index)} ({url.redacted()}) "
                    "is not an Apprise URL Apprise can use: check its scheme and format "
                    "(https://github.com/caronc/apprise/wiki)",
                )
            )
    return problems


def _quietly(test: Callable[[SecretUrl], bool], url: SecretUrl) -> bool:
    """Apprise logs an error for every URL it cannot parse; here that is our message to give."""
    apprise_log = logging.getLogger("apprise")
    level = apprise_log.level
    apprise_log.setLevel(logging.CRITICAL)
    try:
        return test(url)
    finally:
        apprise_log.setLevel(level)


def _placer(
    config: Config, pos: Position, value: str, *, opened: bool = False
) -> Callable[[int], Position]:
    """A function from a column in `value` to its position in the file (see value_position)."""
    source = config.sources.get(pos.path)

    def place(column: int) -> Position:
        if source is None:
            return Position(pos.path, pos.line, pos.col + column - 1)
        return value_position(source, pos, value, column, opened=opened)

    return place


@dataclass
class _Cursor:
    """Walks the raw text of a YAML scalar alongside the string it stands for."""

    raw: str
    offset: int
    style: str  # "" plain or block, "'" or '"' quoted

    def skip_layout(self) -> None:
        """Pass the white space YAML folds away (line breaks and indentation)."""
        while self.offset < len(self.raw) and self.raw[self.offset] in " \t\r\n":
            self.offset += 1

    def take(self, ch: str) -> bool:
        """Consume the raw text for one character of the value; False when they disagree."""
        raw, i = self.raw, self.offset
        if ch in " \t\n":
            if raw[i : i + 1] in (" ", "\t", "\r", "\n"):
                self.offset += 1
                return True
            escape = {"\n": "\\n", "\t": "\\t"}.get(ch)
            if self.style == '"' and escape is not None and raw[i : i + 2] == escape:
                self.offset += 2
                return True
            return False
        self.skip_layout()
        i = self.offset
        if self.style == "'" and ch == "'":
            matched = raw[i : i + 2] == "''"
            self.offset += 2 if matched else 0
            return matched
        if self.style == '"' and raw[i : i + 1] == "\\":
            matched = raw[i + 1 : i + 2] == ch and ch in '"\\/'
            self.offset += 2 if matched else 0
            return matched
        if raw[i : i + 1] == ch:
            self.offset += 1
            return True
        return False


def value_position(
    source: str, start: Position, value: str, column: int, *, opened: bool = False
) -> Position:
    """Where character `column` (1-based; one past the end allowed) of a YAML scalar is written.

    `start` is where the scalar starts (its opening quote, or `|`/`>`), or, with `opened`, its
    first character inside any quote. Follows line folding, indentation and the `''` and `\\"`
    escapes; for anything else (other escapes) it falls back to `start` plus the column.
    """
    fallback = Position(start.path, start.line, start.col + column - 1)
    starts = _line_starts(source)
    if not 0 < start.line <= len(starts):
        return fallback
    offset = starts[start.line - 1] + start.col - 1
    if offset >= len(source):
        return fallback
    style = ""
    if opened and offset > 0 and source[offset - 1] in "'\"":
        style = source[offset - 1]  # a plain scalar never starts right after a quote
    elif source[offset] in "'\"":
        style = source[offset]
        offset += 1
    elif source[offset] in "|>":  # block scalar: its text starts on the next line
        newline = source.find("\n", offset)
        if newline < 0:
            return fallback
        offset = newline + 1
    cursor = _Cursor(source, offset, style)
    for ch in value[: column - 1]:
        if not cursor.take(ch):
            return fallback
    if column - 1 < len(value) and value[column - 1] not in " \t\n":
        cursor.skip_layout()
    return _position_of(source, start, cursor.offset)


@lru_cache(maxsize=16)
def _line_starts(source: str) -> list[int]:
    """Offset of the first character of each line (lines end at `\n`, as YAML counts them)."""
    starts = [0]
    position = source.find("\n")
    while position >= 0:
        starts.append(position + 1)
        position = source.find("\n", position + 1)
    return starts


def _position_of(source: str, start: Position, offset: int) -> Position:
    line = source.count("\n", 0, offset) + 1
    col = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return Position(start.path, line, col)
