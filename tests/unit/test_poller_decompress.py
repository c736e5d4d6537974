"""Content-Encoding in bounded pieces: a bomb never comes out in one huge piece. Pure."""

from __future__ import annotations

import gzip
import zlib

import brotli  # type: ignore[import-untyped]
import pytest

from services.poller.decompress import PIECE, DecompressError, decoder_for

TEXT = b"<rss>" + b"news " * 50_000 + b"</rss>"


@pytest.mark.parametrize(
    ("encoding", "packed"),
    [
        ("gzip", gzip.compress(TEXT)),
        ("x-gzip", gzip.compress(TEXT)),
        ("deflate", zlib.compress(TEXT)),
        ("deflate", zlib.compress(TEXT)[2:-4]),  # raw deflate, as some servers send
        ("br", brotli.compress(TEXT)),
        ("gzip, br", brotli.compress(gzip.compress(TEXT))),
        ("", TEXT),
        ("identity", TEXT),
    ],
)
def test_round_trip_in_bounded_pieces(encoding: str, packed: bytes) -> None:
    decoder = decoder_for(encoding)
    pieces = [p for i in range(0, len(packed), 1000) for p in decoder.decode(packed[i : i + 1000])]
    assert b"".join(pieces) == TEXT
    assert max(len(p) for p in pieces) <= 2 * PIECE  # brotli stops growing its buffer past it


def test_a_bomb_comes_out_piece_by_piece() -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))  # 64 MB from ~64 KB
    pieces = decoder_for("gzip").decode(bomb)
    taken = [next(pieces) for _ in range(3)]  # the reader stops here at its limit
    assert [len(p) for p in taken] == [PIECE] * 3


def test_errors_name_the_encoding() -> None:
    with pytest.raises(DecompressError, match="unsupported Content-Encoding: zstd"):
        decoder_for("zstd")
    with pytest.raises(DecompressError, match="could not decompress gzip body"):
        list(decoder_for("gzip").decode(b"\x1f\x8b\x08\x00garbage-not-deflate"))
