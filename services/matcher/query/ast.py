"""The query syntax tree: immutable nodes that a parsed query is made of.

Scopes are pushed down onto the terms at parse time, so every term knows the field it looks in
and equal terms of different rules are equal values (an article can cache their results).
`text` and `column` point back into the source for explanations and never take part in equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.text import fold_token

__all__ = [
    "TEXT_FIELDS",
    "And",
    "Meta",
    "Near",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "Query",
    "required_tokens",
]

TEXT_FIELDS = ("title", "summary", "content", "author", "category")
"""Field names a term can be scoped to; unscoped terms look in title, summary and content."""


@dataclass(frozen=True, slots=True)
class Phrase:
    """Tokens in a row within one field; a single word is a one-token phrase.

    `prefix`: the last token only has to start with the last query token.
    `exact`: compare case-preserving tokens (`case:`). `scope`: a name from TEXT_FIELDS or None.
    """

    tokens: tuple[str, ...]
    prefix: bool = False
    exact: bool = False
    scope: str | None = None
    text: str = field(default="", compare=False)
    column: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Meta:
    """A metadata test: `feed` id, `lang` tag or `site` host, already normalised."""

    kind: str
    value: str
    text: str = field(default="", compare=False)
    column: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    child: Node
    text: str = field(default="", compare=False)
    column: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]
    text: str = field(default="", compare=False)
    column: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]
    text: str = field(default="", compare=False)
    column: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Near:
    """Both operands in one field, at most `distance` positions apart, in either order.

    Operands are phrases or ORs of phrases, all with the same scope (the one around the NEAR).
    """

    left: Node
    right: Node
    distance: int
    text: str = field(default="", compare=False)
    column: int = field(default=0, compare=False)


Node = Phrase | Meta | Not | And | Or | Near


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: the tree and the source it came from."""

    root: Node
    source: str


def required_tokens(node: Node) -> frozenset[str] | None:
    """Folded tokens of which an article must contain at least one for `node` to hold.

    None when no such set exists (a NOT, a metadata term, a one-word prefix): such a query has to
    be evaluated for every article. Lets a term → rules index skip most rules per article.
    """
    if isinstance(node, Phrase):
        if len(node.tokens) == 1 and node.prefix:
            return None
        whole = node.tokens[:-1] if node.prefix else node.tokens
        return frozenset({fold_token(max(whole, key=len))})
    if isinstance(node, Or):
        union: set[str] = set()
        for child in node.children:
            needed = required_tokens(child)
            if needed is None:
                return None
            union |= needed
        return frozenset(union)
    children = node.children if isinstance(node, And) else ()
    if isinstance(node, Near):
        children = (node.left, node.right)
    options = [t for t in map(required_tokens, children) if t is not None]
    return min(options, key=len) if options else None
