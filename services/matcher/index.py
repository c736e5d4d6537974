"""Presearch: the rules an article could match, found from the words those rules cannot do without.

Each rule's query gives one or two `Need`s — words (or prefixes) of which an article must contain
at least one for the query to hold (`required_tokens`, extended to prefixes and to pairs). A rule
with two independent needs (`a AND b`, `(a OR b) AND c`, `a NEAR/5 b`, a phrase of two words) is
filed under word pairs and becomes a candidate only when the article has both words; one with a
single need is filed under its words or prefixes; one with none (only NOT or metadata terms, or
a `case:` prefix) is always a candidate. The index only ever skips rules that cannot match:
evaluation still decides. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter

from services.common.text import fold_token
from services.matcher.query import And, Document, Near, Node, Or, Phrase

__all__ = ["Need", "RuleIndex", "need_of", "needs_of"]

_HEAD = 5  # prefixes are filed under their first five characters (all of them when shorter)
_MAX_PAIRS = 16  # a rule is filed under at most this many word pairs


@dataclass(frozen=True, slots=True)
class Need:
    """An article must contain one of `words`, or a token starting with one of `prefixes`."""

    words: frozenset[str] = frozenset()
    prefixes: frozenset[str] = frozenset()

    @property
    def cost(self) -> float:
        """A guess at how many articles have one of these: short words are common words."""
        return sum(map(_word_cost, self.words)) + 8 * sum(map(_word_cost, self.prefixes))

    def __or__(self, other: Need) -> Need:
        return Need(self.words | other.words, self.prefixes | other.prefixes)


def _word_cost(token: str) -> float:
    return 2.0 ** -min(len(token), 10)


def _cheapest(options: list[Need]) -> Need | None:
    return min(options, key=lambda needed: needed.cost) if options else None


def need_of(node: Node) -> Need | None:
    """What an article must contain for `node` to hold; None when there is no such word.

    Like `required_tokens`, and a one-word prefix (`weapon*`) needs a token with that prefix.
    For AND and NEAR it picks the operand whose need looks rarest.
    """
    return needs_of(node)[0]


def needs_of(node: Node) -> tuple[Need | None, Need | None]:
    """Up to two needs that must both be met for `node` to hold, the rarer-looking first."""
    if isinstance(node, Phrase):
        if len(node.tokens) == 1 and node.prefix:
            # a `case:` prefix compares unfolded tokens: no folded prefix is sure to hold
            return (None if node.exact else Need(prefixes=frozenset(node.tokens))), None
        whole = node.tokens[:-1] if node.prefix else node.tokens
        words = sorted({fold_token(token) for token in whole}, key=lambda t: (-len(t), t))
        first = Need(words=frozenset(words[:1]))
        return first, (Need(words=frozenset(words[1:2])) if len(words) > 1 else None)
    if isinstance(node, Or):
        union = Need()
        for child in node.children:
            needed = needs_of(child)[0]
            if needed is None:
                return None, None
            union |= needed
        return union, None
    if isinstance(node, And):
        children: Sequence[Node] = node.children
    elif isinstance(node, Near):
        children = (node.left, node.right)
    else:  # NOT and metadata terms need no word
        return None, None
    pairs = [needs_of(child) for child in children]
    options = sorted(
        (needed for needed, _ in pairs if needed is not None), key=lambda needed: needed.cost
    )
    if len(options) >= 2:
        return options[0], options[1]
    if options:  # one operand has needs: it may have two of its own
        return next(pair for pair in pairs if pair[0] is not None)
    return None, None


class RuleIndex:
    """Words (and word pairs) → rules that need them, for a fixed list of queries (by position).

    `by_word[w]` is (rules that need `w`, {second word: rules that need `w` and it}).
    """

    def __init__(self, roots: Sequence[Node]) -> None:
        self.size = len(roots)
        self.by_word: dict[str, tuple[list[int], dict[str, list[int]]]] = {}
        self.by_head: dict[str, list[int]] = {}
        self.always: list[int] = []
        for position, root in enumerate(roots):
            self._add(position, *needs_of(root))
        self.words = frozenset(self.by_word)
        self.heads = frozenset(self.by_head)
        self.head_cuts = tuple(itemgetter(slice(0, n)) for n in {len(h) for h in self.heads})

    def _entry(self, word: str) -> tuple[list[int], dict[str, list[int]]]:
        entry = self.by_word.get(word)
        if entry is None:
            entry = self.by_word[word] = ([], {})
        return entry

    def _add(self, position: int, first: Need | None, second: Need | None) -> None:
        if first is None:
            self.always.append(position)
            return
        if (
            second is not None
            and not first.prefixes
            and not second.prefixes
            and len(first.words) * len(second.words) <= _MAX_PAIRS
        ):
            for a in first.words:
                seconds = self._entry(a)[1]
                for b in second.words:
                    seconds.setdefault(b, []).append(position)
            return
        for word in first.words:
            self._entry(word)[0].append(position)
        for prefix in first.prefixes:
            self.by_head.setdefault(prefix[:_HEAD], []).append(position)

    def candidates(self, doc: Document) -> list[int]:
        """Positions, in order, of the queries that might hold for `doc` (all others cannot)."""
        vocabulary = doc.vocabulary()
        found = list(self.always)
        by_word = self.by_word
        for word in vocabulary & self.words:  # iterates the smaller of the two
            alone, pairs = by_word[word]
            found += alone
            if pairs:
                for second in vocabulary.intersection(pairs):  # iterates the (small) dict
                    found += pairs[second]
        if self.heads:
            heads: set[str] = set()
            for cut in self.head_cuts:
                heads.update(map(cut, vocabulary))
            by_head = self.by_head
            for head in heads & self.heads:
                found += by_head[head]
        return sorted(set(found))
