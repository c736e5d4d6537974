"""Presearch: the rules an article could match, found from the words those rules cannot do without.

Each rule's query gives a `Need` — words (or prefixes) of which an article must contain at least
one for the query to hold (`required_tokens`, extended to prefixes). The index maps each such
word to the rules that need it, so an article is only evaluated against the rules that share a
word with it; rules with no need (only NOT or metadata terms, or a `case:` prefix) are always
candidates. The index only ever skips rules that cannot match: evaluation still decides.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter

from services.common.text import fold_token
from services.matcher.query import And, Document, Near, Node, Or, Phrase

__all__ = ["Need", "RuleIndex", "need_of"]

_HEAD = 6  # prefixes are filed under their first six characters (all of them when shorter)


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


def need_of(node: Node) -> Need | None:
    """What an article must contain for `node` to hold; None when there is no such word.

    Like `required_tokens`, and a one-word prefix (`weapon*`) needs a token with that prefix.
    For AND and NEAR it picks the operand whose need looks rarest.
    """
    if isinstance(node, Phrase):
        if len(node.tokens) == 1 and node.prefix:
            # a `case:` prefix compares unfolded tokens: no folded prefix is sure to hold
            return None if node.exact else Need(prefixes=frozenset(node.tokens))
        whole = node.tokens[:-1] if node.prefix else node.tokens
        return Need(words=frozenset({fold_token(max(whole, key=len))}))
    if isinstance(node, Or):
        union = Need()
        for child in node.children:
            needed = need_of(child)
            if needed is None:
                return None
            union |= needed
        return union
    if isinstance(node, And):
        children: Sequence[Node] = node.children
    elif isinstance(node, Near):
        children = (node.left, node.right)
    else:  # NOT and metadata terms need no word
        return None
    options = [needed for needed in map(need_of, children) if needed is not None]
    return min(options, key=lambda needed: needed.cost) if options else None


class RuleIndex:
    """Word → rules that need it, for a fixed list of queries (by position in that list)."""

    def __init__(self, roots: Sequence[Node]) -> None:
        self.size = len(roots)
        self.by_word: dict[str, list[int]] = {}
        self.by_head: dict[str, list[int]] = {}
        self.always: list[int] = []
        for position, root in enumerate(roots):
            needed = need_of(root)
            if needed is None:
                self.always.append(position)
                continue
            for word in needed.words:
                self.by_word.setdefault(word, []).append(position)
            for prefix in needed.prefixes:
                self.by_head.setdefault(prefix[:_HEAD], []).append(position)
        self.words = frozenset(self.by_word)
        self.heads = frozenset(self.by_head)
        self.head_lengths = tuple(
            (itemgetter(slice(0, n)), n) for n in sorted({len(head) for head in self.heads})
        )

    def candidates(self, doc: Document) -> list[int]:
        """Positions, in order, of the queries that might hold for `doc` (all others cannot)."""
        vocabulary = doc.vocabulary()
        by_word = self.by_word
        found = list(self.always)
        for word in vocabulary & self.words:  # iterates the smaller of the two
            found += by_word[word]
        if self.heads:
            heads: set[str] = set()
            for cut, _ in self.head_lengths:
                heads.update(map(cut, vocabulary))
            by_head = self.by_head
            for head in heads & self.heads:
                found += by_head[head]
        return sorted(set(found))
