"""Fetching one feed document: HTTP(S) with conditional GET and hard limits, or a local file.

Owns the I/O edge of the poller. Every failure (transport, HTTP status, limit, missing file)
comes back as a `FetchResult` with one human-readable `error`; nothing here raises for a bad
feed, so one hostile server cannot stop the poll loop (DESIGN §5).

Limits are enforced here rather than trusted to the server: redirects are followed by hand
(count, http/https only), the whole fetch runs under one deadline (slow-drip servers), and
the body is decompressed by us in bounded pieces so a gzip/brotli bomb is cut off at
`max_bytes` of *decompressed* data without ever holding more than one piece beyond it.
"""

from __future__ import annotations

import asyncio
import email.utils
import errno
import re
import socket
import ssl
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urljoin, urlsplit

import brotli  # type: ignore[import-untyped]
import httpx

__all__ = [
    "FetchLimits",
    "FetchResult",
    "fetch_feed",
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
_DELTA_SECONDS = re.compile(r"\d{1,12}(?:\.\d{1,6})?$")
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")
_PIECE = 64 * 1024  # largest decompressed piece produced at once
_HTML_START = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b",
    re.IGNORECASE | re.DOTALL,
)


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

    @property
    def ok(self) -> bool:
        """True when the fetch succeeded (a body, or not modified)."""
        return self.error is None


@dataclass(frozen=True)
class _Redirect:
    location: str  # absolute


class _BodyTooLargeError(Exception):
    pass


class _DecodeError(Exception):
    pass


