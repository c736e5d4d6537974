"""Undoing `Content-Encoding` in bounded pieces, so a compression bomb is cut off early.

A 130 KB gzip member can inflate to 128 MB and a few hundred bytes of brotli to as much; a
decoder here produces at most about `PIECE` bytes at once (zlib exactly; brotli stops growing
its buffer once past it, so up to ~1.5x), so the reader can stop at its body limit having
held at most one piece beyond it. Pure (no I/O): bytes in, bytes out.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Protocol

import brotli  # type: ignore[import-untyped]

from services.poller.result import clip

__all__ = ["PIECE", "Decoder", "DecompressError", "decoder_for"]

PIECE = 64 * 1024  # largest decompressed piece produced at once


class DecompressError(ValueError):
    """The body could not be decoded; the message says which encoding and why."""


class Decoder(Protocol):
    """Turns raw body chunks into decoded pieces of at most `PIECE` bytes each."""

    def decode(self, data: bytes) -> Iterator[bytes]: ...


def decoder_for(content_encoding: str) -> Decoder:
    """The decoder for a `Content-Encoding` header value (a list, applied left to right).

    Raises DecompressError for an encoding we do not speak (we never asked for it).
    """
    names = [n.strip() for n in content_encoding.lower().split(",") if n.strip()]
    decoders: list[Decoder] = []
    for name in reversed(names):
        if name in ("gzip", "x-gzip"):
            decoders.append(_ZlibDecoder(gzip=True))
        elif name == "deflate":
            decoders.append(_ZlibDecoder(gzip=False))
        elif name == "br":
            decoders.append(_BrotliDecoder())
        elif name != "identity":
            raise DecompressError(f"unsupported Content-Encoding: {clip(name)}")
    if not decoders:
        return _Identity()
    decoder = decoders[0] if len(decoders) == 1 else _Chain(decoders)
    return _Checked(decoder, content_encoding.strip().lower())


class _Identity:
    def decode(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data


class _Checked:
    """Turns the codecs' own exceptions into one DecompressError naming the encoding."""

    def __init__(self, inner: Decoder, encoding: str) -> None:
        self._inner = inner
        self._encoding = encoding

    def decode(self, data: bytes) -> Iterator[bytes]:
        try:
            yield from self._inner.decode(data)
        except (zlib.error, brotli.error) as exc:
            reason = clip(str(exc)) or type(exc).__name__
            raise DecompressError(f"could not decompress {self._encoding} body: {reason}") from exc


class _ZlibDecoder:
    """gzip or deflate; deflate falls back to raw deflate, which some servers send."""

    def __init__(self, *, gzip: bool) -> None:
        self._obj = zlib.decompressobj(zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS)
        self._raw_fallback = not gzip

    def decode(self, data: bytes) -> Iterator[bytes]:
        while not self._obj.eof:  # trailing bytes after the stream end are ignored
            try:
                out = self._obj.decompress(data, PIECE)
            except zlib.error:
                if not self._raw_fallback:
                    raise
                self._obj, self._raw_fallback = zlib.decompressobj(-zlib.MAX_WBITS), False
                continue
            self._raw_fallback = False
            if out:
                yield out
            data = self._obj.unconsumed_tail
            if not data and len(out) < PIECE:
                return


class _BrotliDecoder:
    def __init__(self) -> None:
        self._obj = brotli.Decompressor()

    def decode(self, data: bytes) -> Iterator[bytes]:
        out: bytes = self._obj.process(data, output_buffer_limit=PIECE)
        while True:
            if out:
                yield out
            elif self._obj.can_accept_more_data():
                return
            out = self._obj.process(b"", output_buffer_limit=PIECE)


class _Chain:
    """`Content-Encoding: gzip, br` means br was applied last: undo right to left."""

    def __init__(self, decoders: list[Decoder]) -> None:
        self._decoders = decoders

    def decode(self, data: bytes) -> Iterator[bytes]:
        return self._through(data, 0)

    def _through(self, data: bytes, index: int) -> Iterator[bytes]:
        if index == len(self._decoders):
            yield data
            return
        for piece in self._decoders[index].decode(data):
            yield from self._through(piece, index + 1)
