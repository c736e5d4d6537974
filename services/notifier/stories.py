"""Same-story grouping (DESIGN §4 "Same story"): one digest item per story, not per outlet.

Two articles are the same story when they come from different feeds, were published within
48 hours of each other, and their normalised titles (DESIGN §3 via `services.common.text`: HTML
stripped, NFKC, case-folded, diacritics and punctuation removed) are near-duplicates.

Why `rapidfuzz.fuzz.token_set_ratio` (≥ 80): wire rewrites of one event reorder words
("Russia's Putin arrives in North Korea" / "Putin arrives in North Korea for rare visit")
and add or drop clauses, which defeats plain edit distance and sorted-token ratios;
token-set similarity compares the shared tokens against each side's leftovers, so a
headline that is another plus a few words still scores high. Its weakness is short
headlines: "Putin arrives in Pyongyang" vs "Putin arrives in Beijing" scores 80, and any
subset scores 100. So a pair must also share at least 3 *content* tokens (not stop-words,
not single Latin letters) and at least min(4, content tokens of either title) of them; a
pair whose normalised titles are identical always matches.

Grouping is greedy in time order (earliest first): an article joins the first story that
has a similar member, whose lead was published at most 48 h before it, and that has no
article from the same feed yet; otherwise it leads a new story. Comparing against members
(not a transitive closure) keeps a story from chaining across days. Candidates come from
an inverted index on content tokens, so ~1,000 articles cost far less than n² comparisons.

Articles with the same `id` or the same `link` (canonical link) are one article: later
copies are kept on the story as `merged`, so they are recorded as delivered but never shown.

Late articles: a target remembers each story it received as a `StoryTrace` (feeds, lead time,
normalised titles). `StoryIndex.find` applies the same test as grouping (another feed, within
48 h of the lead, a title similar to one of the story's) to an article that arrives after its
story went out, so the notifier can record it as delivered instead of sending it again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from rapidfuzz import fuzz

from services.common.models import Article
from services.common.text import html_to_text, tokenize

__all__ = [
    "SIMILARITY",
    "WINDOW",
    "Story",
    "StoryIndex",
    "StoryTrace",
    "article_time",
    "group_stories",
    "outlet_of",
    "trace_of",
]

SIMILARITY = 80.0
"""rapidfuzz token_set_ratio (0–100) at or above which two titles are near-duplicates."""

WINDOW = timedelta(hours=48)
"""How far apart two articles of one story may have been published."""

_MIN_SHARED = 3
_ENOUGH_SHARED = 4
_STOP_WORDS = frozenset(
    {
        *("a", "an", "the", "and", "or", "but", "of", "in", "on", "at", "to", "for", "from"),
        *("by", "with", "as", "into", "onto", "over", "under", "after", "before", "about"),
        *("off", "up", "down", "out", "amid", "against", "via", "between", "during", "while"),
        *("is", "are", "was", "were", "be", "been", "has", "have", "had", "will", "would"),
        *("can", "could", "may", "might", "it", "its", "this", "that", "these", "those"),
        *("he", "she", "they", "we", "you", "his", "her", "their", "our", "your", "who"),
        *("what", "how", "why", "when", "where", "than", "not", "no", "more", "says", "say"),
        *("said", "new"),
    }
)


@dataclass(frozen=True)
class Story:
    """One event as reported by one or more feeds.

    `lead` is the earliest article (its headline and link are shown); `others` are the other
    feeds' articles in time order; `merged` are copies of shown articles (same id or link).
    """

    lead: Article
    others: list[Article] = field(default_factory=list)
    merged: list[Article] = field(default_factory=list)

    @property
    def articles(self) -> list[Article]:
        """Every article of the story, shown or merged: all of them count as delivered."""
        return [self.lead, *self.others, *self.merged]

    @property
    def article_ids(self) -> frozenset[str]:
        return frozenset(a.id for a in self.articles)

    @property
    def also_outlets(self) -> list[str]:
        """Outlets of the others, in order, without repeats or the lead's own outlet."""
        seen = {outlet_of(self.lead)}
        names: list[str] = []
        for article in self.others:
            name = outlet_of(article)
            if name not in seen:
                seen.add(name)
                names.append(name)
        return names

    @property
    def time(self) -> datetime | None:
        """The lead's time: what the digest shows and sorts by."""
        return article_time(self.lead)


