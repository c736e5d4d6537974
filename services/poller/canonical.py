"""Canonical links and article identity (DESIGN §4): pure, no I/O.

Owns what makes two links "the same article": absolute, scheme and host lower-cased, default
port and userinfo dropped, tracking parameters removed, the rest sorted, fragment dropped
(unless the feed uses fragments to tell its entries apart).
Library: the stdlib `urllib.parse`. The rules are few and specific, and it keeps every other
byte of the URL as the feed wrote it; w3lib/url-normalize also re-quote paths and values,
which would change ids for no gain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from urllib.parse import SplitResult, unquote_plus, urljoin, urlsplit, urlunsplit

__all__ = ["TRACKING_PARAMS", "TRACKING_PREFIXES", "article_id", "canonical_links", "canonical_url"]

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}

# Lower-case parameter names that only identify a campaign or a click, never the page.
TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "__hs", "pk_", "mtm_")
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid",
        "twclid", "ttclid", "li_fat_id", "igshid", "igsh", "mc_cid", "mc_eid", "_hsenc",
        "_hsmi", "hsctatracking", "mkt_tok", "_ga", "_gl", "ref_src", "ref_url", "oly_anon_id",
        "oly_enc_id", "vero_id", "vero_conv", "wickedid", "rb_clickid", "at_medium",
        "at_campaign", "at_custom1", "at_custom2", "at_custom3", "at_custom4", "cmpid",
        "ocid", "ncid", "__twitter_impression",
    }
)  # fmt: skip


def canonical_url(link: str, base: str | None = None, *, keep_fragment: bool = False) -> str:
    """The link as an article identity: equal for the same page however it was linked to."""
    link = link.strip()
    absolute = urljoin(base.strip(), link) if base else link
    parts = urlsplit(absolute)
    scheme = parts.scheme.lower()
    netloc = _canonical_netloc(parts, scheme)
    path = parts.path
    if not path and netloc and scheme in ("http", "https"):
        path = "/"
    query = _canonical_query(parts.query)
    fragment = parts.fragment if keep_fragment else ""
    return urlunsplit((scheme, netloc, path, query, fragment))


def canonical_links(links: Sequence[str], base: str | None = None) -> list[str]:
    """Canonical links of one feed document, in order.

    Links that differ only in their fragment (after canonicalisation) keep it: some feeds give
    each post an anchor on one page, and dropping it would merge distinct entries.
    """
    bare = [canonical_url(link, base) if link.strip() else "" for link in links]
    full = [canonical_url(link, base, keep_fragment=True) if link.strip() else "" for link in links]
    variants: dict[str, set[str]] = {}
    for b, f in zip(bare, full, strict=True):
        if b:
            variants.setdefault(b, set()).add(f)
    return [f if b and len(variants[b]) > 1 else b for b, f in zip(bare, full, strict=True)]


def article_id(*, link: str, guid: str | None, feed_id: str, title: str) -> str:
    """An article's identity: its canonical link, else its guid, else a hash of feed and title.

    `link` must already be canonical (from `canonical_links`, which may keep a fragment), so it
    is used verbatim; re-canonicalising here would undo the fragment exception.
    """
    if link.strip():
        return link.strip()
    if guid and guid.strip():
        return guid.strip()
    digest = hashlib.sha256(f"{feed_id}\n{title.strip()}".encode()).hexdigest()
    return f"hash:{digest}"


def is_tracking_param(name: str) -> bool:
    """Whether a query parameter name (already decoded) is a known tracking parameter."""
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def _canonical_netloc(parts: SplitResult, scheme: str) -> str:
    """Host lower-cased, default port dropped, userinfo dropped.

    Userinfo never identifies an article, and a relative link resolved against a feed URL
    with `user:pass@` would otherwise carry the password into every article link.
    """
    hostport = parts.netloc.rpartition("@")[2]
    if not hostport:
        return ""
    try:
        port = parts.port
    except ValueError:  # a non-numeric or out-of-range port: keep it as written
        return hostport.lower()
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None and DEFAULT_PORTS.get(scheme) != port:
        host = f"{host}:{port}"
    return host


def _canonical_query(query: str) -> str:
    """Drop tracking parameters and sort the rest, keeping each pair's encoding as written."""
    pairs = [p for p in query.split("&") if p]
    kept = [p for p in pairs if not is_tracking_param(unquote_plus(p.partition("=")[0]))]
    kept.sort(key=lambda p: (unquote_plus(p.partition("=")[0]), p))
    return "&".join(kept)
