"""Query evaluation: an article prepared once as a `Document`, then tested against many queries.

A `Document` holds, per field, the folded tokens and their set; positions of a token (for
phrases, prefixes and NEAR) and the case-preserving vocabulary (for `case:`) are found on
first use and remembered, so a word is a set lookup and a phrase only looks where its first
token occurs. Preparing the article is most of the cost of matching it against an indexed
rule set, so its fields are tokenised by `tokens.field_tokens`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

from services.common.text import fold_token, html_to_text
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
from services.matcher.query.tokens import exact_tokens, text_tokens

__all__ = ["Document", "evaluate", "explain", "lang_matches", "matched_spans"]

_DEFAULT_SCOPE = ("title", "summary", "content")
Span = tuple[int, int]  # first and last token position, inclusive


class _Field:
    """One field's folded tokens; their set, case-preserving tokens and positions on first use."""

    __slots__ = (
        "_exact",
        "_exact_vocabulary",
        "_joined",
        "_positions",
        "_text",
        "_vocabulary",
        "tokens",
    )

    def __init__(self, tokens: list[str], exact: list[str] | None, text: str = "") -> None:
        """`exact` None: found from `text` (the field's plain text) when first needed."""
        self.tokens = tokens
        self._exact = exact
        self._text = text
        self._vocabulary: set[str] | None = None
        self._exact_vocabulary: set[str] | None = None
        self._positions: dict[tuple[str, bool], list[int]] | None = None
        self._joined: tuple[str | None, str | None] = (None, None)

    @classmethod
    def from_exact(cls, exact: list[str]) -> _Field:
        return cls([fold_token(token) for token in exact], exact)

    @property
    def exact(self) -> list[str]:
        """The case-preserving tokens (for `case:` terms and highlighting)."""
        if self._exact is None:
            self._exact = exact_tokens(self._text)
        return self._exact

    @property
    def vocabulary(self) -> set[str]:
        if self._vocabulary is None:
            self._vocabulary = set(self.tokens)
        return self._vocabulary

    def has(self, token: str, exact: bool) -> bool:
        if not exact:
            return token in self.vocabulary
        if self._exact_vocabulary is None:
            self._exact_vocabulary = set(self.exact)
        return token in self._exact_vocabulary

    def sequence(self, exact: bool) -> list[str]:
        return self.exact if exact else self.tokens

    def positions(self, token: str, exact: bool) -> list[int]:
        """Sorted positions of one token (`list.index` scans in C: no per-article index)."""
        cache = self._positions
        if cache is None:
            cache = self._positions = {}
        key = (token, exact)
        hit = cache.get(key)
        if hit is None:
            hit = cache[key] = []
            tokens = self.sequence(exact)
            try:
                i = tokens.index(token)
                while True:
                    hit.append(i)
                    i = tokens.index(token, i + 1)
            except ValueError:
                pass
        return hit

    def joined(self, exact: bool) -> str:
        """The tokens joined by single spaces, with a space at each end.

        Tokens hold no spaces, so a phrase occurs exactly where `" a b "` is a substring of
        this, and a token starts with `x` exactly where `" x"` is: a search in C.
        """
        folded, exact_joined = self._joined
        hit = exact_joined if exact else folded
        if hit is None:
            hit = " " + " ".join(self.sequence(exact)) + " "
            self._joined = (folded, hit) if exact else (hit, exact_joined)
        return hit

    def has_prefix(self, prefix: str, exact: bool) -> bool:
        """Whether some token starts with `prefix`."""
        return " " + prefix in self.joined(exact)

    def prefix_positions(self, prefix: str, exact: bool) -> list[int]:
        """Sorted positions of every token that starts with `prefix`."""
        cache = self._positions
        if cache is None:
            cache = self._positions = {}
        key = (prefix + "*", exact)  # no token holds a `*`
        hit = cache.get(key)
        if hit is None:
            hit = []
            if self.has_prefix(prefix, exact):
                self.has("", exact)  # builds the exact vocabulary when needed
                words = self._exact_vocabulary if exact else self.vocabulary
                for word in words or ():
                    if word.startswith(prefix):
                        hit.extend(self.positions(word, exact))
                hit.sort()
            cache[key] = hit
        return hit


