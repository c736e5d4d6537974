"""Digest assembly: one item per story, filed under the first rule, newest first, max_items."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.common.models import Article
from services.notifier.digest import Digest, PendingItem, assemble_digest

T0 = datetime(2026, 6, 18, 0, 0, tzinfo=UTC)
SEOUL = ZoneInfo("Asia/Seoul")
ORDER = ["russia-dprk", "missiles", "sanctions"]
TITLES = {"russia-dprk": "Russia – North Korea", "missiles": "Missile tests"}


def art(
    id: str, hour: float, title: str | None = None, feed: str = "wire", **kw: object
) -> Article:
    moment = T0 + timedelta(hours=hour)
    published = kw.pop("published", moment)
    return Article(
        id=id,
        feed=feed,
        title=title or f"Unrelated headline number {id}",
        link=f"https://{feed}.example/{id}",
        published=published,  # type: ignore[arg-type]
        fetched=moment,
        **kw,  # type: ignore[arg-type]
    )


def item(article: Article, *rules: str) -> PendingItem:
    return PendingItem(article=article, rules=rules)


def assemble(items: list[PendingItem], max_items: int | None = None) -> Digest:
    digest = assemble_digest(
        items,
        subscription="korea-desk",
        rule_order=ORDER,
        rule_titles=TITLES,
        max_items=max_items,
        zone=SEOUL,
    )
    assert digest is not None
    return digest


def layout(digest: Digest) -> list[tuple[str, list[str]]]:
    return [(g.rule, [i.story.lead.id for i in g.items]) for g in digest.groups]


def test_empty_digest_is_none() -> None:
    digest = assemble_digest(
        [], subscription="s", rule_order=ORDER, rule_titles={}, max_items=None, zone=SEOUL
    )
    assert digest is None


def test_article_appears_once_under_its_first_rule_in_subscription_order() -> None:
    digest = assemble(
        [
            item(art("a", 1), "missiles", "russia-dprk"),  # subscription order wins
            item(art("b", 2), "sanctions", "missiles"),
            item(art("c", 3), "sanctions"),
        ]
    )
    assert layout(digest) == [("russia-dprk", ["a"]), ("missiles", ["b"]), ("sanctions", ["c"])]
    assert [g.title for g in digest.groups] == [
        "Russia – North Korea",
        "Missile tests",
        "sanctions",
    ]


def test_an_article_filed_twice_is_one_item_with_all_its_rules() -> None:
    a = art("a", 1)
    digest = assemble([item(a, "sanctions"), item(a, "missiles")])
    assert layout(digest) == [("missiles", ["a"])]
    assert digest.article_ids == {"a"}


def test_newest_first_within_a_group_with_fetch_time_fallback() -> None:
    digest = assemble(
        [
            item(art("old", 1), "missiles"),
            item(art("new", 5), "missiles"),
            item(art("undated", 3, published=None), "missiles"),  # fetched at +3 h
        ]
    )
    assert layout(digest) == [("missiles", ["new", "undated", "old"])]


def test_a_story_is_one_item_under_the_first_rule_any_of_its_articles_matched() -> None:
    title = "Russia's Putin arrives in North Korea for rare visit"
    digest = assemble(
        [
            item(art("rt", 1, title, feed="reuters", outlet="Reuters"), "sanctions"),
            item(art("ap", 2, title, feed="ap", outlet="AP"), "russia-dprk"),
            item(art("x", 3), "sanctions"),
        ]
    )
    assert layout(digest) == [("russia-dprk", ["rt"]), ("sanctions", ["x"])]
    story = digest.groups[0].items[0].story
    assert [a.id for a in story.others] == ["ap"]
    assert story.also_outlets == ["AP"]
    assert digest.article_ids == {"rt", "ap", "x"}


def test_max_items_keeps_the_newest_stories_and_counts_the_rest() -> None:
    title = "Russia's Putin arrives in North Korea for rare visit"
    items = [
        item(art("h1", 1), "russia-dprk"),
        item(art("h2", 2), "missiles"),
        item(art("h3", 3), "russia-dprk"),
        item(art("h4", 4, title, feed="reuters"), "sanctions"),
        item(art("h4b", 5, title, feed="ap"), "sanctions"),  # same story as h4
        item(art("h6", 6), "missiles"),
    ]
    digest = assemble(items, max_items=3)
    assert layout(digest) == [("russia-dprk", ["h3"]), ("missiles", ["h6"]), ("sanctions", ["h4"])]
    assert digest.more == 2  # h1 and h2: stories, not articles
    assert digest.story_count == 5
    assert digest.article_ids == {"h1", "h2", "h3", "h4", "h4b", "h6"}  # all count as delivered
    assert [i.story.lead.id for i in digest.items] == ["h3", "h6", "h4"]


def test_max_items_larger_than_the_digest_changes_nothing() -> None:
    items = [item(art("a", 1), "missiles"), item(art("b", 2), "missiles")]
    assert assemble(items, max_items=50) == assemble(items, max_items=None)
    assert assemble(items, max_items=50).more == 0


def test_max_items_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_items"):
        assemble([item(art("a", 1), "missiles")], max_items=0)


def test_rules_no_longer_in_the_subscription_are_kept_after_the_known_ones() -> None:
    digest = assemble(
        [
            item(art("a", 1), "zeta-removed"),
            item(art("b", 2), "alpha-removed"),
            item(art("c", 3), "missiles"),
            item(art("d", 4)),  # no rule at all: still delivered
        ]
    )
    assert layout(digest) == [
        ("missiles", ["c"]),
        ("", ["d"]),
        ("alpha-removed", ["b"]),
        ("zeta-removed", ["a"]),
    ]
    assert digest.article_ids == {"a", "b", "c", "d"}


def test_copies_with_the_same_link_are_shown_once_and_recorded() -> None:
    a = art("a", 1)
    later = T0 + timedelta(hours=1, minutes=1)
    copy = a.model_copy(update={"id": "a-guid", "feed": "mirror", "published": later})
    digest = assemble([item(a, "missiles"), item(copy, "missiles")])
    assert layout(digest) == [("missiles", ["a"])]
    assert digest.article_ids == {"a", "a-guid"}


def test_assembly_is_deterministic_whatever_the_input_order() -> None:
    items = [item(art(f"n{i}", i % 7, feed=f"f{i % 3}"), ORDER[i % 3]) for i in range(30)]
    expected = assemble(items, max_items=10)
    assert assemble(list(reversed(items)), max_items=10) == expected
    assert expected.zone == SEOUL
    assert expected.subscription == "korea-desk"
