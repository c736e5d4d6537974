"""The query syntax tree: immutable nodes that a parsed query is made of.

Scopes are pushed down onto the terms at parse time, so every term knows the field it looks in
and equal terms of different rules are equal values (an article can cache their results).
`text` and `column` point back into the source for explanations and never take part in equality.
"""

from __future__ import annotations

import contextlib
import dataclasses
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
    "has_positive_term",
    "host_name",
    "is_or_group",
    "language_tag",
    "required_tokens",
    "with_scope",
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


def language_tag(tag: str) -> str:
    """A language tag in comparable form: `EN_us` → `en-us`."""
    return tag.strip().lower().replace("_", "-")


def host_name(host: str) -> str:
    """A host name in comparable form: lower case, no trailing dot, IDNA (punycode) if it can."""
    host = host.strip().lower().rstrip(".")
    if not host.isascii():
        with contextlib.suppress(UnicodeError):  # not a valid IDN: compare as written
            host = host.encode("idna").decode("ascii")
    return host


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


def has_positive_term(node: Node) -> bool:
    """Whether some term is not under a NOT: a query needs one to select anything."""
    if isinstance(node, Not):
        return False
    if isinstance(node, And | Or):
        return any(has_positive_term(child) for child in node.children)
    return True


def is_or_group(node: Node) -> bool:
    """Whether a node may be a NEAR operand: an unscoped phrase or an OR of such."""
    if isinstance(node, Phrase):
        return node.scope is None
    if isinstance(node, Or):
        return all(is_or_group(child) for child in node.children)
    return False


def with_scope(node: Node, scope: str) -> Node:
    """Apply a field scope to every term inside that has none (the innermost scope wins)."""
    if isinstance(node, Phrase):
        return node if node.scope else dataclasses.replace(node, scope=scope)
    if isinstance(node, Not):
        return dataclasses.replace(node, child=with_scope(node.child, scope))
    if isinstance(node, And | Or):
        children = tuple(with_scope(child, scope) for child in node.children)
        return dataclasses.replace(node, children=children)
    if isinstance(node, Near):
        left, right = with_scope(node.left, scope), with_scope(node.right, scope)
        return dataclasses.replace(node, left=left, right=right)
    return node
