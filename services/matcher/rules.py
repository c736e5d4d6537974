"""Compiled watch rules: parsed queries plus the rule-level `feeds:` and `lang:` filters. Pure.

A rule matches an article when its query holds and the article passes both filters (DESIGN §3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.common.config import Config, Problem
from services.common.models import Article
from services.matcher.query import Document, Query, QueryError, evaluate, parse_query


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to evaluate; `feeds` empty means every feed, `langs` empty every language."""

    id: str
    title: str
    query: Query
    feeds: frozenset[str]
    langs: tuple[str, ...]

    def accepts(self, article: Article) -> bool:
        """The rule-level filters, checked before the (costlier) query."""
        if self.feeds and article.feed not in self.feeds:
            return False
        return not self.langs or lang_matches(article.lang, self.langs)


def lang_matches(article_lang: str, wanted: Sequence[str]) -> bool:
    """`en` holds for `en`, `en-GB`, `EN_us`, not `eng` (case ignored, `_` = `-`)."""
    tag = article_lang.lower().replace("_", "-")
    for want in wanted:
        w = want.lower().replace("_", "-")
        if tag == w or tag.startswith(w + "-"):
            return True
    return False


def compile_rules(config: Config) -> tuple[list[CompiledRule], list[Problem]]:
    """Parse every rule's query; a query error becomes a Problem at its column in the file."""
    rules: list[CompiledRule] = []
    problems: list[Problem] = []
    for rule in config.rules:
        parsed = parse_query(rule.query, config.defines)
        if isinstance(parsed, QueryError):
            if rule.query_pos is not None:
                problems.append(
                    Problem.at(
                        rule.query_pos,
                        f"rule {rule.id}: {parsed.message}",
                        col_offset=parsed.column - 1,
                    )
                )
            continue
        rules.append(
            CompiledRule(
                id=rule.id,
                title=rule.title,
                query=parsed,
                feeds=frozenset(_expand_feeds(config, rule.feeds)),
                langs=rule.lang,
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


def match_article(rules: Sequence[CompiledRule], article: Article) -> list[str]:
    """Ids of every rule the article matches, in rule order."""
    doc: Document | None = None
    matched = []
    for rule in rules:
        if not rule.accepts(article):
            continue
        if doc is None:
            doc = document_for(article)
        if evaluate(rule.query, doc):
            matched.append(rule.id)
    return matched
