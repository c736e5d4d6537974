"""Queries compiled to closures: the matcher's fast path, giving the same answers as `evaluate`.

`evaluate` walks the tree and dispatches on each node's type for every article; with tens of
candidate rules per article that walk is most of the matching time. `compile_query` does the
dispatch once: each node becomes a function of the `Document`. One-word operands of an AND/OR
become one set operation; a phrase is a substring search in the scope's joined tokens (after
checking its words are there); a prefix a substring search in the scope's distinct words. NEAR
first checks that both operands occur; two words are then compared by binary search over their
positions, anything else goes to the function `evaluate` uses. AND/OR operands are tried
cheapest first (the result does not depend on the order). `tests/unit/test_index.py` checks
the matcher against `evaluate` on random rules and corpus articles.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable

from services.common.text import fold_token
from services.matcher.query.ast import And, Meta, Near, Node, Not, Or, Phrase, Query
from services.matcher.query.evaluate import Document, _meta_holds, _near_holds

__all__ = ["Test", "compile_query"]

Test = Callable[[Document], bool]


def compile_query(query: Query) -> Test:
    """A function telling whether `query` holds for a prepared article (as `evaluate` does)."""
    return _compile(query.root)


def _compile(node: Node) -> Test:
    if isinstance(node, Phrase):
        return _compile_phrase(node)
    if isinstance(node, Not):
        child = _compile(node.child)
        return lambda doc: not child(doc)
    if isinstance(node, And | Or):
        return _compile_group(node)
    if isinstance(node, Near):
        return _compile_near(node)
    meta: Meta = node
    return lambda doc: _meta_holds(meta, doc)


def _is_word(node: Node) -> bool:
    return isinstance(node, Phrase) and len(node.tokens) == 1 and not node.prefix and not node.exact


def _compile_group(node: And | Or) -> Test:
    """AND/OR: the one-word operands of each scope become one set operation, tried first."""
    words: dict[str | None, list[str]] = {}
    rest: list[Node] = []
    for child in node.children:
        if isinstance(child, Phrase) and _is_word(child):
            words.setdefault(child.scope, []).append(child.tokens[0])
        else:
            rest.append(child)
    conjunction = isinstance(node, And)
    tests = [_word_group(scope, group, conjunction) for scope, group in words.items()]
    tests += [_compile(child) for _, _, child in sorted(_costed(rest))]
    if len(tests) == 1:
        return tests[0]
    return _all(tests) if conjunction else _any(tests)


def _word_group(scope: str | None, words: list[str], conjunction: bool) -> Test:
    if len(words) == 1:
        token = words[0]
        if scope is None:
            return lambda doc: token in doc.text_words
        return lambda doc: token in doc.words(scope)
    group = frozenset(words)
    if conjunction:
        return lambda doc: group.issubset(doc.words(scope))
    return lambda doc: not group.isdisjoint(doc.words(scope))


def _compile_phrase(phrase: Phrase) -> Test:
    scope, exact = phrase.scope, phrase.exact
    if _is_word(phrase):
        return _word_group(scope, [phrase.tokens[0]], True)
    if len(phrase.tokens) == 1 and not exact:
        return _prefix(phrase.tokens[0], scope)
    # A phrase is a substring of the joined tokens, " a b " (" a b" for a prefix), searched
    # only when the scope has each of its whole tokens.
    needle = " " + " ".join(phrase.tokens) + ("" if phrase.prefix else " ")
    whole = phrase.tokens[:-1] if phrase.prefix else phrase.tokens
    required = frozenset(fold_token(token) for token in whole)

    def holds(doc: Document) -> bool:
        return required.issubset(doc.words(scope)) and needle in doc.joined(scope, exact)

    return holds


def _prefix(prefix: str, scope: str | None) -> Test:
    """Some token in the scope starts with `prefix`."""
    return lambda doc: doc.has_prefix(scope, prefix)


def _compile_near(near: Near) -> Test:
    """Both operands must occur before their distance is worth measuring."""
    left, right = _compile(near.left), _compile(near.right)
    if (
        isinstance(near.left, Phrase)
        and isinstance(near.right, Phrase)
        and _is_word(near.left)
        and _is_word(near.right)
        and near.left.scope == near.right.scope
    ):
        within = _words_within(
            near.left.tokens[0], near.right.tokens[0], near.distance, near.left.scope
        )
        return lambda doc: left(doc) and right(doc) and within(doc)
    return lambda doc: left(doc) and right(doc) and _near_holds(near, doc)


def _words_within(a: str, b: str, distance: int, scope: str | None) -> Test:
    """Two words at most `distance` positions apart in one field (the distance between one-word
    spans is the difference of their positions): for each place of the rarer word, a binary
    search among the other's."""

    def holds(doc: Document) -> bool:
        for _, field in doc.scope(scope):
            these, those = field.positions(a, False), field.positions(b, False)
            if not these or not those:
                continue
            if len(these) > len(those):
                these, those = those, these
            for position in these:
                i = bisect_left(those, position - distance)
                if i < len(those) and those[i] <= position + distance:
                    return True
        return False

    return holds


def _costed(children: list[Node]) -> list[tuple[int, int, Node]]:
    """Children with a rough cost (and their position, to keep the sort stable)."""
    return [(_cost(child), i, child) for i, child in enumerate(children)]


def _cost(node: Node) -> int:
    if isinstance(node, Phrase):
        return 1 if len(node.tokens) == 1 and not node.prefix and not node.exact else 4
    if isinstance(node, Meta):
        return 2
    if isinstance(node, Not):
        return _cost(node.child)
    if isinstance(node, And | Or):
        return sum(_cost(child) for child in node.children)
    return 8  # NEAR


def _all(tests: list[Test]) -> Test:
    if len(tests) == 2:
        first, second = tests
        return lambda doc: first(doc) and second(doc)
    if len(tests) == 3:
        first, second, third = tests
        return lambda doc: first(doc) and second(doc) and third(doc)

    def holds(doc: Document) -> bool:
        for test in tests:  # noqa: SIM110 - a loop is cheaper than all() over a generator
            if not test(doc):
                return False
        return True

    return holds


def _any(tests: list[Test]) -> Test:
    if len(tests) == 2:
        first, second = tests
        return lambda doc: first(doc) or second(doc)
    if len(tests) == 3:
        first, second, third = tests
        return lambda doc: first(doc) or second(doc) or third(doc)

    def holds(doc: Document) -> bool:
        for test in tests:  # noqa: SIM110
            if test(doc):
                return True
        return False

    return holds
