"""Rendering digests: exact snapshots, escaping of hostile feed text, Markdown splitting.

The snapshots live in `tests/unit/snapshots/`; after an intended change of the output, run
`WIREWATCH_UPDATE_SNAPSHOTS=1 uv run pytest tests/unit/test_render.py` and review the diff.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest

from services.common.models import Article
from services.notifier.digest import Digest, PendingItem, assemble_digest
from services.notifier.render import (
    SNIPPET_CHARS,
    digest_title,
    render_html,
    render_markdown,
    render_text,
    split_markdown,
    split_markdown_parts,
)

SNAPSHOTS = Path(__file__).parent / "snapshots"
SEOUL = ZoneInfo("Asia/Seoul")
HIGHLIGHT = ["putin", "weapon*", "north korea"]


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, 18, hour, minute, tzinfo=UTC)


ARTICLES = [
    Article(
        id="rt-1",
        feed="reuters-world",
        outlet="Reuters",
        title="Russia's Putin arrives in North Korea for rare visit",
        summary=(
            "<p>Russian President Vladimir Putin arrived in Pyongyang early on Wednesday for "
            "talks with Kim Jong Un on deepening military ties, state media said.</p>"
        ),
        link="https://www.reuters.com/world/asia-pacific/putin-arrives-north-korea-2026-06-18/",
        published=at(5, 5),
    ),
    Article(
        id="ap-1",
        feed="ap-top",
        outlet="AP",
        title="Putin arrives in North Korea for rare visit as Moscow deepens ties with Pyongyang",
        link="https://apnews.com/article/russia-north-korea-putin-visit",
        published=at(5, 40),
    ),
    Article(
        id="bbc-1",
        feed="bbc-asia",
        outlet="BBC News",
        title="Putin arrives in Pyongyang for rare visit to North Korea",
        link="https://www.bbc.com/news/articles/c0000putin",
        published=at(6, 10),
    ),
    Article(
        id="evil-1",
        feed="evil",
        outlet="Totally Legit <News>",
        title="<script>alert(1)</script>North Korea shows off <b>new</b> missile launcher",
        summary=(
            "<p>State media showed Kim inspecting <b>weapons</b> &amp; launchers."
            '<script>alert(1)</script></p><img src=x onerror="alert(2)">'
            '<a href="javascript:alert(3)">more</a> &lt;i&gt;not markup&lt;/i&gt;'
        ),
        link="https://evil.example/nk?a=1&b=<2>",
        published=at(7, 30),
    ),
    Article(
        id="md-1",
        feed="wire",
        outlet="Wire",
        title="[Breaking] *Putin* _meets_ Kim",
        summary="# Not a heading. Putin and Kim met for 2 hours; weapons talks `expected`.",
        link="https://wire.example/breaking_(putin)",
        published=at(9, 0),
    ),
    Article(
        id="yn-1",
        feed="yonhap",
        outlet="Yonhap",
        title="South Korea, US stage joint drills as Pyongyang warns of weapons tests",
        content=(
            "<div>SEOUL -- South Korea and the United States began large-scale joint drills on "
            "Thursday, a day after North Korea warned that it would answer with new weapons "
            "tests what it calls rehearsals for an invasion.</div><div>More to follow.</div>"
        ),
        link="https://en.yna.co.kr/view/AEN20260618000100315",
        published=None,
        fetched=at(8, 15),
    ),
]
RULES = {
    "rt-1": ("russia-dprk",),
    "ap-1": ("weapons", "russia-dprk"),
    "bbc-1": ("russia-dprk",),
    "evil-1": ("weapons", "russia-dprk"),
    "md-1": ("russia-dprk",),
    "yn-1": ("weapons",),
}
RULE_TITLES = {"russia-dprk": "Russia – North Korea military ties", "weapons": "Weapons tests"}


def build(articles: list[Article] = ARTICLES, max_items: int | None = None) -> Digest:
    digest = assemble_digest(
        [PendingItem(a, RULES.get(a.id, ("russia-dprk",))) for a in articles],
        subscription="korea-desk",
        rule_order=["russia-dprk", "weapons"],
        rule_titles=RULE_TITLES,
        max_items=max_items,
        zone=SEOUL,
    )
    assert digest is not None
    return digest


def check_snapshot(name: str, actual: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("WIREWATCH_UPDATE_SNAPSHOTS"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8")


# --- snapshots ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "render"),
    [
        ("digest.txt", render_text),
        ("digest.md", render_markdown),
        ("digest.html", render_html),
    ],
)
def test_snapshot(name: str, render: object) -> None:
    assert callable(render)
    check_snapshot(name, render(build(), highlight=HIGHLIGHT))


def test_snapshot_with_more() -> None:
    digest = build(max_items=2)
    check_snapshot("digest-more.md", render_markdown(digest))
    check_snapshot("digest-more.txt", render_text(digest))


def test_title() -> None:
    assert digest_title(build()) == "wirewatch: 4 new stories for korea-desk"
    assert digest_title(build(max_items=1)) == "wirewatch: 4 new stories for korea-desk"
    assert digest_title(build(ARTICLES[-1:])) == "wirewatch: 1 new story for korea-desk"


# --- escaping ----------------------------------------------------------------------------

HOSTILE = ["<script", "alert", "<img", "onerror", "javascript:", "<b>new</b>", "<i>not"]


def test_no_feed_markup_reaches_html() -> None:
    page = render_html(build())
    for needle in HOSTILE:
        assert needle not in page
    tags = set(re.findall(r"</?([a-zA-Z0-9]+)", page))
    assert tags <= {
        "html",
        "head",
        "meta",
        "title",
        "body",
        "h2",
        "ul",
        "li",
        "a",
        "br",
        "span",
        "i",
    }
    assert "&lt;i&gt;not markup&lt;/i&gt;" in page  # decoded references stay text
    assert "Totally Legit &lt;News&gt;" in page


def test_highlight_is_the_only_markup_added_to_snippets() -> None:
    page = render_html(build(), highlight=["weapon*"])
    assert "inspecting <b>weapons</b> &amp; launchers" in page
    assert "<b>new</b>" not in page


@pytest.mark.parametrize("render", [render_text, render_markdown])
def test_no_feed_markup_reaches_text_or_markdown(render: object) -> None:
    assert callable(render)
    out = render(build())
    for needle in ["<script", "alert", "<img", "onerror", "javascript:"]:
        assert needle not in out


def test_markdown_escapes_headlines_and_snippet_line_starts() -> None:
    out = render_markdown(build())
    assert (
        r"- [\[Breaking\] \*Putin\* \_meets\_ Kim](https://wire.example/breaking_%28putin%29)"
        in out
    )
    assert r"  \# Not a heading." in out
    assert r"Totally Legit \<News\>" in out


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("- not a list", r"  \- not a list"),
        ("+ not a list", r"  \+ not a list"),
        ("1986. A good year", r"  1986\. A good year"),
        ("> not a quote", r"  \> not a quote"),
        ("a | b ~ c", r"  a \| b \~ c"),
    ],
)
def test_markdown_snippet_cannot_start_a_block(snippet: str, expected: str) -> None:
    article = Article(id="x", feed="f", title="Title", summary=snippet, published=at(1))
    out = render_markdown(build([article]))
    assert expected in out.splitlines()


def test_non_http_links_are_not_linked() -> None:
    article = Article(
        id="x", feed="f", title="Click me", link="javascript:alert(1)", published=at(1)
    )
    digest = build([article])
    assert "- Click me — f, 2026-06-18 10:00 KST" in render_markdown(digest)
    assert "javascript" not in render_html(digest)
    assert "javascript" not in render_text(digest)


def test_untitled_article_without_time_or_link() -> None:
    article = Article(id="x", feed="f", title="<br>")
    assert render_text(build([article])) == "Russia – North Korea military ties\n" + "=" * 34 + (
        "\n\n* (untitled)\n  f\n"
    )


# --- snippets and highlighting -----------------------------------------------------------


def test_snippet_is_short_and_cut_at_a_word() -> None:
    out = render_text(build(ARTICLES[-1:]))
    snippet = out.splitlines()[-1].strip()
    assert snippet.endswith("…")
    assert len(snippet) <= 200
    assert snippet.startswith("SEOUL -- South Korea and the United States")
    assert "More to follow" not in snippet


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        (["putin"], "*Putin* and Kim met"),
        (["PUTIN"], "*Putin* and Kim met"),
        (["weapon*"], "2 hours; *weapons* talks"),
        (["weapon"], "2 hours; weapons talks"),  # a word, not a prefix
        (["put"], "Putin and Kim met"),
        (["kim met"], "Putin and *Kim met* for"),  # a phrase
        (["*", ""], "Putin and Kim met"),  # nothing to highlight
    ],
)
def test_highlight_terms(terms: list[str], expected: str) -> None:
    digest = build([ARTICLES[4]])
    assert expected in render_text(digest, highlight=terms)


def test_snippet_equal_to_headline_falls_back_to_content() -> None:
    article = Article(
        id="x", feed="f", title="Same <b>text</b>", summary="Same text", content="<p>Body.</p>"
    )
    assert "  Body.\n" in render_text(build([article]))


# --- splitting ---------------------------------------------------------------------------


def item_links(text: str) -> list[str]:
    return re.findall(r"^- \[.*?\]\((\S+)\)", text, flags=re.MULTILINE)


@pytest.mark.parametrize("limit", [200, 300, 450, 700, 10_000])
def test_split_keeps_every_item_under_the_limit(limit: int) -> None:
    digest = build()
    whole = render_markdown(digest, highlight=HIGHLIGHT)
    parts = split_markdown(digest, limit, highlight=HIGHLIGHT)
    assert all(len(part) <= limit for part in parts)
    assert all(part.startswith("## ") for part in parts)
    links = [link for part in parts for link in item_links(part)]
    assert len(links) == 4  # every item, none twice
    if limit >= 450:  # items fit whole: the parts are the whole, cut between items
        assert [i for p in parts for i in p.split("\n") if not i.startswith("## ") and i] == [
            line for line in whole.split("\n") if not line.startswith("## ") and line
        ]
    if limit == 10_000:
        assert parts == [whole]


def test_split_repeats_the_group_header() -> None:
    parts = split_markdown(build(), 450)
    assert parts == [
        "## Russia – North Korea military ties\n\n"
        r"- [\[Breaking\] \*Putin\* \_meets\_ Kim](https://wire.example/breaking_%28putin%29)"
        " — Wire, 2026-06-18 18:00 KST\n"
        r"  \# Not a heading. Putin and Kim met for 2 hours; weapons talks \`expected\`."
        "\n- [North Korea shows off new missile launcher](https://evil.example/nk?a=1&b=%3C2%3E)"
        r" — Totally Legit \<News\>, 2026-06-18 16:30 KST"
        "\n  State media showed Kim inspecting weapons & launchers. more \\<i\\>not markup\\</i\\>",
        "## Russia – North Korea military ties\n\n"
        "- [Russia's Putin arrives in North Korea for rare visit]"
        "(https://www.reuters.com/world/asia-pacific/putin-arrives-north-korea-2026-06-18/)"
        " — Reuters, 2026-06-18 14:05 KST\n"
        "  Russian President Vladimir Putin arrived in Pyongyang early on Wednesday for talks"
        " with Kim Jong Un on deepening military ties, state media said.\n"
        "  also: AP, BBC News",
        "## Weapons tests\n\n"
        "- [South Korea, US stage joint drills as Pyongyang warns of weapons tests]"
        "(https://en.yna.co.kr/view/AEN20260618000100315) — Yonhap, 2026-06-18 17:15 KST\n"
        "  SEOUL -- South Korea and the United States began large-scale joint drills on"
        " Thursday, a day after North Korea warned that it would answer with new weapons tests"
        " what it calls rehearsals for an…",
    ]


def test_split_truncates_an_item_longer_than_the_limit() -> None:
    parts = split_markdown(build(), 200)
    reuters = next(p for p in parts if "reuters.com" in p)
    assert len(reuters) <= 200
    assert "…" in reuters
    assert reuters.startswith("## Russia – North Korea military ties\n\n- [Russia's Putin")


def test_split_hard_cuts_when_even_the_link_does_not_fit() -> None:
    article = Article(
        id="x",
        feed="f",
        title="Long link",
        link="https://example.org/" + "a" * 300,
        published=at(1),
    )
    parts = split_markdown(build([article]), 100)
    assert len(parts) == 1
    assert len(parts[0]) == 100
    assert parts[0].endswith("…")


def test_split_puts_more_in_the_last_part() -> None:
    parts = split_markdown(build(max_items=3), 300)
    assert parts[-1].endswith("+1 more story")
    assert all(len(p) <= 300 for p in parts)
    assert sum(len(item_links(p)) for p in parts) == 3


def test_split_rejects_tiny_limits() -> None:
    with pytest.raises(ValueError, match="at least"):
        split_markdown(build(), 20)


@pytest.mark.parametrize("limit", [200, 450, 10_000])
def test_split_parts_know_their_articles(limit: int) -> None:
    digest = build(max_items=3)
    parts = split_markdown_parts(digest, limit, highlight=HIGHLIGHT)
    assert [p.text for p in parts] == split_markdown(digest, limit, highlight=HIGHLIGHT)
    shown = [item for part in parts for item in part.items]
    assert shown == list(digest.items)  # every shown item in exactly one part, in order
    assert [p.more for p in parts] == [False] * (len(parts) - 1) + [True]
    for part in parts:
        links = [unquote(link) for link in item_links(part.text)]
        assert links == [i.story.lead.link for i in part.items]


# --- per-article highlighting and snippet placement ----------------------------------------


def test_per_article_highlight_marks_only_that_articles_terms() -> None:
    digest = build([ARTICLES[0], ARTICLES[5]])
    out = render_text(digest, highlight={"rt-1": ["putin"], "yn-1": ["weapons"]})
    assert "Russian President Vladimir *Putin* arrived" in out
    assert "answer with new *weapons* tests" in out
    assert "*Pyongyang*" not in out


def test_snippet_moves_to_the_first_matched_term() -> None:
    filler = "Officials met again on Tuesday and said little of substance to reporters. " * 20
    article = Article(
        id="x",
        feed="f",
        title="Talks resume",
        summary="Officials met again.",
        content=f"<p>{filler}</p><p>Late in the day the envoy raised missile transfers.</p>",
        published=at(1),
    )
    digest = build([article])
    assert "  Officials met again.\n" in render_text(digest)  # no terms: the summary, as always
    snippet = render_text(digest, highlight=["missile*"]).splitlines()[-1].strip()
    assert snippet.startswith("…") and len(snippet) <= SNIPPET_CHARS
    assert "the envoy raised *missile* transfers." in snippet
