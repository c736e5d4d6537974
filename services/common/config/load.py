"""Reading every `*.yaml` in the config folder into a `Config`, with every problem found at once.

ruamel.yaml is used (not PyYAML) because its round-trip nodes keep the line and column of every
key and value, so each problem can be reported as `path:line:col: message`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from services.common.config.model import (
    Config,
    FeedConfig,
    Position,
    Problem,
    RuleConfig,
    RuleExamples,
    SubscriptionConfig,
)
from services.common.secrets import SecretUrl

TOP_KEYS = ("feeds", "define", "rules", "subscriptions")
FEED_KEYS = {"id", "url", "title", "every", "tags"}
RULE_KEYS = {"id", "title", "query", "feeds", "lang", "tags", "examples"}
SUB_KEYS = {"id", "rules", "notify", "digest", "max_items"}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class _FileReader:
    """Turns one parsed YAML file into config values, collecting problems with positions."""

    def __init__(
        self, path: Path, text: str, env: Mapping[str, str], problems: list[Problem]
    ) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.env = env
        self.problems = problems

    def pos_of_key(self, node: CommentedMap, key: str) -> Position:
        line, col = node.lc.key(key)
        return Position(self.path, line + 1, col + 1)

    def pos_of_value(self, node: CommentedMap, key: str) -> Position:
        line, col = node.lc.value(key)
        return Position(self.path, line + 1, col + 1)

    def pos_of_item(self, node: CommentedSeq, index: int) -> Position:
        line, col = node.lc.item(index)
        return Position(self.path, line + 1, col + 1)

    def pos_of_node(self, node: Any) -> Position:
        return Position(self.path, node.lc.line + 1, node.lc.col + 1)

    def error(self, pos: Position, message: str) -> None:
        self.problems.append(Problem.at(pos, message))

    def substitute(self, text: str, pos: Position) -> str:
        """Replace ${VAR} from the environment; an undefined one is a problem at its column."""

        def repl(m: re.Match[str]) -> str:
            value = self.env.get(m.group(1))
            if value is None:
                self.error(
                    Position(pos.path, pos.line, pos.col + m.start()),
                    f"${{{m.group(1)}}} is not set: export {m.group(1)}=... or put it in .env",
                )
                return ""
            return value

        return _VAR.sub(repl, text)

    def string(self, node: CommentedMap, key: str, *, required: bool = False) -> str | None:
        if key not in node:
            if required:
                self.error(self.pos_of_node(node), f"missing `{key}`")
            return None
        value = node[key]
        pos = self.pos_of_value(node, key)
        if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
            self.error(pos, f"`{key}` must be a string")
            return None
        return self.substitute(str(value), pos)

    def string_list(self, node: CommentedMap, key: str) -> list[tuple[str, Position]]:
        if key not in node:
            return []
        value = node[key]
        if isinstance(value, str):  # a single value is accepted as a one-item list
            return [
                (self.substitute(value, self.pos_of_value(node, key)), self.pos_of_value(node, key))
            ]
        if not isinstance(value, CommentedSeq):
            self.error(self.pos_of_value(node, key), f"`{key}` must be a list of strings")
            return []
        out: list[tuple[str, Position]] = []
        for i, item in enumerate(value):
            pos = self.pos_of_item(value, i)
            if not isinstance(item, (str, int, float)) or isinstance(item, bool):
                self.error(pos, f"`{key}` items must be strings")
                continue
            out.append((self.substitute(str(item), pos), pos))
        return out

    def entries(
        self, doc: CommentedMap, key: str, allowed: set[str]
    ) -> list[tuple[CommentedMap, Position]]:
        value = doc[key]
        if value is None:
            return []
        if not isinstance(value, CommentedSeq):
            self.error(
                self.pos_of_value(doc, key), f"`{key}` must be a list of entries (`- id: ...`)"
            )
            return []
        out = []
        for i, item in enumerate(value):
            pos = self.pos_of_item(value, i)
            if not isinstance(item, CommentedMap):
                self.error(pos, f"each `{key}` entry must be a mapping with an `id`")
                continue
            for k in item:
                if str(k) not in allowed:
                    self.error(
                        self.pos_of_key(item, k),
                        f"unknown key `{k}` in {key}; expected one of: {', '.join(sorted(allowed))}",
                    )
            out.append((item, pos))
        return out


def parse_interval(text: str) -> float | None:
    """`5m` -> 300.0 seconds; None when it is not `<number><s|m|h|d>`."""
    m = _INTERVAL.match(text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else None


def load_config(folder: Path, env: Mapping[str, str] | None = None) -> tuple[Config, list[Problem]]:
    """Read the whole folder; never stops at the first problem so `check` can list them all."""
    env = os.environ if env is None else env
    problems: list[Problem] = []
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        problems.append(
            Problem(
                folder, 1, 1, f"config folder {what}; pass --config DIR or set WIREWATCH_CONFIG"
            )
        )
        return Config(folder=folder), problems
    files = sorted(folder.glob("*.yaml"))
    if not files:
        problems.append(Problem(folder, 1, 1, "no *.yaml files in the config folder"))
    acc = _Accumulator(folder)
    for path in files:
        _load_file(path, env, problems, acc)
    config = acc.build()
    _check_references(config, problems)
    return config, problems


class _Accumulator:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.feeds: list[FeedConfig] = []
        self.defines: dict[str, str] = {}
        self.define_pos: dict[str, Position] = {}
        self.rules: list[RuleConfig] = []
        self.subs: list[SubscriptionConfig] = []
        self.ids: dict[tuple[str, str], Position] = {}
        self.sources: dict[Path, str] = {}

    def claim_id(self, kind: str, ident: str, pos: Position, problems: list[Problem]) -> bool:
        first = self.ids.get((kind, ident))
        if first is not None:
            problems.append(
                Problem.at(
                    pos,
                    f"duplicate {kind} id `{ident}` (first defined at {first.path}:{first.line})",
                )
            )
            return False
        self.ids[(kind, ident)] = pos
        return True

    def build(self) -> Config:
        return Config(
            folder=self.folder,
            feeds=tuple(self.feeds),
            defines=self.defines,
            define_pos=self.define_pos,
            rules=tuple(self.rules),
            subscriptions=tuple(self.subs),
            sources=self.sources,
        )


def _load_file(
    path: Path, env: Mapping[str, str], problems: list[Problem], acc: _Accumulator
) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(path, 1, 1, f"cannot read file: {exc}"))
        return
    acc.sources[path] = text
    try:
        doc = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problems.append(Problem(path, line, col, f"bad YAML: {exc.problem or exc.context}"))
        return
    except YAMLError as exc:
        problems.append(Problem(path, 1, 1, f"bad YAML: {exc}"))
        return
    if doc is None:
        return
    reader = _FileReader(path, text, env, problems)
    if not isinstance(doc, CommentedMap):
        problems.append(
            Problem(path, 1, 1, f"top level must be a mapping with keys {', '.join(TOP_KEYS)}")
        )
        return
    for key in doc:
        if str(key) not in TOP_KEYS:
            reader.error(
                reader.pos_of_key(doc, key),
                f"unknown top-level key `{key}`; expected one of: {', '.join(TOP_KEYS)}",
            )
    if "feeds" in doc:
        _read_feeds(reader, doc, acc)
    if "define" in doc:
        _read_defines(reader, doc, acc)
    if "rules" in doc:
        _read_rules(reader, doc, acc)
    if "subscriptions" in doc:
        _read_subscriptions(reader, doc, acc)


def _read_id(
    reader: _FileReader, item: CommentedMap, pos: Position, kind: str, acc: _Accumulator
) -> str | None:
    ident = reader.string(item, "id", required=True)
    if ident is None:
        return None
    id_pos = reader.pos_of_value(item, "id")
    if not _ID.match(ident):
        reader.error(id_pos, f"bad {kind} id `{ident}`: use letters, digits, `.`, `_` and `-`")
        return None
    return ident if acc.claim_id(kind, ident, id_pos, reader.problems) else None


def _read_feeds(reader: _FileReader, doc: CommentedMap, acc: _Accumulator) -> None:
    for item, pos in reader.entries(doc, "feeds", FEED_KEYS):
        ident = _read_id(reader, item, pos, "feed", acc)
        url = reader.string(item, "url", required=True)
        every = 900.0
        if "every" in item:
            every_text = str(item["every"])
            parsed = parse_interval(every_text)
            if parsed is None or parsed < 5:
                reader.error(
                    reader.pos_of_value(item, "every"),
                    f"bad poll interval `{every_text}`: write a number and s|m|h|d, at least 5s (e.g. 15m)",
                )
            else:
                every = parsed
        tags = tuple(t for t, _ in reader.string_list(item, "tags"))
        if ident and url:
            title = reader.string(item, "title") or ""
            acc.feeds.append(FeedConfig(ident, url, title, every, tags, pos))


def _read_defines(reader: _FileReader, doc: CommentedMap, acc: _Accumulator) -> None:
    node = doc["define"]
    if node is None:
        return
    if not isinstance(node, CommentedMap):
        reader.error(
            reader.pos_of_value(doc, "define"),
            "`define` must map names to queries (`dprk: North Korea OR DPRK`)",
        )
        return
    for name in node:
        key_pos = reader.pos_of_key(node, name)
        if not _ID.match(str(name)):
            reader.error(
                key_pos, f"bad define name `{name}`: use letters, digits, `.`, `_` and `-`"
            )
            continue
        query = reader.string(node, str(name))
        if query is not None and acc.claim_id("define", str(name), key_pos, reader.problems):
            acc.defines[str(name)] = query
            acc.define_pos[str(name)] = reader.pos_of_value(node, str(name))


def _read_examples(reader: _FileReader, item: CommentedMap) -> RuleExamples:
    if "examples" not in item:
        return RuleExamples()
    node = item["examples"]
    if not isinstance(node, CommentedMap):
        reader.error(
            reader.pos_of_value(item, "examples"),
            "`examples` must have `match:` and/or `no_match:` lists",
        )
        return RuleExamples()
    for k in node:
        if str(k) not in ("match", "no_match"):
            reader.error(
                reader.pos_of_key(node, k),
                f"unknown key `{k}` in examples; expected match, no_match",
            )
    return RuleExamples(
        match=tuple(reader.string_list(node, "match")),
        no_match=tuple(reader.string_list(node, "no_match")),
    )


def _read_rules(reader: _FileReader, doc: CommentedMap, acc: _Accumulator) -> None:
    for item, pos in reader.entries(doc, "rules", RULE_KEYS):
        ident = _read_id(reader, item, pos, "rule", acc)
        query = reader.string(item, "query", required=True)
        if not (ident and query is not None):
            continue
        acc.rules.append(
            RuleConfig(
                id=ident,
                query=query,
                title=reader.string(item, "title") or ident,
                feeds=tuple(f for f, _ in reader.string_list(item, "feeds")),
                lang=tuple(lang for lang, _ in reader.string_list(item, "lang")),
                tags=tuple(t for t, _ in reader.string_list(item, "tags")),
                examples=_read_examples(reader, item),
                pos=pos,
                query_pos=_query_position(reader, item),
            )
        )


def _query_position(reader: _FileReader, item: CommentedMap) -> Position:
    """Where column 1 of the query text is: after an opening quote for quoted scalars."""
    pos = reader.pos_of_value(item, "query")
    line = reader.lines[pos.line - 1] if 0 < pos.line <= len(reader.lines) else ""
    if pos.col - 1 < len(line) and line[pos.col - 1] in "'\"":
        return Position(pos.path, pos.line, pos.col + 1)
    return pos


def _read_subscriptions(reader: _FileReader, doc: CommentedMap, acc: _Accumulator) -> None:
    for item, pos in reader.entries(doc, "subscriptions", SUB_KEYS):
        ident = _read_id(reader, item, pos, "subscription", acc)
        rules = tuple(r for r, _ in reader.string_list(item, "rules"))
        if "rules" not in item:
            reader.error(pos, "missing `rules` (rule ids or tag:NAME)")
        targets = [(SecretUrl(u), where) for u, where in reader.string_list(item, "notify") if u]
        if "notify" not in item:
            reader.error(pos, "missing `notify` (Apprise URLs, e.g. console:// or mailto://...)")
        digest = reader.string(item, "digest") or "immediate"
        digest_pos = reader.pos_of_value(item, "digest") if "digest" in item else None
        max_items: int | None = None
        if "max_items" in item:
            raw = item["max_items"]
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
                reader.error(
                    reader.pos_of_value(item, "max_items"), "`max_items` must be a whole number ≥ 1"
                )
            else:
                max_items = raw
        if ident:
            acc.subs.append(
                SubscriptionConfig(
                    ident,
                    rules,
                    tuple(url for url, _ in targets),
                    digest,
                    max_items,
                    pos,
                    digest_pos=digest_pos,
                    notify_pos=tuple(p for _, p in targets),
                )
            )


def _check_references(config: Config, problems: list[Problem]) -> None:
    """Unknown feed or rule ids (and tags nobody carries) in `feeds:` and `rules:` references."""
    feed_ids = {f.id for f in config.feeds}
    feed_tags = {t for f in config.feeds for t in f.tags}
    rule_ids = {r.id for r in config.rules}
    rule_tags = {t for r in config.rules for t in r.tags}
    for rule in config.rules:
        _check_refs(rule.feeds, feed_ids, feed_tags, "feed", rule.pos, rule.id, problems.append)
    for sub in config.subscriptions:
        _check_refs(sub.rules, rule_ids, rule_tags, "rule", sub.pos, sub.id, problems.append)


def _check_refs(
    refs: tuple[str, ...],
    ids: set[str],
    tags: set[str],
    kind: str,
    pos: Position | None,
    owner: str,
    report: Callable[[Problem], None],
) -> None:
    for ref in refs:
        if ref.startswith("tag:"):
            ok = ref[4:] in tags
            what = f"no {kind} has tag `{ref[4:]}`"
        else:
            ok = ref in ids
            what = f"unknown {kind} `{ref}`"
        if not ok and pos is not None:
            report(Problem.at(pos, f"{owner}: {what}; check the id or add the {kind}"))
