"""Same-story grouping: wire rewrites group, different stories that share words do not."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from services.common.models import Article
from services.notifier.stories import Story, StoryIndex, group_stories, trace_of

T0 = datetime(2026, 6, 18, 15, 0, tzinfo=UTC)

OUTLETS = {"reuters": "Reuters", "ap": "AP", "bbc": "BBC News", "yonhap": "Yonhap", "nhk": ""}


def art(
    id: str,
    feed: str,
    title: str,
    minutes: float = 0,
    *,
    link: str | None = None,
    published: bool = True,
    outlet: str | None = None,
) -> Article:
    moment = T0 + timedelta(minutes=minutes)
    return Article(
        id=id,
        feed=feed,
        title=title,
        link=f"https://{feed}.example/{id}" if link is None else link,
        published=moment if published else None,
        fetched=moment,
        outlet=OUTLETS.get(feed, feed) if outlet is None else outlet,
    )


def shape(stories: list[Story]) -> list[list[str]]:
    """Each story as [lead id, other ids...]: what the assertions compare."""
    return [[s.lead.id, *(a.id for a in s.others)] for s in stories]


# --- what groups -------------------------------------------------------------------------

SAME = [
    (
        "Russia's Putin arrives in North Korea for rare visit",
        "Putin arrives in North Korea for rare visit as Moscow deepens ties with Pyongyang",
    ),
    (
        "Russia's Putin arrives in North Korea for rare visit",
        "Putin arrives in Pyongyang for rare visit to North Korea",
    ),
    (
        "Putin, Kim sign mutual defence pact at Pyongyang summit",
        "Putin and Kim sign mutual defence pact",
    ),
    (
        "Fed holds rates steady, signals one cut this year",
        "Federal Reserve holds interest rates steady, signals only one cut in 2026",
    ),
    (
        "North Korea fires ballistic missile into sea, South Korea says",
        "North Korea fires ballistic missile toward Sea of Japan, Japan says",
    ),
    ("Pyŏngyang hosts Putin", "PYONGYANG HOSTS <b>PUTIN</b>!"),  # §3 normalisation, HTML
    ("Live", "LIVE"),  # no content word: only identical titles group
]


@pytest.mark.parametrize(("first", "second"), SAME)
def test_rewrites_of_one_story_group(first: str, second: str) -> None:
    stories = group_stories([art("r1", "reuters", first), art("a1", "ap", second, 40)])
    assert shape(stories) == [["r1", "a1"]]


DIFFERENT = [
    (
        "Russia's Putin arrives in North Korea for rare visit",
        "Putin arrives in Beijing for talks with Xi",
    ),
    ("Putin arrives in Pyongyang", "Putin arrives in Beijing"),  # token-set ratio is 80
    ("Earthquake strikes off Japan coast", "Earthquake strikes off coast of Chile"),
    (
        "Fed holds rates steady, signals one cut this year",
        "Bank of England holds rates steady as inflation eases",
    ),
    (
        "North Korea fires ballistic missile into sea, South Korea says",
        "South Korea says North Korea sent trash balloons across border",
    ),
    ("Ukraine war latest: Russia strikes Kyiv", "Ukraine war latest: Zelensky visits front"),
    ("Live", "Live updates"),
]


@pytest.mark.parametrize(("first", "second"), DIFFERENT)
def test_different_stories_sharing_words_stay_apart(first: str, second: str) -> None:
    stories = group_stories([art("r1", "reuters", first), art("a1", "ap", second, 40)])
    assert shape(stories) == [["r1"], ["a1"]]


def test_wire_story_with_three_outlets_and_a_bystander() -> None:
    articles = [
        art("bbc1", "bbc", "Putin arrives in Pyongyang for rare visit to North Korea", 95),
        art("ap1", "ap", "Putin arrives in North Korea for rare visit as Moscow deepens ties", 55),
        art("rt1", "reuters", "Russia's Putin arrives in North Korea for rare visit", 5),
        art("yn1", "yonhap", "Putin arrives in Beijing for talks with Xi", 30),
    ]
    stories = group_stories(articles)
    assert shape(stories) == [["rt1", "ap1", "bbc1"], ["yn1"]]
    assert stories[0].also_outlets == ["AP", "BBC News"]
    assert stories[0].time == T0 + timedelta(minutes=5)
    assert stories[0].article_ids == {"rt1", "ap1", "bbc1"}


def test_same_feed_never_groups_with_itself() -> None:
    title = "Russia's Putin arrives in North Korea for rare visit"
    articles = [
        art("r1", "reuters", title),
        art("r2", "reuters", title + " (updated)", 30),
        art("a1", "ap", title, 60),
    ]
    assert shape(group_stories(articles)) == [["r1", "a1"], ["r2"]]


def test_48_hour_window() -> None:
    title = "Putin arrives in North Korea for rare visit"
    within = [art("r1", "reuters", title), art("a1", "ap", title, 48 * 60)]
    beyond = [art("r1", "reuters", title), art("a1", "ap", title, 48 * 60 + 1)]
    assert shape(group_stories(within)) == [["r1", "a1"]]
    assert shape(group_stories(beyond)) == [["r1"], ["a1"]]


def test_window_is_measured_from_the_lead_so_stories_do_not_chain() -> None:
    title = "Putin arrives in North Korea for rare visit"
    articles = [
        art("r1", "reuters", title),
        art("a1", "ap", title, 30 * 60),
        art("b1", "bbc", title, 60 * 60),  # 30 h after AP but 60 h after the lead
    ]
    assert shape(group_stories(articles)) == [["r1", "a1"], ["b1"]]


def test_lead_uses_fetched_time_when_published_is_missing() -> None:
    title = "Putin arrives in North Korea for rare visit"
    articles = [
        art("r1", "reuters", title, 60),
        art("a1", "ap", title, 10, published=False),  # fetched 10 min in: earliest
    ]
    stories = group_stories(articles)
    assert shape(stories) == [["a1", "r1"]]
    assert stories[0].time == T0 + timedelta(minutes=10)


def test_also_outlets_dedupes_and_skips_the_leads_outlet() -> None:
    title = "Putin arrives in North Korea for rare visit"
    articles = [
        art("r1", "reuters", title),
        art("r2", "reuters-asia", title, 1, outlet="Reuters"),
        art("a1", "ap", title, 2),
        art("a2", "ap-world", title, 3, outlet="AP"),
        art("n1", "nhk", title, 4),  # no outlet name: the feed id
    ]
    story = group_stories(articles)[0]
    assert shape([story]) == [["r1", "r2", "a1", "a2", "n1"]]
    assert story.also_outlets == ["AP", "nhk"]


# --- identity ----------------------------------------------------------------------------


def test_equal_id_or_link_collapses_into_one_article() -> None:
    title = "Putin arrives in North Korea for rare visit"
    articles = [
        art("r1", "reuters", title, link="https://www.reuters.com/world/putin-nk"),
        art("r1", "reuters", title, 5, link="https://www.reuters.com/world/putin-nk"),
        art(
            "y1",
            "yahoo",
            "Putin visits North Korea",
            10,
            link="https://www.reuters.com/world/putin-nk",
        ),
        art("x9", "other", "Unrelated headline about football", 20),
    ]
    stories = group_stories(articles)
    assert shape(stories) == [["r1"], ["x9"]]
    assert [a.id for a in stories[0].merged] == ["r1", "y1"]
    assert stories[0].article_ids == {"r1", "y1"}
    links = [a.link for s in stories for a in (s.lead, *s.others)]
    assert len(links) == len(set(links))


def test_articles_without_links_are_not_merged_by_link() -> None:
    articles = [
        art("a", "reuters", "Putin arrives in North Korea", link=""),
        art("b", "ap", "Earthquake strikes off Japan coast", 1, link=""),
    ]
    assert shape(group_stories(articles)) == [["a"], ["b"]]


# --- determinism and cost ----------------------------------------------------------------


def test_output_does_not_depend_on_input_order() -> None:
    articles = [
        art("bbc1", "bbc", "Putin arrives in Pyongyang for rare visit to North Korea", 95),
        art("ap1", "ap", "Putin arrives in North Korea for rare visit as Moscow deepens ties", 55),
        art("rt1", "reuters", "Russia's Putin arrives in North Korea for rare visit", 5),
        art("yn1", "yonhap", "Putin arrives in Beijing for talks with Xi", 30),
        art("ap2", "ap", "Putin arrives in Beijing for talks with Xi Jinping", 31),
        art("x1", "bbc", "Earthquake strikes off Japan coast", 5),
        art("x2", "ap", "Earthquake strikes off coast of Chile", 5),
    ]
    expected = shape(group_stories(articles))
    # leads in time order; ties (x2, x1, rt1 at +5 min) by feed id
    assert expected == [["x2"], ["x1"], ["rt1", "ap1", "bbc1"], ["yn1", "ap2"]]
    rng = random.Random(7)
    for _ in range(20):
        rng.shuffle(articles)
        assert shape(group_stories(articles)) == expected


def test_empty_input() -> None:
    assert group_stories([]) == []


def test_a_thousand_articles_are_grouped_quickly() -> None:
    rng = random.Random(1)
    vocabulary = [f"word{i}" for i in range(3000)]
    common = ["the", "in", "of", "says", "North", "Korea", "Putin", "Russia", "war", "talks"]
    articles = []
    for i in range(1000):
        words = rng.sample(vocabulary, 5) + rng.sample(common, 3)
        rng.shuffle(words)
        articles.append(art(f"id{i}", f"feed{i % 40}", " ".join(words), rng.uniform(0, 72 * 60)))
    # 100 stories told twice by another feed, slightly reworded
    for i in range(100):
        base = articles[i]
        assert base.published is not None
        minutes = (base.published - T0).total_seconds() / 60 + 1
        articles.append(art(f"dup{i}", "wire-copy", base.title + " report", minutes, outlet="Wire"))
    started = time.perf_counter()
    stories = group_stories(articles)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0
    assert sum(1 + len(s.others) + len(s.merged) for s in stories) == 1100
    grouped = {a.id for s in stories if s.others for a in (s.lead, *s.others)}
    assert {f"dup{i}" for i in range(100)} <= grouped


# --- stories already delivered ---------------------------------------------------------------


def delivered(*articles: Article) -> StoryIndex:
    return StoryIndex([trace_of(story) for story in group_stories(list(articles))])


def test_late_article_from_another_outlet_is_found() -> None:
    index = delivered(art("r1", "reuters", "Russia's Putin arrives in North Korea for rare visit"))
    late = art("b1", "bbc", "Putin arrives in Pyongyang for rare visit to North Korea", 180)
    assert index.find(late) is not None


def test_late_article_matches_any_member_of_the_story() -> None:
    index = delivered(
        art("r1", "reuters", "Putin, Kim sign mutual defence pact at Pyongyang summit"),
        art("a1", "ap", "Putin and Kim sign mutual defence pact", 20),
    )
    assert len(index) == 1
    assert (
        index.find(art("y1", "yonhap", "Putin and Kim sign mutual defence pact", 300)) is not None
    )


@pytest.mark.parametrize(
    ("late", "why"),
    [
        (
            art("r2", "reuters", "Putin arrives in Pyongyang for rare visit to North Korea", 60),
            "same feed",
        ),
        (
            art("b1", "bbc", "Putin arrives in Pyongyang for rare visit to North Korea", 49 * 60),
            "48 h",
        ),
        (art("b2", "bbc", "North Korea fires ballistic missile into the sea", 60), "another story"),
        (art("b3", "bbc", "", 60), "no title"),
    ],
)
def test_late_article_that_is_not_the_same_story(late: Article, why: str) -> None:
    index = delivered(art("r1", "reuters", "Russia's Putin arrives in North Korea for rare visit"))
    assert index.find(late) is None, why


def test_trace_keeps_every_outlet_and_title() -> None:
    story = group_stories(
        [
            art("r1", "reuters", "Putin, Kim sign mutual defence pact at Pyongyang summit"),
            art("a1", "ap", "Putin and Kim sign mutual defence pact", 20),
        ]
    )[0]
    trace = trace_of(story)
    assert trace.feeds == {"reuters", "ap"}
    assert trace.titles == (
        "putin kim sign mutual defence pact at pyongyang summit",
        "putin and kim sign mutual defence pact",
    )
    assert trace.lead_time == T0
