"""Query parsing: what each syntax builds, and the column of every error class (DESIGN §3)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import services.matcher.query as query_package
from services.matcher.query import (
    And,
    Meta,
    Near,
    Not,
    Or,
    Phrase,
    Query,
    QueryError,
    lint_query,
    parse_query,
    required_tokens,
)

DEFINES = {
    "dprk": 'North Korea OR DPRK OR Pyongyang OR "Kim Jong Un"',
    "scoped": "title:korea",
    "mixed": "korea AND dprk",
    "negative": "NOT sport",
    "loop": "a OR @loop",
    "ping": "a OR @pong",
    "pong": "b OR @ping",
    "broken": "a AND",
    "missing": "@nowhere",
}


def parsed(source: str) -> Query:
    result = parse_query(source, DEFINES)
    assert isinstance(result, Query), result
    return result


def word(token: str, **kwargs: object) -> Phrase:
    return Phrase((token,), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("military", word("military")),
        ("Military", word("military")),
        ("North Korea", Phrase(("north", "korea"))),
        ('"North Korea"', Phrase(("north", "korea"))),
        ('"war and peace"', Phrase(("war", "and", "peace"))),
        ("cats and dogs", Phrase(("cats", "and", "dogs"))),
        ("weapon*", Phrase(("weapon",), prefix=True)),
        ('"Kim Jong*"', Phrase(("kim", "jong"), prefix=True)),
        ("Kim Jong*", Phrase(("kim", "jong"), prefix=True)),
        ("Pyŏng*", Phrase(("pyong",), prefix=True)),
        ("Jong-un", Phrase(("jong", "un"))),
        ("U.S.", Phrase(("u", "s"))),
        ("基金", Phrase(("基", "金"))),
        ("ﷺ", Phrase(("صلى", "الله", "عليه", "وسلم"))),
        ("a AND b", And((word("a"), word("b")))),
        ("a OR b", Or((word("a"), word("b")))),
        ("a NOT b", And((word("a"), Not(word("b"))))),
        ("a AND NOT b", And((word("a"), Not(word("b"))))),
        ("a OR b AND c", Or((word("a"), And((word("b"), word("c")))))),
        ("(a OR b) AND c", And((Or((word("a"), word("b"))), word("c")))),
        ("NOT a NEAR/2 b OR c", Or((Not(Near(word("a"), word("b"), 2)), word("c")))),
        ("a NEAR/5 b", Near(word("a"), word("b"), 5)),
        ('(a OR b) NEAR/0 "c d"', Near(Or((word("a"), word("b"))), Phrase(("c", "d")), 0)),
        ("title:x", word("x", scope="title")),
        ('title:"a b"', Phrase(("a", "b"), scope="title")),
        ("title:(a OR b)", Or((word("a", scope="title"), word("b", scope="title")))),
        ("title:(summary:a OR b)", Or((word("a", scope="summary"), word("b", scope="title")))),
        ("category:business", word("business", scope="category")),
        ("author:smith", word("smith", scope="author")),
        ("title:(a NEAR/3 b)", Near(word("a", scope="title"), word("b", scope="title"), 3)),
        ("case:US", word("US", exact=True)),
        ('case:"US Army"', Phrase(("US", "Army"), exact=True)),
        ("title:case:US", word("US", exact=True, scope="title")),
        ("feed:bbc-urdu", Meta("feed", "bbc-urdu")),
        ("lang:EN_gb", Meta("lang", "en-gb")),
        ("site:BBC.co.uk.", Meta("site", "bbc.co.uk")),
        ("title:feed:x", Meta("feed", "x")),
        ("@scoped", word("korea", scope="title")),
        ("title:@mixed", And((word("korea", scope="title"), word("dprk", scope="title")))),
    ],
)
def test_parse_builds(source: str, expected: object) -> None:
    assert parsed(source).root == expected


def test_parse_expands_defines_and_keeps_texts() -> None:
    query = parsed("Russia AND @dprk")
    assert isinstance(query.root, And)
    dprk = query.root.children[1]
    assert isinstance(dprk, Or) and dprk.text == "@dprk" and dprk.column == 12
    assert dprk.children[3] == Phrase(("kim", "jong", "un"))
    assert parsed("title:@dprk").root == Or(
        (
            Phrase(("north", "korea"), scope="title"),
            word("dprk", scope="title"),
            word("pyongyang", scope="title"),
            Phrase(("kim", "jong", "un"), scope="title"),
        )
    )


def test_dprk_is_a_near_operand() -> None:
    assert isinstance(parsed("Russia NEAR/5 @dprk").root, Near)


@pytest.mark.parametrize(
    ("source", "column"),
    [
        # unterminated quote: the opening "
        ('"North Korea', 1),
        ('a AND "b" OR "c', 14),
        ('(a "b', 4),  # the quote comes before the parenthesis
        # unbalanced parentheses
        ("(a", 1),
        ("((a)", 1),
        ("a) AND (b", 2),
        ("(a OR (b)", 1),
        # side by side: the second operand
        ('"North Korea" military', 15),
        ("(a OR b) c", 10),
        ("weapon* system", 9),
        ('a "b"', 3),
        ("title:North Korea", 13),
        ("case:US Army", 9),
        ("@dprk korea", 7),
        ("a title:b", 3),
        ("(a) (b)", 5),
        # missing operand at the end: just past the end
        ("a AND", 6),
        ("a NEAR/5", 9),
        ("NOT", 4),
        ("a OR", 5),
        ("", 1),
        # misplaced *
        ("we*apon", 1),
        ('"weap* system"', 1),
        ("North we*apon Korea", 1),
        ("a AND weapon**", 7),
        ("title:we*apon", 7),
        # no letter or digit
        ("---", 1),
        ('""', 1),
        ('a OR " - "', 6),
        ("Putin & Kim", 1),
        ("a AND North - Korea", 7),
        # short prefix, or not ending at the *
        ("w*", 1),
        ('"Kim Jong-*"', 1),
        ("U.S*", 1),
        ("北京*", 1),
        ("*", 1),
        ("case:U*", 6),
        # no positive term: the first token
        ("NOT a", 1),
        ("  NOT a AND NOT b", 3),
        ("NOT (a OR b)", 1),
        ("@negative", 1),
        # empty group
        ("()", 1),
        ("a AND ( )", 7),
        # operator or ) where an operand belongs
        ("AND a", 1),
        ("a AND OR b", 7),
        ("(a AND)", 7),
        ("a NEAR/3 NOT b", 10),
        ("OR", 1),
        # NEAR: bad distance, chained, bad operands
        ("a NEAR b", 3),
        ("a NEAR/x b", 3),
        ("a NEAR/3 b NEAR/2 c", 12),
        ("title:a NEAR/3 b", 7),
        ("a NEAR/3 title:b", 16),
        ("(a AND b) NEAR/3 c", 1),
        ("a NEAR/3 (b NEAR/2 c)", 10),
        ("@mixed NEAR/3 a", 1),
        ("@scoped NEAR/3 a", 1),
        ("feed:x NEAR/3 a", 6),
        ("a NEAR/3 (NOT b)", 10),
        # fields
        ("Title:x", 1),
        ("http://x", 1),
        ("Re:Invent", 1),
        ("a AND Re:Invent", 7),
        ("foo Re:Invent", 5),
        ("foo title: x", 5),
        ("title: x", 1),
        ("feed: x", 1),
        ("title:", 1),
        ("a OR title:", 6),
        ("(title:)", 2),
        ("case:title:x", 6),
        ("case:(a)", 6),
        ("case:@dprk", 6),
        ('feed:""', 6),
        ("lang:(en OR fr)", 6),
        # @name
        ("@nope", 1),
        ("a AND @nope", 7),
        ("@loop", 1),
        ("x OR @ping", 6),
        ("a AND @broken", 7),
        ("@missing", 1),
        ("@", 1),
        ("title:@nope", 7),
        # the first error reading left to right
        ("a AND () AND NOT", 7),
        ("we*apon AND ---", 1),
        ("a\tAND", 6),
    ],
)
def test_error_column(source: str, column: int) -> None:
    result = parse_query(source, DEFINES)
    assert isinstance(result, QueryError), result
    assert result.column == column, result.message


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ('"North Korea" military', "put AND or OR between them"),
        ("a AND", "AND needs a term"),
        ('"North Korea', "unterminated quote"),
        ("(a", "never closed"),
        ("a)", "closes nothing"),
        ("we*apon", "misplaced *"),
        ("U.S*", "2 or more letters"),
        ("---", "no letter or digit"),
        ("NOT a", "no positive term"),
        ("@nope", "undefined @nope"),
        ("@loop", "cyclic @loop"),
        ("a AND @broken", "in @broken (column 6): AND needs a term"),
        ("Re:Invent", '"Re:Invent"'),
        ("foo Re:Invent", '"Re:Invent"'),
        ("foo title: x", "right after the colon"),
        ("foo title:x", "side by side"),
        ("title: x", "right after the colon"),
        ("a NEAR/3 b NEAR/2 c", "chained NEAR"),
        ("title:a NEAR/3 b", "title:(a NEAR/3 b)"),
        ("a NEAR b", "NEAR/5"),
        ("()", "empty group"),
    ],
)
def test_error_messages_say_what_to_do(source: str, fragment: str) -> None:
    result = parse_query(source, DEFINES)
    assert isinstance(result, QueryError)
    assert fragment in result.message


@pytest.mark.parametrize(
    "source",
    [
        '"U.S. - China"',
        "lang:fr",
        "feed:x OR site:y.com",
        "a AND NOT b",
        "NOT b AND a",
        "a OR NOT b",
        "title:@dprk",
    ],
)
def test_valid(source: str) -> None:
    parsed(source)


def test_parse_without_defines() -> None:
    result = parse_query("@dprk")
    assert result == QueryError("undefined @dprk: add it under define:", 1)


@pytest.mark.parametrize(
    ("source", "columns"),
    [
        ("cats and dogs", [6]),
        ("a or b", [3]),
        ("a not b", [3]),
        ('"a" and (b)', [5]),
        ("and a", []),
        ("a and", []),
        ("a AND b", []),
        ('"a and b"', []),
        ("title:and", []),
        ("Kim And Putin", [5]),
    ],
)
def test_lint_warns_on_lowercase_operators_between_terms(source: str, columns: list[int]) -> None:
    assert [warning.column for warning in lint_query(source)] == columns


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("military", {"military"}),
        ("North Korea", {"north"}),
        ('"Kim Jong*"', {"kim"}),
        ("weapon*", None),
        ("case:US", {"us"}),
        ("a AND bbb", {"a"}),
        ("a OR bbb", {"a", "bbb"}),
        ("a OR weapon*", None),
        ("weapon* AND (b OR c)", {"b", "c"}),
        ("a NOT b", {"a"}),
        ("lang:en", None),
        ("lang:en AND x", {"x"}),
        ("aa NEAR/3 (b OR c)", {"aa"}),
        ("@dprk", {"north", "dprk", "pyongyang", "jong"}),
    ],
)
def test_required_tokens(source: str, expected: set[str] | None) -> None:
    result = required_tokens(parsed(source).root)
    assert result == (None if expected is None else frozenset(expected))


def test_package_exports() -> None:
    assert set(query_package.__all__) == {
        "And",
        "Document",
        "Meta",
        "Near",
        "Node",
        "Not",
        "Or",
        "Phrase",
        "Query",
        "QueryError",
        "evaluate",
        "explain",
        "lang_matches",
        "lint_query",
        "matched_spans",
        "parse_query",
        "required_tokens",
    }


_PIECES = [*'ab "()*@:-_ \t', "AND", "OR", "NOT", "NEAR/2", "NEAR", "title:", "case:", "feed:"]
_PIECES += ["@dprk", "@loop", "é", "北", "\u0301", "Re:"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=12).map("".join))
def test_any_query_parses_or_names_a_column_inside_it(source: str) -> None:
    result = parse_query(source, DEFINES)
    if isinstance(result, QueryError):
        assert 1 <= result.column <= len(source) + 1
        assert result.message
    for warning in lint_query(source):
        assert 1 <= warning.column <= len(source)