class Document:
    """An article prepared once for evaluating many queries against it."""

    __slots__ = (
        "_distinct",
        "_holds",
        "_host",
        "_html",
        "_joined",
        "_link",
        "_scopes",
        "_spans",
        "_texts",
        "_vocabulary",
        "_words",
        "feed",
        "fields",
        "lang",
        "text_words",
    )

    def __init__(
        self,
        fields: Mapping[str, list[str] | _Field],
        *,
        feed: str,
        lang: str,
        link: str,
        texts: dict[str, str] | None = None,
    ) -> None:
        """`fields` maps field keys (`title`…, `category:0`…) to case-preserving tokens.

        `texts` optionally keeps each field's plain text, for highlighting with `token_offsets`.
        """
        self.fields = {
            key: value if isinstance(value, _Field) else _Field.from_exact(value)
            for key, value in fields.items()
        }
        self._texts = texts
        self._html: dict[str, str] = {}
        self.feed = feed
        self.lang = language_tag(lang)
        self._link = link
        self._host: str | None = None
        categories = tuple(key for key in self.fields if key.startswith("category:"))
        self._scopes: dict[str | None, tuple[tuple[str, _Field], ...]] = {
            None: tuple((key, self.fields[key]) for key in _DEFAULT_SCOPE if key in self.fields),
            "category": tuple((key, self.fields[key]) for key in categories),
        }
        self._holds: dict[Node, bool] = {}  # results of the costlier terms, shared by all queries
        self._spans: dict[Node, dict[str, list[Span]]] = {}
        self._vocabulary: set[str] | None = None
        self.text_words: set[str] = set()
        """Folded tokens of title, summary and content: what an unscoped word looks for."""
        for _, field in self._scopes[None]:
            self.text_words.update(field.tokens)
        self._words: dict[str | None, set[str]] = {None: self.text_words}
        self._joined: dict[tuple[str | None, bool], str] = {}
        self._distinct: dict[str | None, str] = {}

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
        fields: dict[str, list[str] | _Field] = {}
        for key, value in html.items():
            text = html_to_text(value) if ("<" in value or "&" in value) else value
            folded, exact = text_tokens(text)
            fields[key] = _Field(folded, exact, text)
        doc = cls(fields, feed=feed, lang=lang, link=link)
        doc._html = html
        return doc

    @property
    def texts(self) -> dict[str, str]:
        """Each field's plain text (from its HTML, on first use), for highlighting."""
        if self._texts is None:
            self._texts = {key: html_to_text(value) for key, value in self._html.items()}
        return self._texts

    @property
    def host(self) -> str:
        """The link's host, comparable form (for `site:`), found on first use."""
        if self._host is None:
            self._host = _host(self._link)
        return self._host

    def scope(self, scope: str | None) -> tuple[tuple[str, _Field], ...]:
        """The (key, field) pairs a term with this scope looks in."""
        hit = self._scopes.get(scope)
        if hit is None:
            key = scope or ""
            field = self.fields.get(key)
            hit = self._scopes[scope] = ((key, field),) if field is not None else ()
        return hit

    def joined(self, scope: str | None, exact: bool = False) -> str:
        """The scope's tokens joined by spaces, each field's with a space at each end and a
        line break between fields.

        Tokens hold neither, so a phrase occurs in one field exactly where `" a b "` is a
        substring of this, and a token starts with `x` exactly where `" x"` is: a search in C.
        """
        key = (scope, exact)
        hit = self._joined.get(key)
        if hit is None:
            hit = self._joined[key] = "\n".join(
                field.joined(exact) for _, field in self.scope(scope)
            )
        return hit

    def has_prefix(self, scope: str | None, prefix: str) -> bool:
        """Whether a folded token in the scope starts with `prefix`: a substring search in the
        scope's distinct words joined by spaces (a few KB, built once)."""
        joined = self._distinct.get(scope)
        if joined is None:
            joined = self._distinct[scope] = " " + " ".join(self.words(scope))
        return " " + prefix in joined

    def words(self, scope: str | None) -> set[str]:
        """The folded tokens a one-word term with this scope looks for (one set lookup)."""
        hit = self._words.get(scope)
        if hit is None:
            fields = self.scope(scope)
            if len(fields) == 1:
                hit = fields[0][1].vocabulary
            else:
                hit = set()
                for _, field in fields:
                    hit.update(field.tokens)
            self._words[scope] = hit
        return hit

    def vocabulary(self) -> set[str]:
        """Every folded token of every field: what a rule index looks candidates up by."""
        if self._vocabulary is None:
            others = [
                field.tokens
                for key, field in self.fields.items()
                if key not in _DEFAULT_SCOPE and field.tokens
            ]
            vocabulary = self.text_words
            if others:
                vocabulary = set(vocabulary)
                for tokens in others:
                    vocabulary.update(tokens)
            self._vocabulary = vocabulary
        return self._vocabulary

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
            if token in field.vocabulary:
                return True
        return False
    hit = doc._holds.get(phrase)
    if hit is None:
        hit = False
        if len(phrase.tokens) == 1 and phrase.prefix:
            for _, field in doc.scope(phrase.scope):
                if field.has_prefix(phrase.tokens[0], phrase.exact):
                    hit = True
                    break
            doc._holds[phrase] = hit
            return hit
        for _, field in doc.scope(phrase.scope):
            if next(_starts(field, phrase), None) is not None:
                hit = True
                break
        doc._holds[phrase] = hit
    return hit


def _starts(field: _Field, phrase: Phrase) -> Iterator[int]:
    """Positions in one field where the phrase starts, in order."""
    want = phrase.tokens
    exact = phrase.exact
    if len(want) == 1:
        if phrase.prefix:
            yield from field.prefix_positions(want[0], exact)
        else:
            yield from field.positions(want[0], exact)
        return
    last = len(want) - 1
    for token in want[1:last] if phrase.prefix else want[1:]:
        if not field.has(token, exact):
            return
    tokens = field.sequence(exact)
    for start in field.positions(want[0], exact):
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
