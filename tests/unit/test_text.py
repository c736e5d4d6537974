"""Normalisation and tokenisation (DESIGN §3, "Normalisation" and the HTML/diacritics/token edge cases)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.text import html_to_text, normalise, token_offsets, tokenize


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("Pyong<b>yang</b>", ["pyongyang"]),
        ("Pyong<br>yang", ["pyong", "yang"]),
        ("Pyong<br/>yang", ["pyong", "yang"]),
        ("a<p>b</p>c", ["a", "b", "c"]),
        ("a<li>b<td>c<h3>d</h3>e", ["a", "b", "c", "d", "e"]),
        ("a<span>b</span><em>c</em>", ["abc"]),
        ("caf&eacute", ["cafe"]),
        ("caf&eacute;s", ["cafes"]),
        ("&lt;b&gt;", ["b"]),
        ("&lt;CH>", ["ch"]),
        ("x<script>var y = '<b>z</b>';</script>w", ["xw"]),
        ("x<style>p { color: red }</style> w", ["x", "w"]),
        ("x<!-- hidden words -->y", ["xy"]),
        ('<a href="http://evil.example/secret" title="nope">link</a>', ["link"]),
        ("Helikopter&shy;landeplatz", ["helikopter", "landeplatz"]),
        ("&#x41;&#66;c", ["abc"]),
        ("AT&T", ["at", "t"]),
        ("a < b > c", ["a", "b", "c"]),
        ("tail<!-- never closed", ["tail"]),
        ("tail<b", ["tail"]),
    ],
)
def test_html_fields_tokenize_like_a_reader_sees_them(html: str, expected: list[str]) -> None:
    assert tokenize(html_to_text(html)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Kim Jong-un", ["kim", "jong", "un"]),
        ("Putin's", ["putin", "s"]),
        ("北朝鮮", ["北", "朝", "鮮"]),
        ("Pyŏngyang", ["pyongyang"]),
        ("Mañana", ["manana"]),
        ("ệ", ["e"]),
        ("Straße", ["strasse"]),
        ("İstanbul", ["istanbul"]),
        ("Łódź", ["łodz"]),
        ("ø ł đ ı æ", ["ø", "ł", "đ", "ı", "æ"]),
        ("й ё", ["й", "ё"]),
        ("مُحَمَّد", ["محمد"]),
        ("أ إ آ ؤ ئ ۂ ۓ", ["ا", "ا", "ا", "و", "ي", "ہ", "ے"]),
        ("ة ى ـ", ["ة", "ى", "ـ"]),
        ("الرحمٰن", ["الرحمن"]),
        ("مْ", ["م"]),
        ("#معاذ_الخلف", ["معاذ", "الخلف"]),
        ("ﷺ", ["صلى", "الله", "عليه", "وسلم"]),
        ("a_b a\u200bb a\u200cb a\u200db", ["a", "b", "a", "b", "a", "b", "a", "b"]),
        ("हिन्दी", ["हिन्दी"]),
        ("ไทย", ["ไ", "ท", "ย"]),
        ("กิน", ["กิ", "น"]),
        ("カタカナ ひらがな", ["カ", "タ", "カ", "ナ", "ひ", "ら", "が", "な"]),
        ("북한 핵실험", ["북한", "핵실험"]),
        ("Россия и КНДР", ["россия", "и", "кндр"]),
        ("\u0301x", ["x"]),
        ("ＡＢＣ１２３", ["abc123"]),
        ("U.S.", ["u", "s"]),
        ("", []),
    ],
)
def test_tokenize(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("São Paulo", ["Sao", "Paulo"]),
        ("US Army", ["US", "Army"]),
        ("İstanbul", ["Istanbul"]),
    ],
)
def test_tokenize_keeping_case_still_applies_every_other_step(
    text: str, expected: list[str]
) -> None:
    assert tokenize(text, fold_case=False) == expected


def test_folded_and_exact_tokens_line_up() -> None:
    text = "Straße İstanbul ǰ ΐ Ǆ ﬀ"
    assert len(tokenize(text)) == len(tokenize(text, fold_case=False))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Pyŏngyang", "pyongyang"), ("STRASSE", "strasse"), ("Ⅻ", "xii"), ("São", "sao")],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_html_to_text_keeps_blocks_apart_and_collapses_space() -> None:
    assert html_to_text("<p>One  two</p>\n\n<p>three</p>") == "One two\nthree"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Putin met Kim Jong-un", ["Putin", "met", "Kim", "Jong", "un"]),
        ("Pyŏngyang, e\u0301cole", ["Pyŏngyang", "e\u0301cole"]),
        ("北朝鮮 ＡＢＣ", ["北", "朝", "鮮", "ＡＢＣ"]),
        ("ﷺ", ["ﷺ"] * 4),
        ("مُحَمَّد بن", ["مُحَمَّد", "بن"]),
        ("", []),
    ],
)
def test_token_offsets_point_into_the_original_text(text: str, expected: list[str]) -> None:
    offsets = token_offsets(text)
    assert [text[start:end] for start, end in offsets] == expected
    assert len(offsets) == len(tokenize(text))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_tokenizes_and_offsets_line_up(text: str) -> None:
    assert len(token_offsets(text)) == len(tokenize(text)) == len(tokenize(text, fold_case=False))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["<", ">", "a", "&", "amp;", "eacute", "<!--", "-->", "/", " "])))
def test_any_html_becomes_text_without_raising(pieces: list[str]) -> None:
    text = html_to_text("".join(pieces))
    assert text == text.strip()