def outlet_of(article: Article) -> str:
    """The name shown for an article's source: the feed's outlet name, else the feed id."""
    return article.outlet or article.feed


def article_time(article: Article) -> datetime | None:
    """When the article appeared: its published date, else when it was fetched (aware, UTC)."""
    moment = article.published or article.fetched
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the contract says UTC; tolerate a naive value
    return moment


_NO_TIME = datetime.max.replace(tzinfo=UTC)


def _time_key(article: Article) -> tuple[datetime, str, str]:
    return (article_time(article) or _NO_TIME, article.feed, article.id)


@dataclass(frozen=True)
class _Title:
    text: str  # normalised tokens joined by spaces, what rapidfuzz compares
    content: frozenset[str]


def _title_of(article: Article) -> _Title:
    return _title_of_text(article.title)


TITLE_CACHE_SIZE = 4096
"""Normalised titles remembered (~1 KB each, so ~4 MB at the cap). Reuse happens within one send
pass (grouping, late-article checks and traces of every digest an article is in), and a pass
rarely holds more distinct articles than this; a miss only costs one tokenisation."""


@lru_cache(maxsize=TITLE_CACHE_SIZE)
def _title_of_text(title: str) -> _Title:
    """Cached: the same headline is compared in every subscription's digest it appears in.

    Bounded (`TITLE_CACHE_SIZE`): every new article brings a new headline, so an unbounded or
    very large cache is what made the notifier's memory grow for hours.
    """
    return _title_from_tokens(tokenize(html_to_text(title)))


def _title_from_tokens(tokens: Sequence[str]) -> _Title:
    content = frozenset(
        t for t in tokens if t not in _STOP_WORDS and not (len(t) == 1 and t.isascii())
    )
    return _Title(" ".join(tokens), content)


def _similar(a: _Title, b: _Title) -> bool:
    if a.text == b.text:
        return bool(a.text)
    shared = len(a.content & b.content)
    if shared < _MIN_SHARED or shared < min(_ENOUGH_SHARED, len(a.content), len(b.content)):
        return False
    return bool(fuzz.token_set_ratio(a.text, b.text) >= SIMILARITY)


def _within_window(lead: Article, article: Article) -> bool:
    first, second = article_time(lead), article_time(article)
    if first is None or second is None:
        return True  # no date to tell them apart: the titles decide
    return abs(second - first) <= WINDOW


@dataclass
class _Building:
    lead: Article
    others: list[Article] = field(default_factory=list)
    merged: list[Article] = field(default_factory=list)
    feeds: set[str] = field(default_factory=set)


def group_stories(articles: Sequence[Article]) -> list[Story]:
    """Group articles into stories, leads in time order (earliest first, then feed, id).

    Deterministic for a given set of articles, whatever order they come in.
    """
    ordered = sorted(articles, key=_time_key)
    stories: list[_Building] = []
    owner: dict[str, int] = {}  # article id or link -> story index (for collapsing copies)
    titles: list[_Title] = []  # per shown member
    member_story: list[int] = []  # shown member -> story index
    index: defaultdict[str, list[int]] = defaultdict(list)  # content token -> shown members

    for article in ordered:
        keys = [
            k for k in (f"id:{article.id}", f"link:{article.link}" if article.link else "") if k
        ]
        known = next((owner[k] for k in keys if k in owner), None)
        if known is not None:
            stories[known].merged.append(article)
            for k in keys:
                owner.setdefault(k, known)
            continue
        title = _title_of(article)
        target = _find_story(article, title, stories, titles, member_story, index)
        if target is None:
            target = len(stories)
            stories.append(_Building(lead=article))
        else:
            stories[target].others.append(article)
        stories[target].feeds.add(article.feed)
        for k in keys:
            owner[k] = target
        member = len(titles)
        titles.append(title)
        member_story.append(target)
        for token in title.content:
            index[token].append(member)

    return [Story(lead=s.lead, others=s.others, merged=s.merged) for s in stories]


