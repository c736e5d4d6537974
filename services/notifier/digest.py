"""Digest assembly (DESIGN §4 "Digest"): pending matches in, one ordered digest out.

Owns the decisions about *what* a digest contains, not how it looks (that is `render.py`):

- an article appears once, under the first of its rules in the subscription's `rules:` order;
- articles of one story (`stories.py`) are one item, filed under the first rule (in that
  order) that any of its articles matched;
- within a group, the newest story first (the lead's `published`, else its fetch time);
- `max_items` keeps the newest N stories over the whole digest; the rest are counted in
  `more`, and every article id (shown, story members, merged copies, the "+N more" ones) is
  in `article_ids`, because all of them count as delivered;
- an empty digest is None: nothing is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from services.common.models import Article
from services.notifier.stories import Story, group_stories

__all__ = ["Digest", "DigestGroup", "DigestItem", "PendingItem", "assemble_digest"]


@dataclass(frozen=True)
class PendingItem:
    """What the notifier stored when a match was filed for a subscription."""

    article: Article
    rules: tuple[str, ...]  # rule ids this article matched (that the subscription wants)
    filed: datetime | None = None  # when the notifier filed it (drives `immediate` coalescing)


@dataclass(frozen=True)
class DigestItem:
    """One shown line of a digest: a story, and the rule it is filed under."""

    story: Story
    rule: str


@dataclass(frozen=True)
class DigestGroup:
    """The items of one rule, newest first; `title` is the rule's title (else its id)."""

    rule: str
    title: str
    items: tuple[DigestItem, ...]


@dataclass(frozen=True)
class Digest:
    """One message's worth of content for one subscription (before rendering)."""

    subscription: str
    groups: tuple[DigestGroup, ...]
    more: int
    zone: ZoneInfo
    article_ids: frozenset[str]
    hidden: tuple[Story, ...] = ()  # the stories counted in "+N more" (delivered, not shown)

    @property
    def items(self) -> tuple[DigestItem, ...]:
        """Every shown item, in display order."""
        return tuple(item for group in self.groups for item in group.items)

    @property
    def story_count(self) -> int:
        """Stories this digest reports: the shown ones and the "+N more" ones."""
        return len(self.items) + self.more


_OLDEST = datetime.min.replace(tzinfo=UTC)


def assemble_digest(
    items: Sequence[PendingItem],
    *,
    subscription: str,
    rule_order: Sequence[str],
    rule_titles: Mapping[str, str],
    max_items: int | None,
    zone: ZoneInfo,
) -> Digest | None:
    """Build the digest for `items`; None when there is nothing to send.

    `rule_order` is the subscription's `rules:` list with `tag:` entries already resolved to
    rule ids. An article whose rules are all missing from it (a rule removed while the
    article was pending) is kept, never dropped: it is filed under its own first rule, and
    such groups come after the known ones, by rule id.
    """
    if max_items is not None and max_items < 1:
        raise ValueError("max_items must be at least 1 (or None for no limit)")
    rules_of = _rules_by_article(items)
    if not rules_of:
        return None
    articles = _unique_articles(items)
    rank = {rule: i for i, rule in enumerate(dict.fromkeys(rule_order))}

    filed: list[DigestItem] = []
    for story in group_stories(articles):
        story_rules = [r for a in story.articles for r in rules_of.get(a.id, ())]
        filed.append(DigestItem(story=story, rule=_first_rule(story_rules, rank)))

    filed.sort(key=_newest_first)
    shown = filed if max_items is None else filed[:max_items]
    more = len(filed) - len(shown)

    by_rule: dict[str, list[DigestItem]] = {}
    for item in shown:
        by_rule.setdefault(item.rule, []).append(item)
    ordered_rules = sorted(by_rule, key=lambda r: (r not in rank, rank.get(r, 0), r))
    groups = tuple(
        DigestGroup(rule=r, title=rule_titles.get(r) or r, items=tuple(by_rule[r]))
        for r in ordered_rules
    )
    ids = frozenset(i.article.id for i in items)
    hidden = tuple(item.story for item in filed[len(shown) :])
    return Digest(
        subscription=subscription,
        groups=groups,
        more=more,
        zone=zone,
        article_ids=ids,
        hidden=hidden,
    )


def _rules_by_article(items: Sequence[PendingItem]) -> dict[str, tuple[str, ...]]:
    """Every rule each article matched, merged when one article was filed more than once."""
    rules: dict[str, dict[str, None]] = {}
    for item in items:
        rules.setdefault(item.article.id, {}).update(dict.fromkeys(item.rules))
    return {article_id: tuple(found) for article_id, found in rules.items()}


def _unique_articles(items: Sequence[PendingItem]) -> list[Article]:
    seen: dict[str, Article] = {}
    for item in items:
        seen.setdefault(item.article.id, item.article)
    return list(seen.values())


def _first_rule(rules: Sequence[str], rank: Mapping[str, int]) -> str:
    known = [r for r in rules if r in rank]
    if known:
        return min(known, key=lambda r: rank[r])
    return rules[0] if rules else ""


def _newest_first(item: DigestItem) -> tuple[float, str, str]:
    moment = item.story.time or _OLDEST
    # Negated timestamp: newest first; ties broken by feed and id so the order is stable.
    return (-moment.timestamp(), item.story.lead.feed, item.story.lead.id)
