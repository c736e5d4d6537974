"""Matched terms: which words of an article a subscription's rules matched, and where they are
in a piece of text. Pure.

Terms are computed in the notifier (not carried on the stream) by re-parsing the rules' queries
and asking the query engine for the spans that held (`matched_spans`): the words shown in bold
are exactly the ones that made the rule match, prefixes expanded (`weapon*` marks `weapons`).

Finding terms in text compares *tokens* (DESIGN §3: case, diacritics and punctuation ignored,
every script, Han and Thai one character per token), so `pyongyang` marks `Pyŏngyang`, `北朝鮮`
is found inside a Chinese sentence, and `kim jong un` marks `Kim Jong-un`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from services.common.models import Article
from services.common.text import normalise, token_offsets, tokenize
from services.matcher.query import Query, matched_spans
from services.matcher.rules import document_for

__all__ = ["Highlighter", "matched_terms"]

Span = tuple[int, int]  # character offsets [start, end) into the text

_MAX_PROBES = 8
_PROBE_BEFORE = 150
_PROBE_AFTER = 250


@dataclass(frozen=True)
class _Term:
    tokens: tuple[str, ...]
    prefix: bool  # the last token only has to start with the last term token


def _parse(raw: str) -> _Term | None:
    text = raw.strip()
    prefix = text.endswith("*")
    body = text[:-1] if prefix else text
    if prefix and (not body or body[-1].isspace()):
        return None
    tokens = tuple(tokenize(body))
    return _Term(tokens, prefix) if tokens else None


class Highlighter:
    """A set of terms (`word`, `a phrase`, `prefix*`) to find in plain text."""

    def __init__(self, terms: Iterable[str]) -> None:
        parsed = {t for t in (_parse(raw) for raw in terms) if t is not None}
        self._by_first: dict[str, list[_Term]] = {}
        self._prefix_words: list[_Term] = []  # single-token prefixes: no exact first token
        for term in sorted(parsed, key=lambda t: (-len(t.tokens), t.tokens)):
            if term.prefix and len(term.tokens) == 1:
                self._prefix_words.append(term)
            else:
                self._by_first.setdefault(term.tokens[0], []).append(term)
        # Every token of a text is a substring of the text normalised as a whole, so a text
        # whose normalised form holds no term's first token holds no term: skip tokenising it.
        self._needles = tuple({t.tokens[0] for t in parsed})
        self._memo: dict[str, list[Span]] = {}  # a snippet is searched when chosen and when shown

    def __bool__(self) -> bool:
        return bool(self._by_first or self._prefix_words)

    def spans(self, text: str) -> list[Span]:
        """Where the terms occur in `text`, left to right, longest match first, no overlaps."""
        if not self or not text:
            return []
        known = self._memo.get(text)
        if known is None:
            known = self._memo[text] = self._spans(text)
        return known

    def _spans(self, text: str) -> list[Span]:
        folded = _folded(text)
        if not any(needle in folded for needle in self._needles):
            return []
        found_tokens = _tokens_at(text)
        if found_tokens is None:  # rare compositions (see token_offsets): do not guess
            return []
        tokens, offsets = found_tokens
        found: list[Span] = []
        i = 0
        while i < len(tokens):
            length = self._longest_at(tokens, i)
            if length:
                found.append((offsets[i][0], offsets[i + length - 1][1]))
                i += length
            else:
                i += 1
        return found

    def first_span(self, text: str) -> Span | None:
        """The first occurrence of a term in `text`, cheaply also in a long text.

        Tokenising with offsets is the costly step, so it runs only on short stretches around
        the places where a term's first token occurs in the normalised text (which has about
        the same offsets as the text itself).
        """
        if not self or not text:
            return None
        folded = _folded(text)
        candidates: set[int] = set()
        for needle in self._needles:
            start = folded.find(needle)
            while start >= 0 and len(candidates) < 64:
                candidates.add(start)
                start = folded.find(needle, start + 1)
        for position in sorted(candidates)[:_MAX_PROBES]:
            low = text.rfind(" ", 0, max(0, position - _PROBE_BEFORE)) + 1
            high = text.find(" ", min(len(text), position + _PROBE_AFTER))
            high = len(text) if high < 0 else high
            spans = self.spans(text[low:high])
            if spans:
                return spans[0][0] + low, spans[0][1] + low
        return None

    def _longest_at(self, tokens: Sequence[str], i: int) -> int:
        best = 0
        for term in self._by_first.get(tokens[i], ()):
            n = len(term.tokens)
            if n > best and _matches_at(tokens, i, term):
                best = n
        if not best and any(tokens[i].startswith(t.tokens[0]) for t in self._prefix_words):
            best = 1
        return best

    def segments(self, text: str) -> list[tuple[str, bool]]:
        """`text` as (piece, is_match) pairs, in order; the pieces join back to `text`."""
        pieces: list[tuple[str, bool]] = []
        position = 0
        for start, end in self.spans(text):
            if start > position:
                pieces.append((text[position:start], False))
            pieces.append((text[start:end], True))
            position = end
        if position < len(text):
            pieces.append((text[position:], False))
        return pieces


_ASCII_TOKEN = re.compile(r"[A-Za-z0-9]+")


_plain_separator: dict[str, bool] = {}


def _simple(text: str) -> bool:
    """ASCII apart from punctuation, symbols and spaces that no normalisation turns into letters.

    Such text (most English news: curly quotes, dashes, £) is tokenised by the fast path.
    """
    if text.isascii():
        return True
    for ch in set(text):
        if ch.isascii():
            continue
        plain = _plain_separator.get(ch)
        if plain is None:
            plain = unicodedata.category(ch)[0] in "PSZ" and not any(
                c.isalnum() for c in unicodedata.normalize("NFKC", ch)
            )
            _plain_separator[ch] = plain
        if not plain:
            return False
    return True


def _folded(text: str) -> str:
    """The text normalised as a whole (DESIGN §3); plain lower case for simple text, faster."""
    return text.lower() if _simple(text) else normalise(text)


def _tokens_at(text: str) -> tuple[list[str], list[Span]] | None:
    """The folded tokens of `text` and where each lies in it; None when they cannot be placed.

    Simple text (see `_simple`) takes a fast path with the same result: its tokens are runs
    of ASCII letters and digits, folded to lower case.
    """
    if _simple(text):
        found = [(m.group().lower(), m.span()) for m in _ASCII_TOKEN.finditer(text)]
        return [t for t, _ in found], [span for _, span in found]
    tokens = tokenize(text)
    offsets = token_offsets(text)
    return (tokens, offsets) if len(tokens) == len(offsets) else None


def _matches_at(tokens: Sequence[str], i: int, term: _Term) -> bool:
    n = len(term.tokens)
    if i + n > len(tokens):
        return False
    for k in range(n - 1):
        if tokens[i + k] != term.tokens[k]:
            return False
    last = tokens[i + n - 1]
    return last.startswith(term.tokens[-1]) if term.prefix else last == term.tokens[-1]


def matched_terms(
    article: Article, rules: Sequence[str], queries: Mapping[str, Query]
) -> tuple[str, ...]:
    """The words and phrases of `article` that the given rules' queries matched, in first-seen order.

    Rules without a query here (removed since the match was filed) contribute nothing.
    """
    wanted = [queries[r] for r in rules if r in queries]
    if not wanted:
        return ()
    doc = document_for(article)
    terms: dict[str, None] = {}
    for query in wanted:
        for key, spans in matched_spans(query, doc).items():
            tokens = doc.tokens(key)
            for first, last in spans:
                phrase = " ".join(tokens[first : last + 1]).casefold()
                if phrase:
                    terms.setdefault(phrase, None)
    return tuple(terms)