def _find_story(
    article: Article,
    title: _Title,
    stories: list[_Building],
    titles: list[_Title],
    member_story: list[int],
    index: defaultdict[str, list[int]],
) -> int | None:
    """The earliest-started story this article belongs to, or None."""
    by_story: defaultdict[int, list[int]] = defaultdict(list)
    for member in _candidate_members(title, index):
        by_story[member_story[member]].append(member)
    for story_index in sorted(by_story):
        story = stories[story_index]
        if article.feed in story.feeds or not _within_window(story.lead, article):
            continue
        if any(_similar(title, titles[m]) for m in by_story[story_index]):
            return story_index
    if title.content or not title.text:
        return None
    for m, other in enumerate(titles):  # no content token (e.g. "Live"): only identical titles
        story = stories[member_story[m]]
        same = other.text == title.text and article.feed not in story.feeds
        if same and _within_window(story.lead, article):
            return member_story[m]
    return None


def _candidate_members(title: _Title, index: defaultdict[str, list[int]]) -> list[int]:
    counts: defaultdict[int, int] = defaultdict(int)
    for token in title.content:
        for member in index.get(token, ()):
            counts[member] += 1
    needed = min(_MIN_SHARED, len(title.content))
    return [m for m, n in counts.items() if n >= max(needed, 1)]


# ---------------------------------------------------------------------------------------------
# Stories already delivered


@dataclass(frozen=True)
class StoryTrace:
    """What a target remembers of a story it received, enough to recognise a late article.

    `titles` are the normalised titles (tokens joined by spaces) of every article of the story.
    """

    lead_time: datetime | None
    feeds: frozenset[str]
    titles: tuple[str, ...]


def trace_of(story: Story) -> StoryTrace:
    """The trace of a delivered story (shown, or counted in "+N more")."""
    titles = dict.fromkeys(_title_of(a).text for a in story.articles)
    return StoryTrace(
        lead_time=article_time(story.lead),
        feeds=frozenset(a.feed for a in story.articles),
        titles=tuple(t for t in titles if t),
    )


class StoryIndex:
    """Delivered stories, indexed by title token, to find the one a late article belongs to."""

    def __init__(self, traces: Sequence[StoryTrace]) -> None:
        self._traces = list(traces)
        self._titles: list[tuple[int, _Title]] = []  # (trace index, title)
        self._index: defaultdict[str, list[int]] = defaultdict(list)  # token -> title indices
        for trace_index, trace in enumerate(self._traces):
            for text in trace.titles:
                title = _title_from_tokens(text.split())
                position = len(self._titles)
                self._titles.append((trace_index, title))
                for token in title.content:
                    self._index[token].append(position)

    def __len__(self) -> int:
        return len(self._traces)

    def find(self, article: Article) -> StoryTrace | None:
        """The delivered story `article` would have joined (same test as grouping), or None."""
        title = _title_of(article)
        if not title.text:
            return None
        if title.content:
            candidates = _candidate_members(title, self._index)
        else:  # no content token: only an identical title can match
            candidates = [i for i, (_, t) in enumerate(self._titles) if t.text == title.text]
        moment = article_time(article)
        for position in sorted(candidates):
            trace_index, other = self._titles[position]
            trace = self._traces[trace_index]
            apart = (
                moment is not None
                and trace.lead_time is not None
                and abs(moment - trace.lead_time) > WINDOW
            )
            if article.feed not in trace.feeds and not apart and _similar(title, other):
                return trace
        return None
