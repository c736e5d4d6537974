"""Compiled watch rules: parsed queries plus the rule-level `feeds:` and `lang:` filters. Pure.

A rule matches an article when its query holds and the article passes both filters (DESIGN §3).
A `RuleSet` is what the matcher holds: the rules with their presearch index, built once and
swapped whole on reload.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from services.common.config import Config, Problem
from services.common.models import Article
from services.matcher.index import RuleIndex
from services.matcher.query import Document, Query, QueryError, evaluate, parse_query
from services.matcher.query.ast import language_tag
from services.matcher.query.compiled import Test, compile_query


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to evaluate; `feeds` empty means every feed, `langs` empty every language."""

    id: str
    title: str
    query: Query
    feeds: frozenset[str]
    langs: tuple[str, ...]
    test: Test = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "test", compile_query(self.query))

    def accepts(self, article: Article) -> bool:
        """The rule-level filters, checked before the (costlier) query."""
        if self.feeds and article.feed not in self.feeds:
            return False
        return not self.langs or lang_matches(article.lang, self.langs)

    def accepts_document(self, doc: Document) -> bool:
        """`accepts` for an article already prepared (its language tag is normalised)."""
        if self.feeds and doc.feed not in self.feeds:
            return False
        return not self.langs or _tag_matches(doc.lang, self.langs)


def lang_matches(article_lang: str, wanted: Sequence[str]) -> bool:
    """`en` holds for `en`, `en-GB`, `EN_us`, not `eng` (case ignored, `_` = `-`)."""
    return _tag_matches(language_tag(article_lang), wanted)


def _tag_matches(tag: str, wanted: Sequence[str]) -> bool:
    for want in wanted:
        w = language_tag(want)
        if tag == w or tag.startswith(w + "-"):
            return True
    return False


class RuleSet:
    """Rules with their presearch index: an article is evaluated only against its candidates."""

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        self.rules: tuple[CompiledRule, ...] = tuple(rules)
        self.index = RuleIndex([rule.query.root for rule in self.rules])
        self._ids = tuple(rule.id for rule in self.rules)
        self._tests = tuple(map(_filtered_test, self.rules))

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Iterator[CompiledRule]:
        return iter(self.rules)

    def match(self, doc: Document) -> list[str]:
        """Ids of every rule the prepared article matches, in rule order."""
        ids, tests = self._ids, self._tests
        return [ids[position] for position in self.index.candidates(doc) if tests[position](doc)]

    def match_naive(self, doc: Document) -> list[str]:
        """`match` without the index, evaluating every rule: the reference it must agree with."""
        return [
            rule.id
            for rule in self.rules
            if rule.accepts_document(doc) and evaluate(rule.query, doc)
        ]


def _filtered_test(rule: CompiledRule) -> Test:
    """The rule's query test, behind its `feeds:`/`lang:` filters when it has any."""
    if not rule.feeds and not rule.langs:
        return rule.test
    accepts, test = rule.accepts_document, rule.test
    return lambda doc: accepts(doc) and test(doc)


def compile_rules(
    config: Config, *, parsed: Mapping[str, Query] | None = None
) -> tuple[list[CompiledRule], list[Problem]]:
    """Parse every rule's query; a query error becomes a Problem at the rule's query.

    `parsed` holds queries already parsed (by `check_config`), by rule id. `wirewatch check`
    reports errors at their exact column; this is for services, which start only on a config
    that passed the check.
    """
    rules: list[CompiledRule] = []
    problems: list[Problem] = []
    parsed = parsed or {}
    for rule in config.rules:
        query = parsed.get(rule.id) or parse_query(rule.query, config.defines)
        if isinstance(query, QueryError):
            if rule.query_pos is not None:
                problems.append(Problem.at(rule.query_pos, f"rule {rule.id}: {query.message}"))
            continue
        rules.append(
            CompiledRule(
                id=rule.id,
                title=rule.title,
                query=query,
                feeds=frozenset(_expand_feeds(config, rule.feeds)),
                langs=tuple(language_tag(lang) for lang in rule.lang),
            )
        )
    return rules, problems


def _expand_feeds(config: Config, refs: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for ref in refs:
        if ref.startswith("tag:"):
            out.update(f.id for f in config.feeds if ref[4:] in f.tags)
        else:
            out.add(ref)
    return out


def document_for(article: Article) -> Document:
    """The article's fields prepared once, so every rule evaluates against the same tokens."""
    return Document.from_fields(
        title=article.title,
        summary=article.summary,
        content=article.content,
        author=article.author,
        categories=tuple(article.categories),
        feed=article.feed,
        lang=article.lang,
        link=article.link,
    )


def match_article(rules: RuleSet | Sequence[CompiledRule], article: Article) -> list[str]:
    """Ids of every rule the article matches, in rule order.

    Pass a `RuleSet` (built once) for speed; a plain sequence is indexed on every call.
    """
    rule_set = rules if isinstance(rules, RuleSet) else RuleSet(rules)
    return rule_set.match(document_for(article))
