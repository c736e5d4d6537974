"""Matched terms: computed from the rules' queries, found by token in any script."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.models import Article
from services.common.text import token_offsets, tokenize
from services.matcher.query import Query, parse_query
from services.notifier.highlight import Highlighter, _tokens_at, matched_terms

DEFINES = {"dprk": 'North Korea OR DPRK OR Pyongyang OR "Kim Jong Un"'}


def marked(terms: list[str], text: str) -> str:
    """`text` with every found term in [brackets]."""
    return "".join(f"[{p}]" if hit else p for p, hit in Highlighter(terms).segments(text))


@pytest.mark.parametrize(
    ("terms", "text", "expected"),
    [
        (["pyongyang"], "Talks in Pyŏngyang ended.", "Talks in [Pyŏngyang] ended."),
        (["kim jong un"], "Kim Jong-un met Putin.", "[Kim Jong-un] met Putin."),
        (["weapon*"], "Weapons, weaponry and a weapon.", "[Weapons], [weaponry] and a [weapon]."),
        (["put"], "Putin spoke.", "Putin spoke."),  # a word, not a prefix
        (["north", "north korea"], "North Korea's north", "[North Korea]'s [north]"),
        (["北朝鮮"], "昨日北朝鮮がミサイルを発射", "昨日[北朝鮮]がミサイルを発射"),
        (["istanbul"], "İstanbul talks", "[İstanbul] talks"),
        (["u s"], "The U.S. said", "The [U.S]. said"),
        (["*", "", "  "], "Nothing here", "Nothing here"),
    ],
)
def test_highlighter_finds_terms_by_token(terms: list[str], text: str, expected: str) -> None:
    assert marked(terms, text) == expected


def test_segments_join_back_to_the_text() -> None:
    text = "Kim Jong-un and North Korea's weapons: Pyŏngyang, 北朝鮮."
    pieces = Highlighter(["kim jong un", "weapon*", "北朝鮮"]).segments(text)
    assert "".join(p for p, _ in pieces) == text


def query(source: str) -> Query:
    parsed = parse_query(source, DEFINES)
    assert isinstance(parsed, Query), parsed
    return parsed


ARTICLE = Article(
    id="a",
    feed="global-wire",
    title="Russia and North Korea deepen ties",
    summary="<p>Pyongyang is accused of sending <b>weapons</b> and shells; China stayed quiet.</p>",
    link="https://news.example.org/a",
)


def test_matched_terms_are_what_made_the_rule_match() -> None:
    queries = {"r": query("Russia AND @dprk AND (military OR weapon*)")}
    assert matched_terms(ARTICLE, ["r"], queries) == (
        "russia",
        "north korea",
        "pyongyang",
        "weapons",
    )


def test_negated_and_failed_terms_are_not_highlighted() -> None:
    queries = {"r": query("(Russia OR Iran) AND NOT (China AND Iran)")}
    assert matched_terms(ARTICLE, ["r"], queries) == ("russia",)


def test_terms_come_only_from_the_rules_the_article_matched() -> None:
    queries = {"r": query("Russia"), "s": query("shells")}
    assert matched_terms(ARTICLE, ["s"], queries) == ("shells",)
    assert matched_terms(ARTICLE, ["removed-rule"], queries) == ()
    assert matched_terms(ARTICLE, ["r", "s"], queries) == ("russia", "shells")


def test_near_highlights_the_pair_that_holds() -> None:
    queries = {"r": query("Pyongyang NEAR/5 weapons")}
    assert matched_terms(ARTICLE, ["r"], queries) == ("pyongyang", "weapons")


@given(
    st.text(
        alphabet=st.one_of(
            st.characters(max_codepoint=127),
            st.sampled_from("£€–—‘’“”…•© ™½ﬁéŏ北\u00ad\u200b"),
        ),
        max_size=80,
    )
)
def test_fast_path_finds_the_same_tokens_as_the_tokenizer(text: str) -> None:
    assert _tokens_at(text) == (tokenize(text), token_offsets(text))
