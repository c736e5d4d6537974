"""Text normalisation for matching: HTML to text, NFKC, case folding, diacritics, tokens.

Articles and queries go through exactly the same steps (DESIGN §3), so a query word matches an
article word whenever the two read the same to a person (`Pyŏngyang` = `pyongyang`). Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

__all__ = [
    "BLOCK_TAGS",
    "fold_token",
    "html_to_text",
    "normalise",
    "split_tokens",
    "token_offsets",
    "tokenize",
]

BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "caption",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    ]
)
_DROPPED_TAGS = frozenset({"script", "style"})
_UNFINISHED_MARKUP = re.compile(r"<(?:!--|/?[A-Za-z])")
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\s*\n\s*")


class _TextExtractor(HTMLParser):
    """Collects the text of an HTML fragment; block tags become line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._dropping = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED_TAGS:
            self._dropping = True
        elif tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED_TAGS:
            self._dropping = False
        elif tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._dropping:
            self.parts.append(data)

    def finish(self) -> str:
        # At the end of input HTML5 drops an unfinished tag or comment; HTMLParser would
        # emit it as text, so discard it before flushing the rest.
        rest = self.rawdata
        if _UNFINISHED_MARKUP.match(rest):
            self.rawdata = ""
        self.close()
        return "".join(self.parts)


def html_to_text(html: str) -> str:
    """Turn one article field (always HTML) into plain text, the way a reader would see it.

    Block tags separate words and inline tags join them (`Pyong<b>yang</b>` is one word);
    script, style and comments are dropped; character references decode to text, never markup.
    """
    if "<" not in html and "&" not in html:
        text = html
    else:
        extractor = _TextExtractor()
        try:
            extractor.feed(html)
            text = extractor.finish()
        except (AssertionError, ValueError):  # pragma: no cover - defensive, malformed input
            text = re.sub(r"<[^>]*>", " ", html)
    text = _SPACES.sub(" ", text)
    return _BLANK_LINES.sub("\n", text).strip()


# --- diacritics ---------------------------------------------------------------------------

CHAR_CACHE_SIZE = 70_000
"""Characters remembered by each per-character cache below (~8 MB each at the cap): the whole
Basic Multilingual Plane (65,536, which the matcher's tokeniser may classify block by block;
the corpus needs ~47,000) and a few thousand more. Without a cap, a hostile feed listing
hundreds of thousands of distinct astral code points would stay in memory for good (~80 MB
for 200,000 of them, in under 1 MB of feed)."""

_script_cache: dict[str, bool] = {}
_strip_cache: dict[str, str] = {}


def _is_latin_or_arabic_letter(ch: str) -> bool:
    """True for letters of the Latin and Arabic scripts, whose marks are diacritics to drop."""
    hit = _script_cache.get(ch)
    if hit is None:
        if ch < "\u0080":
            hit = ch.isalpha()
        else:
            name = unicodedata.name(ch, "")
            hit = unicodedata.category(ch)[0] == "L" and name.startswith(("LATIN ", "ARABIC "))
        if len(_script_cache) < CHAR_CACHE_SIZE:
            _script_cache[ch] = hit
    return hit


def _strip_char(ch: str) -> str:
    """`ch` without the marks NFD leaves on it when its base is a Latin or Arabic letter."""
    hit = _strip_cache.get(ch)
    if hit is None:
        hit = ch
        decomposed = unicodedata.normalize("NFD", ch)
        if len(decomposed) > 1 and _is_latin_or_arabic_letter(decomposed[0]):
            hit = "".join(c for c in decomposed if unicodedata.category(c)[0] != "M")
            hit = unicodedata.normalize("NFC", hit)
        if len(_strip_cache) < CHAR_CACHE_SIZE:
            _strip_cache[ch] = hit
    return hit


def _strip_diacritics(text: str) -> str:
    """Drop every combining mark that sits on a Latin or Arabic-script letter (DESIGN §3)."""
    out: list[str] = []
    strip_marks = False  # whether the current base letter is Latin or Arabic
    for ch in text:
        if ch < "\u00c0":
            out.append(ch)
            strip_marks = ch.isalpha()
            continue
        if unicodedata.category(ch)[0] == "M":
            if not strip_marks:
                out.append(ch)
            continue
        ch = _strip_char(ch)
        out.append(ch)
        strip_marks = _is_latin_or_arabic_letter(ch[0])
    return "".join(out)


