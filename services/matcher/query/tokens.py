"""Article fields to tokens, fast: the same tokens as `text.tokenize(text.html_to_text(html))`.

Preparing an article costs more than matching it against an indexed rule set, and nearly all of
that cost is normalising text one character at a time in Python. This module gets the same
tokens with a few regular-expression passes (which run in C), relying only on facts about the
steps of `services.common.text` (DESIGN §3):

- text without `<` or `&` is its own plain text (`html_to_text` would only tidy white space);
- ASCII text normalises to itself (or its lower case) and its tokens are `[A-Za-z0-9]+`;
- most text is made of characters that NFKC leaves alone and that compose with nothing next to
  them: letters and digits (which join into tokens, some losing their diacritics: `ã` → `a`,
  `أ` → `ا`), Han/Kana characters (a token each) and separators. Such text normalises one
  character at a time. Combining marks are allowed where each follows a Latin or Arabic letter
  (or another such mark): normalising drops them all there.

Characters are classified 4,096 code points at a time, on first sight, by asking
`services.common.text` about each one; the classes become the character sets of the regular
expressions. Text with anything else (Thai, Devanagari, compatibility characters, a mark after
another script) is split at white space — no token spans it and no normalisation step joins
across it — and each chunk goes through `services.common.text`, remembered in a bounded cache.
`tests/unit/test_index_tokens.py` checks the equality on random text and on the corpus.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from services.common.text import fold_token, html_to_text, normalise, split_tokens

__all__ = ["exact_tokens", "field_tokens", "text_tokens"]

Tokens = tuple[list[str], list[str]]  # case-preserving, folded

_ASCII_SEPARATORS = bytes(code if chr(code).isalnum() else 32 for code in range(256))
_BLOCK = 4096  # code points classified at once
_BLOCKS = 0x10000 // _BLOCK  # only the Basic Multilingual Plane: its sets compile to bitmaps
_GENERATION = 20_000  # chunks per cache generation; two generations live at once
_GENERATION_CHARS = 100_000  # and characters per generation (the corpus's chunks hold 89,000)
_JAMO = ((0x1100, 0x11FF), (0xA960, 0xA97F), (0xD7B0, 0xD7FF))


def _classify(ch: str) -> tuple[str, str]:
    """(kind, normalised form) of one character; kind "other" when no pattern can handle it.

    Kinds: "letter" (joins its neighbours into a token), "single" (a token of its own),
    "separator", "mark" (combining), "other".
    """
    category = unicodedata.category(ch)[0]
    nfkc = unicodedata.normalize("NFKC", ch)
    if category == "M":
        marks_only = all(unicodedata.category(c)[0] == "M" for c in nfkc)
        return ("mark", "") if marks_only else ("other", ch)
    if category not in "LN":
        if ch.isspace() or all(unicodedata.category(c)[0] not in "LNM" for c in nfkc):
            return "separator", " "
        return "other", ch
    code = ord(ch)
    if nfkc != ch or any(low <= code <= high for low, high in _JAMO):
        return "other", ch
    plain = normalise(ch, fold_case=False)
    if (
        len(plain) != 1
        or unicodedata.category(plain)[0] not in "LN"
        or unicodedata.normalize("NFKC", plain) != plain
    ):
        return "other", ch
    if split_tokens(plain + plain) == [plain + plain]:
        return "letter", plain
    if plain == ch and normalise(ch) == ch:
        return "single", ch  # Han, Hiragana, Katakana, Thai: a token each
    return "other", ch


def _is_latin_or_arabic(ch: str) -> bool:
    """Whether normalising drops the marks after this (normalised) letter."""
    if ch.isascii():
        return ch.isalpha()
    return unicodedata.name(ch, "").startswith(("LATIN ", "ARABIC "))


def _one_of(codes: Iterable[int]) -> str:
    """A regular-expression character set matching these code points (nothing if empty)."""
    body = _char_set(codes)
    return f"[{body}]" if body else "(?!)"


def _char_set(codes: Iterable[int]) -> str:
    """The body of a regular-expression character set for these code points, as ranges."""
    parts: list[str] = []
    ordered = sorted(set(codes))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        low, high = ordered[i], ordered[j]
        parts.append(f"\\U{low:08x}" if low == high else f"\\U{low:08x}-\\U{high:08x}")
        i = j + 1
    return "".join(parts)


class _Alphabet:
    """The characters classified so far, and the patterns built from them."""

    def __init__(self) -> None:
        self.blocks: set[int] = set()
        self.kinds: dict[str, set[int]] = {
            kind: set() for kind in ("letter", "single", "separator", "mark", "other")
        }
        self.plain: dict[str, str] = {}  # letter → letter without diacritics, when different
        self.drops_marks: set[int] = set()  # letters (and marks) after which marks are dropped
        self.folds: dict[str, str] = {}  # character → its case folding, when different
        self.learn(0)

    def learn(self, block: int) -> None:
        """Classify one block of code points (and what its letters normalise to), then recompile."""
        pending = [block]
        while pending:
            block = pending.pop()
            if block in self.blocks:
                continue
            self.blocks.add(block)
            for code in range(block * _BLOCK, (block + 1) * _BLOCK):
                pending.extend(self._learn_char(chr(code)))
        self._compile()

    def _learn_char(self, ch: str) -> list[int]:
        """Record one character; returns the block of its normalised form if not yet learned."""
        kind, plain = _classify(ch)
        code = ord(ch)
        self.kinds[kind].add(code)
        if kind == "mark":
            self.drops_marks.add(code)
        if kind not in ("letter", "single", "separator"):
            return []
        if kind == "letter":
            if plain != ch:
                self.plain[ch] = plain
            if _is_latin_or_arabic(plain):
                self.drops_marks.add(code)
        folded = ch.casefold()
        if folded != ch:
            self.folds[ch] = folded
        needed = {ord(c) // _BLOCK for c in plain + folded} - self.blocks
        return sorted(b for b in needed if b < _BLOCKS)

    def _compile(self) -> None:
        kinds = self.kinds
        usual = kinds["letter"] | kinds["single"] | kinds["separator"]
        # not a letter, Han/Kana or separator: a mark, an unhandled or an unclassified character
        self.unusual = re.compile(f"[^{_char_set(usual)}]")
        self.unhandled = re.compile(f"[^{_char_set(usual | kinds['mark'])}]")
        # a mark whose character before is neither a Latin/Arabic letter nor a mark
        self.lone_mark = re.compile(f"{_one_of(kinds['mark'])}(?<!{_one_of(self.drops_marks)}.)")
        self.strip = re.compile(f"{_one_of(ord(c) for c in self.plain)}|{_one_of(kinds['mark'])}")
        self.token = re.compile(f"{_one_of(kinds['letter'])}+|{_one_of(kinds['single'])}")
        unchanged = {chr(c) for c in kinds["letter"]} - set(self.plain)
        risky = (
            ord(ch)
            for ch, folded in self.folds.items()
            if ord(ch) in usual and not unchanged.issuperset(folded)
        )
        self.fold_risky = re.compile(_one_of(risky))

    def stripped(self, text: str) -> str:
        """`text` with letters in their plain form and (carried) marks dropped.

        One `str.replace` per distinct character to change: cheaper than a callback per match.
        """
        for ch in set(self.strip.findall(text)):
            text = text.replace(ch, self.plain.get(ch, ""))  # a mark has no plain form: it goes
        return text

    def handles(self, text: str) -> bool:
        """Whether the patterns tokenise `text` exactly (classifying unseen characters)."""
        if self.unusual.search(text) is None:
            return True
        while (found := self.unhandled.search(text)) is not None:
            block = ord(found.group()) // _BLOCK
            if block in self.blocks or block >= _BLOCKS:
                return False
            self.learn(block)
        return self.lone_mark.search(text) is None

    def tokens(self, text: str) -> tuple[list[str], list[str] | None] | None:
        """Folded tokens of `text` by the patterns, and the case-preserving ones when they came
        at no cost; None when `text` holds what only `text.py` handles."""
        if not self.handles(text):
            return None
        plain = self.stripped(text)
        folded_text = plain.casefold()
        if folded_text == plain:
            tokens = self.token.findall(plain)
            return tokens, tokens
        if self.fold_risky.search(plain) is None:  # folding left nothing to normalise
            return self.token.findall(folded_text), None
        exact = self.token.findall(plain)
        return [fold_token(token) for token in exact], exact

    def exact_tokens(self, text: str) -> list[str]:
        """Case-preserving tokens of text that `handles` accepted."""
        return self.token.findall(self.stripped(text))


class _ChunkCache:
    """Tokens of white-space-separated chunks, in two generations (a cheap LRU).

    A generation ends at `_GENERATION` chunks or `_GENERATION_CHARS` characters, whichever
    comes first: counting chunks alone bounds nothing when chunks are long, and a chunk of
    Han or emoji keeps ~180 bytes per character (one token each, twice), so a hostile feed of
    8 MB of such text once held ~200 MB here. With both limits: ~12 MB at most for ordinary
    words, ~35 MB for the worst text.
    """

    def __init__(self) -> None:
        self.recent: dict[str, Tokens] = {}
        self.older: dict[str, Tokens] = {}
        self.recent_chars = 0  # characters of the chunks in `recent`

    def tokens(self, chunk: str) -> Tokens:
        hit = self.recent.get(chunk)
        if hit is not None:
            return hit
        hit = self.older.get(chunk)
        if hit is None:
            alphabet = _patterns()
            if alphabet.handles(chunk):
                exact = alphabet.exact_tokens(chunk)
            else:
                exact = split_tokens(normalise(chunk, fold_case=False))
            hit = (exact, [fold_token(token) for token in exact])
        if len(self.recent) >= _GENERATION or self.recent_chars >= _GENERATION_CHARS:
            self.older, self.recent = self.recent, {}
            self.recent_chars = 0
        self.recent[chunk] = hit
        self.recent_chars += len(chunk)
        return hit


_CHUNKS = _ChunkCache()
_alphabet: _Alphabet | None = None


def _patterns() -> _Alphabet:
    """The alphabet, built on first use (classifying the first block takes a few milliseconds)."""
    global _alphabet
    if _alphabet is None:
        _alphabet = _Alphabet()
    return _alphabet


def field_tokens(html: str) -> Tokens:
    """Case-preserving and folded tokens of one article field, which is HTML.

    The two lists may be one object (when folding changes nothing): do not modify them.
    """
    text = html_to_text(html) if ("<" in html or "&" in html) else html
    folded, exact = text_tokens(text)
    return (exact_tokens(text) if exact is None else exact), folded


def text_tokens(text: str) -> tuple[list[str], list[str] | None]:
    """Folded tokens of plain text, and its case-preserving tokens when they came at no cost
    (else None: `exact_tokens(text)` computes them, for the rare `case:` term)."""
    if text.isascii():  # tokens are [A-Za-z0-9]+: bytes.translate is the quickest way there
        return text.lower().encode("ascii").translate(_ASCII_SEPARATORS).decode(
            "ascii"
        ).split(), None
    hit = _patterns().tokens(text)
    if hit is not None:
        return hit
    exact, folded = _chunk_tokens(text)
    return folded, exact


def exact_tokens(text: str) -> list[str]:
    """Case-preserving tokens of plain text (what `text_tokens` may leave out)."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_SEPARATORS).decode("ascii").split()
    alphabet = _patterns()
    if alphabet.handles(text):
        return alphabet.exact_tokens(text)
    return _chunk_tokens(text)[0]


def _chunk_tokens(text: str) -> Tokens:
    exact: list[str] = []
    folded: list[str] = []
    tokens = _CHUNKS.tokens
    for chunk in text.split():
        chunk_exact, chunk_folded = tokens(chunk)
        exact.extend(chunk_exact)
        folded.extend(chunk_folded)
    return exact, folded
