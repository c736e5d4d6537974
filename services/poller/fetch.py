"""Fetching one feed document: HTTP(S) with conditional GET and hard limits, or a local file.

Owns the I/O edge of the poller. Every failure (transport, HTTP status, limit, missing file)
comes back as a `FetchResult` with one human-readable `error`; nothing here raises for a bad
feed, so one hostile server cannot stop the poll loop (DESIGN §5).

Limits are enforced here rather than trusted to the server: redirects are followed by hand
(count, http/https only), the whole fetch runs under one deadline (slow-drip servers), and
the body is decompressed in bounded pieces (`decompress.py`) so a gzip/brotli bomb is cut
off at `max_bytes` of *decompressed* data. Small answers without a usable body (304, errors,
redirects) are drained so their connection goes back to the pool: at 10,000 feeds most polls
are 304s, and a new TCP connection for each would cost more than the rest of the poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from services.poller.decompress import DecompressError, decoder_for
from services.poller.http_client import HttpClient, HttpError, Response
from services.poller.http_reasons import status_reason, transport_reason
from services.poller.local_file import fetch_file, file_url_path, resolve_path
from services.poller.result import (
    FetchLimits,
    FetchResult,
    clip,
    failure,
    redact_url,
    split_authority,
)

__all__ = [
    "FetchLimits",
    "FetchResult",
    "fetch_feed",
    "host_key",
    "make_client",
    "redact_url",
    "retry_after_seconds",
]

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
ACCEPT_ENCODING = "gzip, deflate, br"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DRAIN_LIMIT = 64 * 1024  # bytes of an unused body read so the connection can be reused
DRAIN_SECONDS = 1.0
DEFAULT_LIMITS = FetchLimits()
_DELTA_SECONDS = re.compile(r"\d{1,12}(?:\.\d{1,6})?$")
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")
_HTML_START = re.compile(  # the first element is an HTML one (a DOCTYPE alone is not enough)
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!doctype\s+html[^>]*>\s*)?"
    rb"(?:<!--.*?-->\s*)*<(?:html|head|body)\b",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class _Redirect:
    location: str  # absolute


class _BodyTooLargeError(Exception):
    pass


def make_client(limits: FetchLimits, user_agent: str) -> HttpClient:
    """One shared client per poller: our UA and what we accept, and a kept-alive connection
    per server (`http_client.py`); redirects are followed here, by hand."""
    return HttpClient(
        {"User-Agent": user_agent, "Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING},
        connect_timeout=limits.connect_timeout,
        read_timeout=limits.read_timeout,
    )


async def fetch_feed(
    client: HttpClient,
    url: str,
    *,
    base_dir: Path,
    etag: str | None = None,
    last_modified: str | None = None,
    limits: FetchLimits = DEFAULT_LIMITS,
) -> FetchResult:
    """Fetch a feed by URL or path; never raises for network, HTTP, limit or file problems.

    `etag`/`last_modified` are what the previous successful fetch returned: they make the
    request conditional, and a 304 comes back as `not_modified=True` with no body.
    """
    url = url.strip()
    scheme = _scheme(url)
    if scheme in ("http", "https"):
        result = await _fetch_http(client, url, etag, last_modified, limits)
        return _scrub_result(result, url)
    if scheme == "file":
        try:
            path = file_url_path(url, base_dir)
        except ValueError:
            return failure(url, f"invalid URL: {redact_url(url)}")
        return await fetch_file(path, etag, limits.max_bytes)
    if scheme and len(scheme) > 1:  # one letter: a Windows drive, i.e. a path
        return failure(url, f"unsupported URL scheme {scheme}:")
    return await fetch_file(resolve_path(Path(url).expanduser(), base_dir), etag, limits.max_bytes)


def host_key(url: str) -> str:
    """The server a feed URL is fetched from (`host:port`, lower case); "" for local files.

    Politeness (one request at a time, Retry-After) is per server, so feeds that share one
    are fetched one after another.
    """
    url = url.strip()
    scheme = _scheme(url)
    if scheme not in ("http", "https"):
        return ""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:  # a bad port: the fetch will say so; keep such feeds apart
        return split_authority(url)[2].lower()
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{host}:{port}" if host else ""


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent/bad."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if _DELTA_SECONDS.match(text):
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


async def _fetch_http(
    client: HttpClient,
    url: str,
    etag: str | None,
    last_modified: str | None,
    limits: FetchLimits,
) -> FetchResult:
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    current = url
    try:
        async with asyncio.timeout(limits.total_timeout):
            for _hop in range(limits.max_redirects + 1):
                outcome = await _fetch_once(client, current, headers, limits)
                if isinstance(outcome, FetchResult):
                    return _keep_validators(outcome, etag, last_modified)
                if _scheme(outcome.location) not in ("http", "https"):
                    target = redact_url(outcome.location)
                    return failure(current, f"redirect to non-HTTP URL {target}")
                current = outcome.location
            return failure(current, f"more than {limits.max_redirects} redirects")
    except TimeoutError:
        return failure(current, f"timed out after {limits.total_timeout:g}s")


async def _fetch_once(
    client: HttpClient, url: str, headers: dict[str, str], limits: FetchLimits
) -> FetchResult | _Redirect:
    """One request: its result, or where it redirects to."""
    try:
        response = await client.get(
            url,
            headers,
            connect_timeout=limits.connect_timeout,
            read_timeout=limits.read_timeout,
        )
    except HttpError as exc:
        return failure(url, transport_reason(exc, limits))
    try:
        return await _handle_response(response, limits)
    except HttpError as exc:
        return failure(url, transport_reason(exc, limits), response.status_code)
    finally:
        await _release(response)


async def _handle_response(response: Response, limits: FetchLimits) -> FetchResult | _Redirect:
    status = response.status_code
    url = redact_url(str(response.url))
    if status in REDIRECT_STATUSES:
        location = response.headers.get("location", "").strip()
        if not location:
            return failure(url, f"HTTP {status} redirect without Location", status)
        try:
            return _Redirect(urljoin(str(response.url), location))
        except ValueError:
            return failure(url, f"redirect to invalid URL {redact_url(location)}", status)
    if status == 304:
        return _head(response, url, not_modified=True)
    head = _head(response, url)
    if status >= 300 or status < 200:
        retry = None
        if status in (429, 503):
            retry = retry_after_seconds(response.headers.get("retry-after"), datetime.now(UTC))
        return replace(head, retry_after=retry, error=status_reason(response))
    try:
        body = await _read_body(response, limits.max_bytes)
    except _BodyTooLargeError:
        return replace(head, error=f"body exceeds {limits.max_bytes} bytes")
    except DecompressError as exc:
        return replace(head, error=str(exc))
    head = replace(head, bytes_read=response.num_bytes_downloaded)
    problem = _body_problem(body, head.content_type)
    return replace(head, error=problem) if problem else replace(head, body=body)


async def _read_body(response: Response, max_bytes: int) -> bytes:
    """The decompressed body, stopping as soon as it passes `max_bytes`."""
    length = response.headers.get("content-length", "")
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if length.isdigit() and int(length) > max_bytes and encoding in ("", "identity"):
        raise _BodyTooLargeError
    decoder = decoder_for(encoding)
    body = bytearray()
    async for raw in response.aiter_raw():
        for piece in decoder.decode(raw):
            body += piece
            if len(body) > max_bytes:
                raise _BodyTooLargeError
    return bytes(body)


async def _release(response: Response) -> None:
    """Close the response; first read a small unread body (a 304's is empty) so the
    connection is kept alive instead of being torn down."""
    if not response.is_stream_consumed:
        length = response.headers.get("content-length", "")
        small = response.status_code == 304 or (length.isdigit() and int(length) <= DRAIN_LIMIT)
        if small and not response.headers.get("content-encoding"):
            with contextlib.suppress(HttpError, TimeoutError):
                async with asyncio.timeout(DRAIN_SECONDS):
                    async for _chunk in response.aiter_raw():
                        pass
    await response.aclose()


def _body_problem(body: bytes, content_type: str | None) -> str | None:
    if not body.strip():
        return "empty body"
    if _HTML_START.match(body[:4096].lstrip(b"\xef\xbb\xbf")):
        mime = clip(_mime(content_type))
        if "html" in mime:
            return f"not a feed: server sent {mime}"
        return f"not a feed: server sent an HTML page (labelled {mime or 'with no type'})"
    return None


def _head(response: Response, url: str, *, not_modified: bool = False) -> FetchResult:
    """The response's status and headers, no body yet."""
    h = response.headers
    return FetchResult(
        url=url,
        status=response.status_code,
        body=None,
        etag=h.get("etag"),
        last_modified=h.get("last-modified"),
        content_type=h.get("content-type"),
        content_language=h.get("content-language"),
        not_modified=not_modified,
    )


def _keep_validators(
    result: FetchResult, etag: str | None, last_modified: str | None
) -> FetchResult:
    """A 304 may omit the validators: keep the ones we sent so the next poll stays conditional."""
    if not result.not_modified:
        return result
    if (result.etag or not etag) and (result.last_modified or not last_modified):
        return result
    return replace(
        result, etag=result.etag or etag, last_modified=result.last_modified or last_modified
    )


def _mime(content_type: str | None) -> str:
    return (content_type or "").partition(";")[0].strip().lower()


def _scheme(url: str) -> str:
    match = _SCHEME.match(url)
    return match.group(1).lower() if match else ""


def _scrub_result(result: FetchResult, url: str) -> FetchResult:
    """Belt and braces: no password of the requested URL survives in the error text."""
    redacted = redact_url(url)
    if not result.error or redacted == url:
        return result
    password = split_authority(url)[1].partition(":")[2]
    error = result.error
    for secret in {password, unquote(password)}:
        if len(secret) < 4:  # too short to tell from ordinary text; URLs are redacted anyway
            continue
        error = error.replace(secret, "***")
    return replace(result, error=error)