def normalise(text: str, *, fold_case: bool = True) -> str:
    """NFKC, Unicode full case folding and diacritics removal: the form in which text compares.

    `fold_case=False` keeps case for `case:` terms, with every other step still applied.
    """
    if text.isascii():
        return text.lower() if fold_case else text
    text = unicodedata.normalize("NFKC", text)
    if fold_case:
        text = unicodedata.normalize("NFKC", text.casefold())
    return _strip_diacritics(text)


# --- tokens -------------------------------------------------------------------------------

_SEP, _WORD, _MARK, _SINGLE = 0, 1, 2, 3
_SINGLE_PREFIXES = ("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH", "HIRAGANA", "KATAKANA")
_HAN_EXTRAS = frozenset("\u3005\u3007\u3021\u3022\u3023\u3024\u3025\u3026\u3027\u3028\u3029")
_class_cache: dict[str, int] = {chr(i): (_WORD if chr(i).isalnum() else _SEP) for i in range(128)}


def _char_class(ch: str) -> int:
    """How a character takes part in tokens: word, mark, a token of its own, or separator."""
    hit = _class_cache.get(ch)
    if hit is None:
        major = unicodedata.category(ch)[0]
        if major == "M":
            hit = _MARK
        elif major not in "LN":
            hit = _SEP
        else:
            name = unicodedata.name(ch, "")
            single = name.startswith(_SINGLE_PREFIXES) or ch in _HAN_EXTRAS
            single = single or name.startswith(("THAI CHARACTER", "THAI DIGIT"))
            hit = _SINGLE if single else _WORD
        if len(_class_cache) < CHAR_CACHE_SIZE:
            _class_cache[ch] = hit
    return hit


def split_tokens(text: str) -> list[str]:
    """Split already-normalised text into tokens: runs of letters, digits and their marks.

    Han, Hiragana, Katakana and Thai characters are one token each, with the marks after them.
    """
    return [text[start:end] for start, end in _token_bounds(text)]


def _token_bounds(text: str) -> list[tuple[int, int]]:
    """Start and end (exclusive) offsets of each token of normalised text."""
    bounds: list[tuple[int, int]] = []
    start = -1  # start of the token being read, -1 when between tokens
    single = False  # the token being read is a one-character token
    for i, ch in enumerate(text):
        kind = _class_cache.get(ch)
        if kind is None:
            kind = _char_class(ch)
        if kind == _MARK or (kind == _WORD and start >= 0 and not single):
            continue  # a mark continues a token (and is never the start of one)
        if start >= 0:
            bounds.append((start, i))
        start, single = (-1, False) if kind == _SEP else (i, kind == _SINGLE)
    if start >= 0:
        bounds.append((start, len(text)))
    return bounds


def token_offsets(text: str) -> list[tuple[int, int]]:
    """Where each token of `tokenize(text)` lies in `text` itself: (start, end) offsets.

    For highlighting matched terms in plain text (`html_to_text` output). Normalises one
    character with its marks at a time, so in rare compositions across characters (Hangul
    jamo) the count can differ from `tokenize`; callers should check the lengths agree.
    """
    origins: list[tuple[int, int]] = []  # per normalised character: its source cluster
    pieces: list[str] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and _char_class(text[j]) == _MARK:
            j += 1
        piece = normalise(text[i:j], fold_case=False)
        pieces.append(piece)
        origins.extend([(i, j)] * len(piece))
        i = j
    return [(origins[a][0], origins[b - 1][1]) for a, b in _token_bounds("".join(pieces))]


FOLD_CACHE_SIZE = 50_000
"""Non-ASCII tokens whose folding is remembered, first come first kept: about 10 MB at the cap
(~190 B a token), where the whole 10,000-article corpus needs ~14,000. A cap, not an LRU: the
words seen first are mostly the common ones, and a miss only costs one `normalise`."""

_fold_cache: dict[str, str] = {}


def fold_token(token: str) -> str:
    """Case-fold one case-preserving token, so folded and exact tokens keep the same positions.

    ASCII tokens are not cached: `lower()` costs no more than a lookup, and every headline
    brings new ones (names, numbers), which would fill the cache with nothing to gain.
    """
    if token.isascii():
        return token.lower()
    hit = _fold_cache.get(token)
    if hit is None:
        hit = normalise(token, fold_case=True)
        if len(_fold_cache) < FOLD_CACHE_SIZE:
            _fold_cache[token] = hit
    return hit


def tokenize(text: str, *, fold_case: bool = True) -> list[str]:
    """Normalise plain text and split it into the tokens that queries compare against."""
    exact = split_tokens(normalise(text, fold_case=False))
    return [fold_token(t) for t in exact] if fold_case else exact
