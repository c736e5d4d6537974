"""strip_doctype: the DOCTYPE and its internal subset go, in any encoding; nothing else changes."""

from __future__ import annotations

import codecs
import tracemalloc

import feedparser
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.poller.xml_safety import strip_doctype
from tests.support.feed_server import BILLION_LAUGHS, EXTERNAL_ENTITY, NORMAL_FEED

DECL = '<?xml version="1.0"?>\n'


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        # nothing to do
        ("<rss><channel/></rss>", "<rss><channel/></rss>"),
        ("", ""),
        ("plain text", "plain text"),
        # a plain DOCTYPE, with public and system ids
        (
            f'{DECL}<!DOCTYPE rss PUBLIC "-//N//DTD RSS 0.91//EN" "x.dtd">\n<rss/>',
            f"{DECL}\n<rss/>",
        ),
        # an internal subset, with `]` and `>` hidden in quotes, comments and PIs
        (
            f'{DECL}<!DOCTYPE rss [\n <!ENTITY a "]>">\n <!-- ]> -->\n <?pi ]> ?>\n'
            f" <!ENTITY b '>'>\n]>\n<rss>&a;</rss>",
            f"{DECL}\n<rss>&a;</rss>",
        ),
        # `>` inside the system id
        ('<!DOCTYPE rss SYSTEM "a>b.dtd"><rss/>', "<rss/>"),
        # any case, whitespace before, comments and PIs around
        (
            f"  {DECL}<!-- hi --><?xml-stylesheet href='s.xsl'?><!doctype rss><rss/>",
            f"  {DECL}<!-- hi --><?xml-stylesheet href='s.xsl'?><rss/>",
        ),
        # a DOCTYPE mentioned in a prolog comment is only text
        ("<!-- <!DOCTYPE x [ ]> --><rss/>", "<!-- <!DOCTYPE x [ ]> --><rss/>"),
        # after the root element starts, nothing is touched
        (
            "<rss><![CDATA[<!DOCTYPE x>]]>&lt;!DOCTYPE&gt;</rss>",
            "<rss><![CDATA[<!DOCTYPE x>]]>&lt;!DOCTYPE&gt;</rss>",
        ),
        # two of them (malformed, but neither survives)
        ("<!DOCTYPE a><!DOCTYPE b [<!ENTITY x 'y'>]><rss/>", "<rss/>"),
        # junk text before the DOCTYPE does not hide it
        ("junk <!DOCTYPE a [<!ENTITY x 'y'>]><rss/>", "junk <rss/>"),
        # never closed: the rest goes with it
        ('<!DOCTYPE rss [<!ENTITY a "b">\n<rss>&a;</rss>', ""),
    ],
)
def test_strip_doctype_table(doc: str, expected: str) -> None:
    assert strip_doctype(doc.encode()) == expected.encode()


DOC = (
    '<?xml version="1.0" encoding="{enc}"?>\n'
    '<!DOCTYPE rss [\n <!ENTITY a "Ω">\n <!ENTITY b SYSTEM "file:///etc/passwd">\n]>\n'
    '<rss version="2.0"><channel><title>Новости — ünïcödé {extra}</title></channel></rss>\n'
)
STRIPPED = (
    '<?xml version="1.0" encoding="{enc}"?>\n\n'
    '<rss version="2.0"><channel><title>Новости — ünïcödé {extra}</title></channel></rss>\n'
)


