"""Defusing a feed document before it reaches the XML parser: pure, no I/O.

Owns the rule of DESIGN §5 that a DOCTYPE (with its internal subset) is dropped before parsing:
that is where entity bombs ("billion laughs") and external entities (`SYSTEM "file:///…"`) live,
and no real feed needs it. feedparser has its own DOCTYPE filter, but internal entity
expansion still got through it (STACK-NOTES: 56 KB -> 316 MB), so we strip first.

Only the DOCTYPE bytes are removed; every other byte is kept as it was. The document is
scanned in whatever encoding it is in: ASCII-compatible bytes (UTF-8, with or without BOM,
Latin-1, windows-125x…) byte for byte, UTF-16/UTF-32 (BOM, or the XML autodetection pattern)
by code unit, mapping positions back to byte offsets.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["strip_doctype"]

# (prefix, codec) for wide encodings; the codec names a byte order, so no BOM is implied.
_WIDE: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
)
_BOMS = frozenset(
    {codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE}
)
_UNIT = {"utf-16-le": 2, "utf-16-be": 2, "utf-32-le": 4, "utf-32-be": 4}

_DOCTYPE = re.compile(r"<!DOCTYPE", re.IGNORECASE)
_DOCTYPE_BYTES = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_PROLOG_TOKEN = re.compile(r"<\?|<!--|<!DOCTYPE|<[^?!]", re.IGNORECASE)
_DOCTYPE_TOKEN = re.compile(r"<!--|<\?|[\"'\[\]>]")


def strip_doctype(body: bytes) -> bytes:
    """The document without any DOCTYPE declaration in its prolog (internal subset included).

    Unchanged when there is none. A DOCTYPE that never ends takes the rest of the document
    with it: what follows it could not be parsed safely anyway.
    """
    if b"<" not in body:
        return body
    codec, skip = _wide_codec(body)
    if codec is None:
        if not _DOCTYPE_BYTES.search(body):
            return body
        spans = _doctype_spans(body.decode("latin-1"))  # one char per byte: offsets are bytes
        return _cut(body, spans) if spans else body
    text = _decode_wide(body[skip:], codec)
    spans = _doctype_spans(text)
    if not spans:
        return body
    offsets = [
        (skip + _byte_len(text[:start], codec), skip + _byte_len(text[:end], codec))
        for start, end in spans
    ]
    return _cut(body, offsets)


def _decode_wide(data: bytes, codec: str) -> str:
    """As much of the data as decodes (a DOCTYPE cut short by bad bytes is still a prefix)."""
    data = data[: len(data) - len(data) % _UNIT[codec]]
    try:
        return data.decode(codec, errors="surrogatepass")
    except UnicodeDecodeError as exc:  # UTF-32 beyond U+10FFFF
        return data[: exc.start].decode(codec, errors="surrogatepass")


def _wide_codec(body: bytes) -> tuple[str | None, int]:
    """The UTF-16/32 codec of the body and the length of its BOM; (None, 0) otherwise."""
    for prefix, codec in _WIDE:
        if body.startswith(prefix):
            return codec, len(prefix) if prefix in _BOMS else 0
    return None, 0


def _byte_len(text: str, codec: str) -> int:
    return len(text.encode(codec, errors="surrogatepass"))


def _cut(body: bytes, spans: list[tuple[int, int]]) -> bytes:
    parts, last = [], 0
    for start, end in spans:
        parts.append(body[last:start])
        last = end
    parts.append(body[last:])
    return b"".join(parts)


def _doctype_spans(text: str) -> list[tuple[int, int]]:
    """[start, end) of every DOCTYPE before the root element (normally none or one)."""
    if not _DOCTYPE.search(text):
        return []
    spans: list[tuple[int, int]] = []
    pos = 0
    while True:
        token = _PROLOG_TOKEN.search(text, pos)
        if token is None:
            return spans
        kind = token.group().upper()
        if kind == "<?":
            pos = _after(text, "?>", token.end())
        elif kind == "<!--":
            pos = _after(text, "-->", token.end())
        elif kind == "<!DOCTYPE":
            pos = _doctype_end(text, token.end())
            spans.append((token.start(), pos))
        else:  # the root element: the prolog is over
            return spans


def _doctype_end(text: str, pos: int) -> int:
    """Index just past the `>` that closes a DOCTYPE whose keyword ends at `pos`."""
    in_subset = False
    while True:
        token = _DOCTYPE_TOKEN.search(text, pos)
        if token is None:
            return len(text)
        mark, pos = token.group(), token.end()
        if mark == "<!--":
            pos = _after(text, "-->", pos)
        elif mark == "<?":
            pos = _after(text, "?>", pos)
        elif mark in ("'", '"'):
            pos = _after(text, mark, pos)
        elif mark == "[":
            in_subset = True
        elif mark == "]":
            in_subset = False
        elif not in_subset:  # ">"
            return pos


def _after(text: str, end_mark: str, pos: int) -> int:
    found = text.find(end_mark, pos)
    return len(text) if found < 0 else found + len(end_mark)
