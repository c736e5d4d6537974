"""Query evaluation: an article prepared once as a `Document`, then tested against many queries.

A `Document` holds, per field, the folded tokens with a token→positions index (and, built on
first use, the case-preserving index for `case:` and a sorted vocabulary for prefixes), so a
word is a dict lookup and a phrase or NEAR only looks at the positions of its tokens.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import urlsplit

from services.common.text import fold_token, html_to_text, normalise, split_tokens
from services.matcher.query.ast import (
    And,
    Meta,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Query,
    host_name,
    language_tag,
)

__all__ = ["Document", "evaluate", "explain", "lang_matches", "matched_spans"]

_DEFAULT_SCOPE = ("title", "summary", "content")
Span = tuple[int, int]  # first and last token position, inclusive


class _Field:
    """One field's tokens: folded with an index up front, exact and sorted vocabulary lazily."""

    __slots__ = ("_exact_index", "_prefixes", "_vocabulary", "exact", "index", "tokens")

    def __init__(self, exact: list[str]) -> None:
        self.exact = exact
        self.tokens = [fold_token(token) for token in exact]
        self.index = _positions(self.tokens)
        self._exact_index: dict[str, list[int]] | None = None
        self._vocabulary: dict[bool, list[str]] = {}
        self._prefixes: dict[tuple[str, bool], list[int]] = {}

    def lookup(self, exact: bool) -> tuple[list[str], dict[str, list[int]]]:
        if not exact:
            return self.tokens, self.index
        if self._exact_index is None:
            self._exact_index = _positions(self.exact)
        return self.exact, self._exact_index

    def prefix_positions(self, prefix: str, exact: bool) -> list[int]:
        """Sorted positions of every token that starts with `prefix`."""
        key = (prefix, exact)
        hit = self._prefixes.get(key)
        if hit is None:
            index = self.lookup(exact)[1]
            vocabulary = self._vocabulary.get(exact)
            if vocabulary is None:
                vocabulary = self._vocabulary[exact] = sorted(index)
            hit = []
            for i in range(bisect_left(vocabulary, prefix), len(vocabulary)):
                if not vocabulary[i].startswith(prefix):
                    break
                hit.extend(index[vocabulary[i]])
            hit.sort()
            self._prefixes[key] = hit
        return hit


def _positions(tokens: list[str]) -> dict[str, list[int]]:
    index: dict[str, list[int]] = {}
    for i, token in enumerate(tokens):
        if token in index:
            index[token].append(i)
        else:
            index[token] = [i]
    return index


class Document:
    """An article prepared once for evaluating many queries against it."""

    __slots__ = ("_holds", "_scopes", "_spans", "feed", "fields", "host", "lang", "texts")

    def __init__(
        self,
        fields: dict[str, list[str]],
        *,
        feed: str,
        lang: str,
        link: str,
        texts: dict[str, str] | None = None,
    ) -> None:
        """`fields` maps field keys (`title`…, `category:0`…) to case-preserving tokens.

        `texts` optionally keeps each field's plain text, for highlighting with `token_offsets`.
        """
        self.fields = {key: _Field(tokens) for key, tokens in fields.items()}
        self.texts = texts or {}
        self.feed = feed
        self.lang = language_tag(lang)
        self.host = _host(link)
        categories = tuple(key for key in self.fields if key.startswith("category:"))
        self._scopes: dict[str | None, tuple[tuple[str, _Field], ...]] = {
            None: tuple((key, self.fields[key]) for key in _DEFAULT_SCOPE if key in self.fields),
            "category": tuple((key, self.fields[key]) for key in categories),
        }
        self._holds: dict[Node, bool] = {}  # results of the costlier terms, shared by all queries
        self._spans: dict[Node, dict[str, list[Span]]] = {}

    @classmethod
    def from_fields(
        cls,
        *,
        title: str = "",
        summary: str = "",
        content: str = "",
        author: str = "",
        categories: Iterable[str] = (),
        feed: str = "",
        lang: str = "",
        link: str = "",
    ) -> Document:
        """Prepare an article whose text fields are HTML (as every feed field may be)."""
        html = {"title": title, "summary": summary, "content": content, "author": author}
        html.update({f"category:{i}": category for i, category in enumerate(categories)})
        texts = {key: html_to_text(value) for key, value in html.items()}
        fields = {
            key: split_tokens(normalise(text, fold_case=False)) for key, text in texts.items()
        }
        return cls(fields, feed=feed, lang=lang, link=link, texts=texts)

    def scope(self, scope: str | None) -> tuple[tuple[str, _Field], ...]:
        """The (key, field) pairs a term with this scope looks in."""
        hit = self._scopes.get(scope)
        if hit is None:
            key = scope or ""
            field = self.fields.get(key)
            hit = self._scopes[scope] = ((key, field),) if field is not None else ()
        return hit

    def vocabulary(self) -> set[str]:
        """Every folded token of every field: what `required_tokens` sets are checked against."""
        return {token for field in self.fields.values() for token in field.index}

    def tokens(self, key: str) -> list[str]:
        """The case-preserving tokens of one field (for highlighting matched spans)."""
        return self.fields[key].exact


def _host(link: str) -> str:
    try:
        host = urlsplit(link.strip()).hostname or ""
    except ValueError:
        return ""
    return host_name(host)


def lang_matches(wanted: str, lang: str) -> bool:
    """Whether a language tag `lang` is `wanted` or a variant of it (`en` holds for `EN_us`)."""
    wanted, lang = language_tag(wanted), language_tag(lang)
    return bool(wanted) and (lang == wanted or lang.startswith(wanted + "-"))


def evaluate(query: Query, doc: Document) -> bool:
    """Whether the query holds for the article."""
    return _holds(query.root, doc)


