"""Feeds that lie about their character encoding: finding the one they are really in. Pure.

When the declared encoding cannot decode the bytes, feedparser falls back to windows-1252,
which is right for Latin text and turns anything else (a Russian feed in windows-1251 that
says UTF-8) into accented-letter soup that no rule can match. We ask a detector instead, and
trust it only when it finds a non-Latin script: for Latin text the windows-1252 guess is the
web's own fallback and detectors disagree among near-identical code pages.

The detector is `charset_normalizer` (already installed with `requests`); without it feeds are
read as feedparser reads them.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections import Counter

__all__ = ["detect_non_latin", "is_utf8_in_disguise", "recode_to_utf8", "script_of"]

_XML_DECL_ENCODING = re.compile(rb"^(\s*<\?xml[^>]*?encoding\s*=\s*)([\"'])[^\"']*\2", re.I)
_SAMPLE = 64 * 1024
_SINGLE_BYTE_LATIN = frozenset({"latin_1", "iso8859-1", "cp1252", "iso8859-15", "ascii"})


def detect_non_latin(body: bytes) -> str | None:
    """The encoding a mislabelled body is really in, when that reveals a non-Latin script."""
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - optional
        return None
    best = from_bytes(body[:_SAMPLE]).best()
    if best is None or not best.encoding:
        return None
    try:
        text = body.decode(best.encoding)
    except (UnicodeDecodeError, LookupError):
        return None
    script = script_of(_non_ascii(text))
    return codecs.lookup(best.encoding).name if script not in ("", "Latin") else None


def is_utf8_in_disguise(body: bytes, used_encoding: str) -> bool:
    """True when a body read as Latin-1/windows-1252 is really UTF-8.

    A server default (`charset=ISO-8859-1`) or a stale XML declaration often labels UTF-8
    feeds so. Valid multi-byte UTF-8 is next to impossible in real Latin-1 text (it would take
    pairs like `Ã©`), so such a body is read as UTF-8: `Café`, not `CafÃ©`.
    """
    try:
        name = codecs.lookup(used_encoding).name
    except LookupError:
        return False
    if name not in _SINGLE_BYTE_LATIN or body.isascii():
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _non_ascii(text: str) -> str:
    """Only what an encoding can get wrong: markup, URLs and English words are ASCII."""
    return "".join(ch for ch in text if ord(ch) > 127)


def recode_to_utf8(body: bytes, encoding: str) -> bytes:
    """The document transcoded to UTF-8, its XML declaration saying so."""
    text = body.decode(encoding).encode("utf-8")
    fixed, count = _XML_DECL_ENCODING.subn(rb"\1\2utf-8\2", text, count=1)
    return fixed if count else text


def script_of(text: str) -> str:
    """The script most letters of `text` are written in (`Latin`, `Cyrillic`, `Arabic`, `CJK`…).

    Taken from the first word of each letter's Unicode name, which is the script for every
    alphabet that matters here; Han, Hiragana and Katakana count as `CJK`.
    """
    counts: Counter[str] = Counter()
    for ch in text:
        if ch.isalpha():
            counts[_script_of_letter(ch)] += 1
    return counts.most_common(1)[0][0] if counts else ""


def _script_of_letter(ch: str) -> str:
    name = unicodedata.name(ch, "")
    first = name.split(" ", 1)[0]
    if first in ("CJK", "HIRAGANA", "KATAKANA") or "IDEOGRAPH" in name:
        return "CJK"
    return first.capitalize() if first else "Unknown"