def make_client(limits: FetchLimits, user_agent: str) -> httpx.AsyncClient:
    """One shared client per poller: connection reuse, our UA, no automatic redirects."""
    return httpx.AsyncClient(
        headers={"User-Agent": user_agent, "Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING},
        timeout=_timeout(limits),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )


async def fetch_feed(
    client: httpx.AsyncClient,
    url: str,
    *,
    base_dir: Path,
    etag: str | None = None,
    last_modified: str | None = None,
    limits: FetchLimits = FetchLimits(),
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
            path = _file_url_path(url, base_dir)
        except ValueError:
            return _failure(url, f"invalid URL: {redact_url(url)}")
        return await _fetch_file(path, etag, limits)
    if scheme and len(scheme) > 1:  # one letter: a Windows drive, i.e. a path
        return _failure(url, f"unsupported URL scheme {scheme}:")
    return await _fetch_file(_resolve(Path(url).expanduser(), base_dir), etag, limits)


def redact_url(url: str) -> str:
    """The URL with the password of its userinfo replaced by `***` (a lone token too).

    Plain string work, no URL parser: it must also work on URLs too broken to parse.
    """
    head, userinfo, hostport, tail = _split_authority(url)
    if not userinfo:
        return url
    user, colon, _password = userinfo.partition(":")
    redacted = f"{user}:***" if colon else "***"  # a lone userinfo is usually a token
    return f"{head}{redacted}@{hostport}{tail}"


def _split_authority(url: str) -> tuple[str, str, str, str]:
    """(`scheme://`, userinfo, host[:port], rest): userinfo is "" when absent."""
    head, sep, rest = url.partition("://")
    if not sep:
        return url, "", "", ""
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    userinfo, _, hostport = rest[:end].rpartition("@")
    return head + sep, userinfo, hostport, rest[end:]


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


# --- HTTP -----------------------------------------------------------------------------------


async def _fetch_http(
    client: httpx.AsyncClient,
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
                    return _failure(current, f"redirect to non-HTTP URL {target}")
                current = outcome.location
            return _failure(current, f"more than {limits.max_redirects} redirects")
    except TimeoutError:
        return _failure(current, f"timed out after {limits.total_timeout:g}s")


async def _fetch_once(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], limits: FetchLimits
) -> FetchResult | _Redirect:
    """One request: its result, or where it redirects to."""
    try:
        request = client.build_request("GET", url, headers=headers, timeout=_timeout(limits))
        response = await client.send(request, stream=True)
    except httpx.HTTPError as exc:
        return _failure(url, _transport_reason(exc, limits))
    except (httpx.InvalidURL, ValueError) as exc:  # e.g. a bad IDNA host or port
        return _failure(url, f"invalid URL: {exc}")
    try:
        return await _handle_response(response, limits)
    except httpx.HTTPError as exc:
        return _failure(url, _transport_reason(exc, limits), response.status_code)
    finally:
        await response.aclose()


async def _handle_response(
    response: httpx.Response, limits: FetchLimits
) -> FetchResult | _Redirect:
    status = response.status_code
    url = redact_url(str(response.url))
    if status in REDIRECT_STATUSES:
        location = response.headers.get("location", "").strip()
        if not location:
            return _failure(url, f"HTTP {status} redirect without Location", status)
        try:
            return _Redirect(urljoin(str(response.url), location))
        except ValueError:
            return _failure(url, f"redirect to invalid URL {redact_url(location)}", status)
    head = _head(response)
    if status == 304:
        return replace(head, not_modified=True)
    if status >= 300 or status < 200:
        retry = None
        if status in (429, 503):
            retry = retry_after_seconds(response.headers.get("retry-after"), datetime.now(UTC))
        error = f"HTTP {status} {_reason(response)}".rstrip()
        return replace(head, retry_after=retry, error=error)
    try:
        body = await _read_body(response, limits.max_bytes)
    except _BodyTooLargeError:
        return replace(head, error=f"body exceeds {limits.max_bytes} bytes")
    except _DecodeError as exc:
        return replace(head, error=str(exc))
    problem = _body_problem(body, head.content_type)
    return replace(head, error=problem) if problem else replace(head, body=body)


async def _read_body(response: httpx.Response, max_bytes: int) -> bytes:
    """The decompressed body, stopping as soon as it passes `max_bytes`."""
    length = response.headers.get("content-length", "")
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if length.isdigit() and int(length) > max_bytes and encoding in ("", "identity"):
        raise _BodyTooLargeError
    decoder = _decoder_for(encoding)
    body = bytearray()
    try:
        async for raw in response.aiter_raw():
            for piece in decoder.decode(raw):
                body += piece
                if len(body) > max_bytes:
                    raise _BodyTooLargeError
    except (zlib.error, brotli.error) as exc:
        raise _DecodeError(f"could not decompress {encoding} body: {_clip(str(exc))}") from exc
    return bytes(body)


def _body_problem(body: bytes, content_type: str | None) -> str | None:
    if not body.strip():
        return "empty body"
    if _HTML_START.match(body[:4096].lstrip(b"\xef\xbb\xbf")):
        return f"not a feed: server sent {_clip(_mime(content_type)) or 'an HTML page'}"
    return None


def _head(response: httpx.Response) -> FetchResult:
    """The response's status and headers, no body yet."""
    h = response.headers
    return FetchResult(
        url=redact_url(str(response.url)),
        status=response.status_code,
        body=None,
        etag=h.get("etag"),
        last_modified=h.get("last-modified"),
        content_type=h.get("content-type"),
        content_language=h.get("content-language"),
    )


def _keep_validators(
    result: FetchResult, etag: str | None, last_modified: str | None
) -> FetchResult:
    """A 304 may omit the validators: keep the ones we sent so the next poll stays conditional."""
    if not result.not_modified:
        return result
    return replace(
        result, etag=result.etag or etag, last_modified=result.last_modified or last_modified
    )


def _transport_reason(exc: httpx.HTTPError, limits: FetchLimits) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connect timed out after {limits.connect_timeout:g}s"
    if isinstance(exc, httpx.ReadTimeout):
        return f"no data for {limits.read_timeout:g}s (read timed out)"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out: {type(exc).__name__}"
    if isinstance(exc, httpx.TooManyRedirects):  # pragma: no cover - we follow by hand
        return f"more than {limits.max_redirects} redirects"
    text = _clip(str(exc)) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return _connect_reason(exc, text)
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"server broke the connection: {text}"
    if isinstance(exc, (httpx.DecodingError, httpx.InvalidURL, httpx.UnsupportedProtocol)):
        return f"bad response or URL: {text}"
    return f"{type(exc).__name__}: {text}"


def _connect_reason(exc: httpx.ConnectError, text: str) -> str:
    causes = list(_causes(exc))
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "connection refused"
    if any(isinstance(c, socket.gaierror) for c in causes):
        return f"DNS lookup failed: {_innermost(causes)}"
    if any(isinstance(c, ssl.SSLError) for c in causes):
        return f"TLS error: {_innermost(causes)}"
    if any(getattr(c, "errno", None) in _UNREACHABLE for c in causes):
        return f"network unreachable: {_innermost(causes)}"
    return f"connection failed: {_innermost(causes) or text}"


_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH}


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _innermost(causes: list[BaseException]) -> str:
    for cause in reversed(causes):
        text = getattr(cause, "strerror", None) or str(cause)
        if text:
            return _clip(str(text))
    return ""


def _timeout(limits: FetchLimits) -> httpx.Timeout:
    return httpx.Timeout(
        limits.read_timeout, connect=limits.connect_timeout, pool=limits.connect_timeout
    )


def _reason(response: httpx.Response) -> str:
    """The standard phrase; the server's own only for codes we do not know (it is free text)."""
    try:
        return HTTPStatus(response.status_code).phrase
    except ValueError:
        return _clip(response.reason_phrase)


def _clip(text: str, limit: int = 120) -> str:
    """Server-controlled text in an error: one line, bounded."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mime(content_type: str | None) -> str:
    return (content_type or "").partition(";")[0].strip().lower()


def _scheme(url: str) -> str:
    match = _SCHEME.match(url)
    return match.group(1).lower() if match else ""


def _failure(url: str, error: str, status: int | None = None) -> FetchResult:
    return FetchResult(url=redact_url(url), status=status, body=None, error=error)


def _scrub_result(result: FetchResult, url: str) -> FetchResult:
    """Belt and braces: no password of the requested URL survives in the error text."""
    redacted = redact_url(url)
    if not result.error or redacted == url:
        return result
    password = _split_authority(url)[1].partition(":")[2]
    error = result.error
    for secret in {password, unquote(password)}:
        if len(secret) < 4:  # too short to tell from ordinary text; URLs are redacted anyway
            continue
        error = error.replace(secret, "***")
    return replace(result, error=error)


# --- decompression in bounded pieces -------------------------------------------------------


class _Decoder(Protocol):
    def decode(self, data: bytes) -> Iterator[bytes]: ...


class _Identity:
    def decode(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data


class _ZlibDecoder:
    """gzip or deflate; deflate falls back to raw deflate, which some servers send."""

    def __init__(self, *, gzip: bool) -> None:
        self._obj = zlib.decompressobj(zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS)
        self._raw_fallback = not gzip

    def decode(self, data: bytes) -> Iterator[bytes]:
        while not self._obj.eof:  # trailing bytes after the stream end are ignored
            try:
                out = self._obj.decompress(data, _PIECE)
            except zlib.error:
                if not self._raw_fallback:
                    raise
                self._obj, self._raw_fallback = zlib.decompressobj(-zlib.MAX_WBITS), False
                continue
            self._raw_fallback = False
            if out:
                yield out
            data = self._obj.unconsumed_tail
            if not data and len(out) < _PIECE:
                return


class _BrotliDecoder:
    def __init__(self) -> None:
        self._obj = brotli.Decompressor()

    def decode(self, data: bytes) -> Iterator[bytes]:
        out: bytes = self._obj.process(data, output_buffer_limit=_PIECE)
        while True:
            if out:
                yield out
            elif self._obj.can_accept_more_data():
                return
            out = self._obj.process(b"", output_buffer_limit=_PIECE)


class _Chain:
    """`Content-Encoding: gzip, br` means br was applied last: undo right to left."""

    def __init__(self, decoders: list[_Decoder]) -> None:
        self._decoders = decoders

    def decode(self, data: bytes) -> Iterator[bytes]:
        return self._through(data, 0)

    def _through(self, data: bytes, index: int) -> Iterator[bytes]:
        if index == len(self._decoders):
            yield data
            return
        for piece in self._decoders[index].decode(data):
            yield from self._through(piece, index + 1)


def _decoder_for(content_encoding: str) -> _Decoder:
    names = [n.strip() for n in content_encoding.split(",") if n.strip()]
    decoders: list[_Decoder] = []
    for name in reversed(names):
        if name in ("gzip", "x-gzip"):
            decoders.append(_ZlibDecoder(gzip=True))
        elif name == "deflate":
            decoders.append(_ZlibDecoder(gzip=False))
        elif name == "br":
            decoders.append(_BrotliDecoder())
        elif name != "identity":
            raise _DecodeError(f"unsupported Content-Encoding: {_clip(name)}")
    if not decoders:
        return _Identity()
    return decoders[0] if len(decoders) == 1 else _Chain(decoders)


# --- files ----------------------------------------------------------------------------------


def _file_url_path(url: str, base_dir: Path) -> Path:
    parts = urlsplit(url)
    path = unquote(parts.path)
    if parts.netloc not in ("", "localhost"):  # file://host/share: treat as a UNC-ish path
        path = f"//{parts.netloc}{path}"
    return _resolve(Path(path), base_dir)


def _resolve(path: Path, base_dir: Path) -> Path:
    return path if path.is_absolute() else base_dir / path


async def _fetch_file(path: Path, etag: str | None, limits: FetchLimits) -> FetchResult:
    """Files are read whole (capped); an unchanged mtime+size gives `not_modified`."""
    return await asyncio.to_thread(_read_file, path.absolute(), etag, limits.max_bytes)


def _read_file(path: Path, etag: str | None, max_bytes: int) -> FetchResult:
    uri = path.as_uri()
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device could block the thread forever
            return _failure(uri, f"not a regular file: {path}")
        validator = f'"{info.st_mtime_ns:x}-{info.st_size:x}"'
        modified = email.utils.formatdate(info.st_mtime, usegmt=True)
        unchanged = FetchResult(uri, None, None, etag=validator, last_modified=modified)
        if etag == validator:
            return replace(unchanged, not_modified=True)
        with path.open("rb") as handle:
            body = handle.read(max_bytes + 1)
    except FileNotFoundError:
        return _failure(uri, f"file not found: {path}")
    except PermissionError:
        return _failure(uri, f"permission denied: {path}")
    except OSError as exc:
        return _failure(uri, f"cannot read {path}: {exc.strerror or type(exc).__name__}")
    if len(body) > max_bytes:
        return _failure(uri, f"body exceeds {max_bytes} bytes")
    if not body.strip():
        return _failure(uri, f"empty file: {path}")
    return replace(unchanged, body=body)
