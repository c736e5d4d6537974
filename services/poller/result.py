"""What a fetch produces and the limits it runs under: plain values shared by every fetch module.

Also owns how server- or user-controlled text may appear in a reason (`clip`) and how a URL
is shown (`redact_url`: never a password), so every error the poller records reads the same.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FetchLimits", "FetchResult", "clip", "failure", "redact_url", "split_authority"]


@dataclass(frozen=True)
class FetchLimits:
    """Per-fetch limits (DESIGN §5 defaults); tests pass small ones."""

    max_bytes: int = 10_000_000
    total_timeout: float = 30.0
    connect_timeout: float = 10.0
    read_timeout: float = 15.0
    max_redirects: int = 5


@dataclass(frozen=True)
class FetchResult:
    """What one fetch produced; `error` is None exactly when `body` is usable or not modified.

    `url` is the final URL (after redirects) with any password replaced by `***`; for file
    feeds it is the file's `file://` URI. `status` is None for files and transport errors.
    `bytes_read` counts body bytes as they came off the wire (before decompression).
    """

    url: str
    status: int | None
    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    content_language: str | None = None
    retry_after: float | None = None
    error: str | None = None
    not_modified: bool = False
    bytes_read: int = 0

    @property
    def ok(self) -> bool:
        """True when the fetch succeeded (a body, or not modified)."""
        return self.error is None


def failure(url: str, error: str, status: int | None = None) -> FetchResult:
    """A failed fetch of `url` (redacted here, so no caller can forget)."""
    return FetchResult(url=redact_url(url), status=status, body=None, error=error)


def redact_url(url: str) -> str:
    """The URL with the password of its userinfo replaced by `***` (a lone token too).

    Plain string work, no URL parser: it must also work on URLs too broken to parse.
    """
    if "@" not in url:  # no userinfo: the common case, on every poll
        return url
    head, userinfo, hostport, tail = split_authority(url)
    if not userinfo:
        return url
    user, colon, _password = userinfo.partition(":")
    redacted = f"{user}:***" if colon else "***"  # a lone userinfo is usually a token
    return f"{head}{redacted}@{hostport}{tail}"


def split_authority(url: str) -> tuple[str, str, str, str]:
    """(`scheme://`, userinfo, host[:port], rest): userinfo is "" when absent."""
    head, sep, rest = url.partition("://")
    if not sep:
        return url, "", "", ""
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    userinfo, _, hostport = rest[:end].rpartition("@")
    return head + sep, userinfo, hostport, rest[end:]


def clip(text: str, limit: int = 120) -> str:
    """Server-controlled text in an error: one line, bounded."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
