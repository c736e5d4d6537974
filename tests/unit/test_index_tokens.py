"""The matcher's fast tokeniser gives exactly the tokens of `services.common.text` (DESIGN §3).

`field_tokens(html)` must equal `tokenize(html_to_text(html))` (case-preserving and folded),
for any text: random Unicode, the edge cases of the normaliser, and real articles in many scripts.
"""

from __future__ import annotations

import gzip
import json
from itertools import islice

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.text import html_to_text, tokenize
from services.matcher.query import tokens
from services.matcher.query.tokens import field_tokens
from tests.conftest import corpus_path


def _reference(html: str) -> tuple[list[str], list[str]]:
    text = html_to_text(html)
    return tokenize(text, fold_case=False), tokenize(text)


@pytest.mark.parametrize(
    "html",
    [
        "",
        "Putin met Kim in Pyŏngyang",
        "São Paulo: Mañana en Łódź, Straße nach İstanbul",
        "مُحَمَّد بن سلمان يلتقي بوتين #معاذ_الخلف الرحمٰن",
        "أحمد، إلى آخر ؤ ئ ۂ ۓ",
        "پاکستان کی حکومت نے ایک بیان جاری کیا ۔ اُردو",
        "北朝鮮と俄罗斯军事合作。基金 ＡＢＣ１２３",
        "러시아와 북한, 군사 협력 강화 가",
        "Ёлка, йогурт, Й",
        "ﷺ ﻻ ﬁne ½ ² ª µ",
        "Helikopter\u00adlandeplatz a\u200bb c\u200dd",
        "e\u0301 \u0301x ก่อน हिन्दी",
        "caf&eacute; <b>Pyong</b>yang <br>x &lt;b&gt;",
        "ｶﾞ ｷﾞｬ",
        "Σίσυφος ΣΑΣ",
        "emoji 😀 𝐀𝐁 𠀀",
    ],
)
def test_edge_cases(html: str) -> None:
    assert field_tokens(html) == _reference(html)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=40))
def test_any_text(text: str) -> None:
    assert field_tokens(text) == _reference(text)


_SCRIPTS = st.sampled_from(
    list("abcÉéñŏ ,.-'\u0301\u0308\u064b\u0654أإآاحمدیے北朝鮮とカタ한국ЁёйИ\u00ad\u200bﷺ½ªİıß")
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_SCRIPTS, max_size=30).map("".join))
def test_mixed_scripts_and_marks(text: str) -> None:
    assert field_tokens(text) == _reference(text)


def test_corpus_articles() -> None:
    checked = 0
    for path in sorted(corpus_path("articles").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for line in islice(lines, 0, None, 25):
                article = json.loads(line)
                for key in ("title", "summary", "content", "author"):
                    html = article.get(key) or ""
                    assert field_tokens(html) == _reference(html), (path.name, key)
                    checked += 1
    assert checked > 1000


def test_chunk_cache_is_bounded() -> None:
    cache = tokens._ChunkCache()
    for i in range(2 * tokens._GENERATION + 10):
        assert cache.tokens(f"हिन्दी{i}") == ([f"हिन्दी{i}"], [f"हिन्दी{i}"])
    assert len(cache.recent) + len(cache.older) <= 2 * tokens._GENERATION