def _holds(node: Node, doc: Document) -> bool:
    # Plain loops rather than all()/any() over generators: this runs ~10^5 times per article.
    if isinstance(node, Phrase):
        return _phrase_holds(node, doc)
    if isinstance(node, And):
        for child in node.children:  # noqa: SIM110
            if not _holds(child, doc):
                return False
        return True
    if isinstance(node, Or):
        for child in node.children:  # noqa: SIM110
            if _holds(child, doc):
                return True
        return False
    if isinstance(node, Not):
        return not _holds(node.child, doc)
    if isinstance(node, Near):
        return _near_holds(node, doc)
    return _meta_holds(node, doc)


def _phrase_holds(phrase: Phrase, doc: Document) -> bool:
    if len(phrase.tokens) == 1 and not phrase.prefix and not phrase.exact:
        token = phrase.tokens[0]
        for _, field in doc.scope(phrase.scope):  # noqa: SIM110
            if token in field.index:
                return True
        return False
    hit = doc._holds.get(phrase)
    if hit is None:
        hit = False
        for _, field in doc.scope(phrase.scope):
            if next(_starts(field, phrase), None) is not None:
                hit = True
                break
        doc._holds[phrase] = hit
    return hit


def _starts(field: _Field, phrase: Phrase) -> Iterator[int]:
    """Positions in one field where the phrase starts, in order."""
    want = phrase.tokens
    if len(want) == 1:
        if phrase.prefix:
            yield from field.prefix_positions(want[0], phrase.exact)
        else:
            yield from field.lookup(phrase.exact)[1].get(want[0], ())
        return
    tokens, index = field.lookup(phrase.exact)
    last = len(want) - 1
    for start in index.get(want[0], ()):
        if start + last >= len(tokens):
            return
        if all(tokens[start + i] == want[i] for i in range(1, last)):
            end = tokens[start + last]
            if end.startswith(want[last]) if phrase.prefix else end == want[last]:
                yield start


def _spans(node: Node, doc: Document) -> dict[str, list[Span]]:
    """Where a phrase, or an OR of phrases, occurs: field key → sorted spans (cached per doc)."""
    hit = doc._spans.get(node)
    if hit is not None:
        return hit
    out: dict[str, list[Span]] = {}
    phrases = [node] if isinstance(node, Phrase) else list(_or_phrases(node))
    for phrase in phrases:
        length = len(phrase.tokens) - 1
        for key, field in doc.scope(phrase.scope):
            spans = [(start, start + length) for start in _starts(field, phrase)]
            if spans:
                out.setdefault(key, []).extend(spans)
    if len(phrases) > 1:
        for spans in out.values():
            spans.sort()
    doc._spans[node] = out
    return out


def _or_phrases(node: Node) -> Iterator[Phrase]:
    if isinstance(node, Phrase):
        yield node
    elif isinstance(node, Or):
        for child in node.children:
            yield from _or_phrases(child)


def _near_holds(near: Near, doc: Document) -> bool:
    hit = doc._holds.get(near)
    if hit is None:
        left = _spans(near.left, doc)
        right = _spans(near.right, doc) if left else {}
        hit = any(
            next(_near_pairs(left[key], right[key], near.distance), None) is not None
            for key in left.keys() & right.keys()
        )
        doc._holds[near] = hit
    return hit


def _near_pairs(a: Sequence[Span], b: Sequence[Span], distance: int) -> Iterator[tuple[Span, Span]]:
    """Pairs of spans at most `distance` apart, either order (overlaps are ≤ 0 apart).

    The distance is the start of the later span minus the end of the earlier one.
    """
    b_starts = [start for start, _ in b]
    for span in a:  # b starts at or after span's start
        i = bisect_left(b_starts, span[0])
        while i < len(b) and b_starts[i] - span[1] <= distance:
            yield span, b[i]
            i += 1
    a_starts = [start for start, _ in a]
    for span in b:  # a starts after span's start
        i = bisect_left(a_starts, span[0] + 1)
        while i < len(a) and a_starts[i] - span[1] <= distance:
            yield a[i], span
            i += 1


def _meta_holds(meta: Meta, doc: Document) -> bool:
    if meta.kind == "feed":
        return doc.feed == meta.value
    if meta.kind == "lang":
        return doc.lang == meta.value or doc.lang.startswith(meta.value + "-")
    host = doc.host
    return bool(host) and (host == meta.value or host.endswith("." + meta.value))


def explain(query: Query, doc: Document) -> list[tuple[str, bool]]:
    """Each part of the query (pre-order) with whether it held, for `wirewatch test-rule`."""
    out: list[tuple[str, bool]] = []

    def visit(node: Node) -> None:
        out.append((node.text, _holds(node, doc)))
        for child in _children(node):
            visit(child)

    visit(query.root)
    return out


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, And | Or):
        return node.children
    if isinstance(node, Not):
        return (node.child,)
    if isinstance(node, Near):
        return (node.left, node.right)
    return ()


def matched_spans(query: Query, doc: Document) -> dict[str, list[Span]]:
    """Token spans (field key → sorted, inclusive) of the positive terms that hold: highlights."""
    out: dict[str, set[Span]] = {}

    def visit(node: Node) -> None:
        if isinstance(node, Near):
            left, right = _spans(node.left, doc), _spans(node.right, doc)
            for key in left.keys() & right.keys():
                for a, b in _near_pairs(left[key], right[key], node.distance):
                    out.setdefault(key, set()).update((a, b))
        elif isinstance(node, Phrase):
            for key, spans in _spans(node, doc).items():
                out.setdefault(key, set()).update(spans)
        elif not isinstance(node, Not):
            for child in _children(node):
                visit(child)

    visit(query.root)
    return {key: sorted(spans) for key, spans in out.items()}
