"""The presearch index never changes what matches: indexed matching = evaluating every rule.

Random rules (words, phrases, prefixes, `case:`, fields, metadata, NEAR, AND/OR/NOT, rule-level
`lang:` filters) drawn from the vocabulary of real corpus articles, matched against those
articles both ways. Plus what the index files each rule under, and that it skips rules.
"""

from __future__ import annotations

import gzip
import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.matcher.index import Need, RuleIndex, need_of, needs_of
from services.matcher.query import Document, Query, parse_query
from services.matcher.rules import CompiledRule, RuleSet
from tests.conftest import corpus_path

ARTICLES_PER_FILE = 12  # from each corpus file: every language is in the sample


@pytest.fixture(scope="module")
def sample() -> list[dict[str, Any]]:
    """A fixed spread of corpus articles (every file, every language), plus a few made up to
    have authors and categories."""
    articles: list[dict[str, Any]] = []
    for path in sorted(corpus_path("articles").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            raw = [json.loads(line) for _, line in zip(range(400), lines, strict=False)]
        for item in random.Random(path.name).sample(raw, min(ARTICLES_PER_FILE, len(raw))):
            articles.append(
                {
                    "title": item.get("title") or "",
                    "summary": (item.get("summary") or "")[:600],
                    "content": (item.get("content") or "")[:1500],
                    "author": item.get("author") or "",
                    "categories": tuple(item.get("categories") or ()),
                    "feed": item.get("feed") or "",
                    "lang": item.get("lang") or "",
                    "link": item.get("link") or "",
                }
            )
    articles.append(
        {"title": "US Army in Seoul", "author": "Kim Jong", "categories": ("business", "Seoul")}
    )
    return articles


@pytest.fixture(scope="module")
def words(sample: list[dict[str, Any]]) -> tuple[list[str], list[str], list[str]]:
    """(folded words, case-preserving words, two-word phrases) found in the sample."""
    folded: set[str] = set()
    exact: set[str] = set()
    phrases: set[str] = set()
    for article in sample:
        doc = Document.from_fields(**article)
        for field in doc.fields.values():
            folded.update(field.tokens[:40])
            exact.update(field.exact[:15])
            phrases.update(
                f"{a} {b}" for a, b in zip(field.tokens[:12], field.tokens[1:13], strict=False)
            )
    return sorted(folded), sorted(exact), sorted(phrases)


def _term(
    data: st.DataObject, words: tuple[list[str], list[str], list[str]], sample: list[dict[str, Any]]
) -> str:
    folded, exact, phrases = words
    kind = data.draw(
        st.sampled_from(
            ["word", "word", "word", "phrase", "prefix", "case", "scoped", "meta", "near"]
        )
    )
    word = data.draw(st.sampled_from(folded))
    if kind == "word":
        return word
    if kind == "phrase":
        return '"' + data.draw(st.sampled_from(phrases)) + '"'
    if kind == "prefix":
        return word[: data.draw(st.integers(2, max(2, len(word))))] + "*"
    if kind == "case":
        return "case:" + data.draw(st.sampled_from(exact))
    if kind == "scoped":
        field = data.draw(st.sampled_from(["title", "summary", "content", "author", "category"]))
        return (
            f"{field}:{word}" if data.draw(st.booleans()) else f'{field}:("{word}" OR {word[:3]}*)'
        )
    if kind == "meta":
        article = data.draw(st.sampled_from(sample))
        key = data.draw(st.sampled_from(["lang", "feed", "site"]))
        value = {
            "lang": article.get("lang", "")[:2],
            "feed": article.get("feed"),
            "site": "bbc.co.uk",
        }[key]
        return f"{key}:{value or 'x'}"
    left, right = _near_operand(data, words), _near_operand(data, words)
    if data.draw(st.integers(0, 5)) == 0:
        right = left  # the same word on both sides: any occurrence is 0 apart from itself
    near = f"{left} NEAR/{data.draw(st.integers(0, 6))} {right}"
    return f"title:({near})" if data.draw(st.integers(0, 4)) == 0 else near


def _near_operand(data: st.DataObject, words: tuple[list[str], list[str], list[str]]) -> str:
    folded, exact, phrases = words
    kind = data.draw(st.sampled_from(["word", "word", "word", "phrase", "prefix", "or", "case"]))
    word = data.draw(st.sampled_from(folded))
    if kind == "phrase":
        return '"' + data.draw(st.sampled_from(phrases)) + '"'
    if kind == "prefix":
        return word[:3] + "*"
    if kind == "or":
        return f"({word} OR {data.draw(st.sampled_from(folded))})"
    if kind == "case":
        return "case:" + data.draw(st.sampled_from(exact))
    return word


def _query(data: st.DataObject, words: Any, sample: Any, depth: int = 0) -> str:
    if depth >= 2 or data.draw(st.integers(0, 2)) == 0:
        return _term(data, words, sample)
    operator = data.draw(st.sampled_from(["AND", "OR", "AND NOT", "OR NOT"]))
    left = _query(data, words, sample, depth + 1)
    right = _query(data, words, sample, depth + 1)
    return f"({left}) {operator} ({right})"


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_indexed_matching_agrees_with_evaluating_every_rule(
    data: st.DataObject, sample: list[dict[str, Any]], words: Any
) -> None:
    rules = []
    for i in range(12):
        source = _query(data, words, sample)
        query = parse_query(source)
        if not isinstance(query, Query):
            continue  # e.g. a query of only NOT: the parser's business, not the index's
        langs = ("en",) if data.draw(st.integers(0, 9)) == 0 else ()
        rules.append(CompiledRule(f"r{i}", source, query, frozenset(), langs))
    rule_set = RuleSet(rules)
    for article in data.draw(st.lists(st.sampled_from(sample), min_size=8, max_size=8)):
        doc = Document.from_fields(**article)
        reference = Document.from_fields(**article)  # its own caches: nothing shared
        assert rule_set.match(doc) == rule_set.match_naive(reference), [
            r.query.source for r in rules
        ]


def _parsed(source: str) -> Query:
    query = parse_query(source)
    assert isinstance(query, Query), query
    return query


@pytest.mark.parametrize(
    ("source", "first", "second"),
    [
        ("military", Need(frozenset({"military"})), None),
        ("weapon*", Need(prefixes=frozenset({"weapon"})), None),
        ("case:Weap*", None, None),
        ("NOT navy AND lang:en", None, None),
        ('"north korea"', Need(frozenset({"korea"})), Need(frozenset({"north"}))),
        ('"kim jong un"', Need(frozenset({"jong"})), Need(frozenset({"kim"}))),
        ("Russia AND military", Need(frozenset({"military"})), Need(frozenset({"russia"}))),
        ("Putin NEAR/3 Kim", Need(frozenset({"putin"})), Need(frozenset({"kim"}))),
        (
            "(navy OR army) AND Pyongyang",
            Need(frozenset({"pyongyang"})),
            Need(frozenset({"navy", "army"})),
        ),
        ("navy OR army*", Need(frozenset({"navy"}), frozenset({"army"})), None),
        ("navy OR NOT army", None, None),
        ("missile AND NOT sport", Need(frozenset({"missile"})), None),
    ],
)
def test_needs(source: str, first: Need | None, second: Need | None) -> None:
    assert needs_of(_parsed(source).root) == (first, second)
    assert need_of(_parsed(source).root) == first


def test_index_skips_rules_without_the_words_and_keeps_the_rest() -> None:
    sources = ["Russia AND military", "weapon*", "NOT navy AND lang:en", '"north korea"', "Seoul"]
    index = RuleIndex([_parsed(s).root for s in sources])
    doc = Document.from_fields(title="Russia sends weapons to North Korea", lang="en")
    assert index.candidates(doc) == [1, 2, 3]  # not 0 (no "military"), not 4 (no "Seoul")
    assert index.always == [2]