@pytest.mark.parametrize(
    ("encoding", "bom", "extra"),
    [
        ("utf-8", b"", "😀"),
        ("utf-8", codecs.BOM_UTF8, "😀"),
        ("utf-16-le", codecs.BOM_UTF16_LE, "😀"),
        ("utf-16-be", codecs.BOM_UTF16_BE, "😀"),
        ("utf-16-le", b"", "😀"),  # no BOM: detected from `<\0?\0`
        ("utf-16-be", b"", "😀"),
        ("utf-32-le", codecs.BOM_UTF32_LE, "😀"),
        ("utf-32-be", codecs.BOM_UTF32_BE, "😀"),
        ("windows-1251", b"", ""),
        ("koi8-r", b"", ""),
    ],
)
def test_every_encoding_keeps_the_rest_byte_for_byte(encoding: str, bom: bytes, extra: str) -> None:
    name = encoding.removesuffix("-le").removesuffix("-be")
    if encoding in ("windows-1251", "koi8-r"):
        doc = DOC.replace("— ünïcödé ", "").replace("Ω", "W")
        stripped = STRIPPED.replace("— ünïcödé ", "")
    else:
        doc, stripped = DOC, STRIPPED
    body = bom + doc.format(enc=name, extra=extra).encode(encoding)
    expected = bom + stripped.format(enc=name, extra=extra).encode(encoding)
    assert strip_doctype(body) == expected
    parsed = feedparser.parse(expected)
    assert parsed.feed.title.startswith("Новости")


def test_utf16_odd_trailing_byte_is_kept() -> None:
    body = codecs.BOM_UTF16_LE + "<!DOCTYPE x><rss/>".encode("utf-16-le") + b"\x00"
    assert strip_doctype(body) == codecs.BOM_UTF16_LE + "<rss/>".encode("utf-16-le") + b"\x00"


def test_utf16_lone_surrogates_survive() -> None:
    tail = "<rss>\ud800 x</rss>".encode("utf-16-be", "surrogatepass")
    body = codecs.BOM_UTF16_BE + "<!DOCTYPE x>".encode("utf-16-be") + tail
    assert strip_doctype(body) == codecs.BOM_UTF16_BE + tail


def test_utf32_garbage_does_not_raise() -> None:
    body = codecs.BOM_UTF32_LE + "<!DOCTYPE x [".encode("utf-32-le") + b"\xff\xff\xff\xff" * 3
    assert strip_doctype(body) == codecs.BOM_UTF32_LE + b"\xff\xff\xff\xff" * 3


@pytest.mark.parametrize("body", [NORMAL_FEED, BILLION_LAUGHS, EXTERNAL_ENTITY, b"\x00\xff" * 9])
def test_idempotent(body: bytes) -> None:
    once = strip_doctype(body)
    assert strip_doctype(once) == once


def test_feed_without_doctype_is_returned_as_is() -> None:
    assert strip_doctype(NORMAL_FEED) is NORMAL_FEED


def test_billion_laughs_parses_small_after_stripping() -> None:
    stripped = strip_doctype(BILLION_LAUGHS)
    assert b"<!ENTITY" not in stripped
    tracemalloc.start()
    try:
        parsed = feedparser.parse(stripped)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024  # unstripped, this expands to ~3 GB of "lol"
    assert len(parsed.entries) == 1
    entry = parsed.entries[0]
    assert len(entry.get("title", "")) + len(entry.get("summary", "")) < 100
    assert entry.link == "https://laughs.example.org/1"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_billion_laughs_in_other_encodings(encoding: str) -> None:
    body = BILLION_LAUGHS.decode().replace('encoding="utf-8"', f'encoding="{encoding}"')
    stripped = strip_doctype(body.encode(encoding))
    assert "<!ENTITY" not in stripped.decode(encoding)
    parsed = feedparser.parse(stripped)
    assert len(parsed.entries) == 1
    assert len(parsed.entries[0].get("title", "")) < 100


def test_external_entity_is_never_resolved() -> None:
    stripped = strip_doctype(EXTERNAL_ENTITY)
    assert b"SYSTEM" not in stripped
    parsed = feedparser.parse(stripped)
    text = repr(parsed)
    assert "root:" not in text
    assert len(parsed.entries) == 1


@given(st.text(), st.sampled_from(["utf-8", "utf-16", "utf-16-be", "utf-32"]))
def test_content_after_the_doctype_is_untouched(text: str, encoding: str) -> None:
    rest = f"<r>{text}</r>"
    body = f"{DECL}<!DOCTYPE r [<!ENTITY e 'v'>]>{rest}".encode(encoding, "surrogatepass")
    expected = f"{DECL}{rest}".encode(encoding, "surrogatepass")
    assert strip_doctype(body) == expected
