"""The poller's HTTP/1.1 client: kept-alive GETs over asyncio, parsed by httptools (llhttp).

Why not httpx: at 10,000 feeds nearly every poll is a 304, and the poll's cost is the HTTP
client's. httpx + httpcore spend ~450 µs of CPU on a kept-alive 304 (an anyio task group, a
pool scan, h11 in pure Python, a Request/Response model each time); this client spends
~15 µs under uvloop (~65 µs under the stock loop): one `transport.write`, the C parser
(llhttp, the parser of Node.js, via httptools, as uvicorn uses it), and callbacks. It only
has to do what a feed poll needs: GET, HTTP/1.1, TLS, keep-alive, chunked or sized or
read-to-close bodies, and it leaves redirects, decompression and limits to `fetch.py`.

Connections: at most one idle connection is kept per server (politeness sends one request at
a time per server), for the `keep` most recently used servers. A kept-alive connection the
server closed while idle is retried once on a fresh connection, as browsers do.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import os
import ssl
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import cast, overload
from urllib.parse import quote, unquote, urlsplit

import certifi
import httptools  # type: ignore[import-untyped]
import idna

from services.poller.http_proxy import Proxies, Proxy, ProxyError

__all__ = [
    "ConnectError",
    "ConnectTimeout",
    "HttpClient",
    "HttpError",
    "InvalidURL",
    "ReadTimeout",
    "RemoteProtocolError",
    "Response",
]

MAX_HEADER_BYTES = 64 * 1024  # a server sending endless headers is cut off here
PAUSE_ABOVE = 1 << 20  # body bytes buffered before we stop reading from the socket
RESUME_BELOW = 256 * 1024
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


class HttpError(Exception):
    """A request failed below HTTP (the message is the reason, `__cause__` the OS error)."""


class InvalidURL(HttpError):
    """The URL cannot be requested (no host, a bad port, a host IDNA refuses)."""


class ConnectError(HttpError):
    """DNS, TCP or TLS failed before the request was sent (`proxy`: via which, if any)."""

    def __init__(self, message: str, *, proxy: str = "") -> None:
        super().__init__(message)
        self.proxy = proxy


class ConnectTimeout(HttpError):
    """No connection within the connect timeout."""


class ReadTimeout(HttpError):
    """The server sent nothing for the read timeout."""


class RemoteProtocolError(HttpError):
    """The server broke HTTP: closed early, sent garbage or endless headers."""


@dataclass(frozen=True)
class _Target:
    key: tuple[str, str, int]  # (scheme, host, port): one pool per server
    host: str  # for connect() and TLS server name: IDNA-encoded, no brackets
    head: bytes  # "GET /path HTTP/1.1\r\nHost: …\r\n" (+ Authorization from userinfo)
    absolute_head: bytes  # the same with "GET http://host/path": for an HTTP proxy
    authority: str  # host[:port] as in the Host header

    @property
    def authority_with_port(self) -> str:
        """host:port, always with the port (what CONNECT asks for)."""
        _scheme, host, port = self.key
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@functools.lru_cache(maxsize=16384)  # every poll asks again for the same few thousand URLs
def _target(url: str) -> _Target:
    """Split a URL into where to connect and the start of the request."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"invalid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidURL(f"unsupported URL scheme {scheme}:")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidURL("invalid URL: no host")
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise InvalidURL(f"invalid URL: host {exc}") from exc
    default = 443 if scheme == "https" else 80
    port = port or default
    shown = f"[{host}]" if ":" in host else host
    authority = shown if port == default else f"{shown}:{port}"
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_QUERY_SAFE)
    fields = f"Host: {authority}\r\n"
    if parts.username is not None or parts.password is not None:
        secret = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        fields += f"Authorization: Basic {base64.b64encode(secret.encode()).decode()}\r\n"
    head = f"GET {path} HTTP/1.1\r\n{fields}".encode("ascii")
    absolute = f"GET {scheme}://{authority}{path} HTTP/1.1\r\n{fields}".encode("ascii")
    return _Target((scheme, host, port), host, head, absolute, authority)


def _header_lines(headers: Mapping[str, str]) -> bytes:
    lines = []
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            continue  # a validator a server sent with a line break: never split our request
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("latin-1", "replace")


class Headers:
    """Response headers by lower-case name; repeated ones joined with ", " (RFC 9110 §5.3)."""

    __slots__ = ("_values",)

    def __init__(self, pairs: list[tuple[bytes, bytes]]) -> None:
        values: dict[str, str] = {}
        for raw_name, raw_value in pairs:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1").strip()
            values[name] = f"{values[name]}, {value}" if name in values else value
        self._values = values

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        """The header's value, or `default` when the response has none."""
        return self._values.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._values


class _Connection(asyncio.Protocol):
    """One TCP/TLS connection and the response currently arriving on it."""

    def __init__(self, key: tuple[str, str, int]) -> None:
        self.key = key
        self.closed = False
        self._transport: asyncio.Transport | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._error: HttpError | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._pairs: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0
        self._head_bytes = 0
        self._interim = False
        self.status = 0
        self.reason = b""
        self.headers_done = False
        self.complete = False
        self.received_any = False
        self._until_close = False
        self._keep_alive = False
        self._tunnel: bytearray | None = None

    # --- asyncio.Protocol ---
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        if self._tunnel is not None:  # the proxy's answer to CONNECT
            self._tunnel += data
            if b"\r\n\r\n" in self._tunnel or len(self._tunnel) > MAX_HEADER_BYTES:
                self._wake()
            return
        if self._parser is None or self.complete:  # bytes nobody asked for: not reusable
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(RemoteProtocolError("server switched protocols"))
        except httptools.HttpParserError as exc:
            if self.complete:  # stray bytes after a whole answer: keep it, drop the connection
                self.close()
            elif self._error is None:
                self._fail(RemoteProtocolError(f"bad HTTP response: {exc}"))
        if not self.headers_done and self._error is None:
            self._head_bytes += len(data)  # llhttp holds a header line whole until it ends
            if self._head_bytes > MAX_HEADER_BYTES:
                self._fail(RemoteProtocolError(f"response headers exceed {MAX_HEADER_BYTES} bytes"))
        self._wake()  # any bytes restart the read timeout, header pieces too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._parser is not None and not self.complete and self._error is None:
            if self.headers_done and self._until_close:
                self.complete = True  # a body without length ends when the server closes
            elif self.headers_done:
                self._error = RemoteProtocolError(
                    "server closed the connection before the body was complete"
                )
            else:
                self._error = RemoteProtocolError("server closed the connection without a response")
        self._wake()

    # --- httptools callbacks ---
    def on_status(self, reason: bytes) -> None:
        if len(self.reason) < 256:
            self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > MAX_HEADER_BYTES:
            self._fail(RemoteProtocolError(f"response headers exceed {MAX_HEADER_BYTES} bytes"))
            return
        self._pairs.append((name, value))

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        status = self._parser.get_status_code()
        if status < 200:  # 100 Continue and friends: the real answer follows
            self._interim = True
            self._pairs, self.reason = [], b""
            return
        self.status = status
        self.headers_done = True
        self._keep_alive = self._parser.should_keep_alive()  # llhttp forgets it once complete
        names = {name.lower() for name, _ in self._pairs}
        self._until_close = (
            b"content-length" not in names
            and b"transfer-encoding" not in names
            and status not in (204, 304)
        )
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > PAUSE_ABOVE and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self.complete = True
        self._wake()

    # --- used by HttpClient and Response ---
    def send(self, request: bytes) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._error = None
        self._pairs, self._header_bytes, self._head_bytes, self._interim = [], 0, 0, False
        self.status, self.reason, self.headers_done, self.complete = 0, b"", False, False
        self.received_any, self._until_close, self._keep_alive = False, False, False
        assert self._transport is not None
        self._transport.write(request)

    async def open_tunnel(self, request: bytes, timeout: float) -> int:
        """Ask a proxy to CONNECT us through; the status of its answer (200 = open)."""
        assert self._transport is not None
        self._tunnel = bytearray()
        self._transport.write(request)
        while b"\r\n\r\n" not in self._tunnel:
            if self.closed or len(self._tunnel) > MAX_HEADER_BYTES:
                raise RemoteProtocolError("proxy closed the connection or sent endless headers")
            await self.wait(timeout)
        answer, self._tunnel = bytes(self._tunnel), None
        first = answer.split(b"\r\n", 1)[0].split()
        if len(first) < 2 or not first[0].startswith(b"HTTP/") or not first[1].isdigit():
            raise RemoteProtocolError("proxy sent a bad answer to CONNECT")
        return int(first[1])

    def upgraded(self, transport: asyncio.BaseTransport) -> None:
        """Carry on over the TLS transport `start_tls` put on top of the tunnel."""
        self._transport = cast(asyncio.Transport, transport)

    def header_pairs(self) -> list[tuple[bytes, bytes]]:
        return self._pairs

    def reusable(self) -> bool:
        return not self.closed and self.complete and self._error is None and self._keep_alive

    def idle(self) -> None:
        self._parser = None
        self._chunks.clear()
        self._buffered = 0
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()

    def has_body_bytes(self) -> bool:
        return bool(self._chunks)

    def take_chunk(self) -> bytes | None:
        if not self._chunks:
            return None
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._paused and self._buffered < RESUME_BELOW and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return chunk

    def check(self) -> None:
        if self._error is not None:
            raise self._error

    async def wait(self, seconds: float) -> None:
        """Until something arrives (or the connection ends); ReadTimeout after `seconds`."""
        self.check()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiter = waiter
        timer = loop.call_later(seconds, _expire, waiter, seconds)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None
        self.check()

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def _fail(self, error: HttpError) -> None:
        self._error = error
        self.close()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _expire(waiter: asyncio.Future[None], seconds: float) -> None:
    if not waiter.done():
        waiter.set_exception(ReadTimeout(f"no data for {seconds:g}s"))


class Response:
    """A response whose headers have arrived; the body is read with `aiter_raw`."""

    def __init__(
        self, client: HttpClient, conn: _Connection, url: str, read_timeout: float
    ) -> None:
        self._client = client
        self._conn: _Connection | None = conn
        self._read_timeout = read_timeout
        self.url = url
        self.status_code = conn.status
        self.reason_phrase = conn.reason.decode("latin-1")
        self.headers = Headers(conn.header_pairs())
        self.num_bytes_downloaded = 0
        self.is_stream_consumed = conn.complete and not conn.has_body_bytes()  # a 304, say

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body as it comes off the wire (still compressed), chunk by chunk."""
        conn = self._conn
        if conn is None or self.is_stream_consumed:
            return
        while True:
            chunk = conn.take_chunk()
            if chunk is not None:
                self.num_bytes_downloaded += len(chunk)
                yield chunk
                continue
            conn.check()
            if conn.complete:
                self.is_stream_consumed = True
                return
            await conn.wait(self._read_timeout)

    async def aclose(self) -> None:
        """Give the connection back for the next request to this server, or close it."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._client.release(conn)


class HttpClient:
    """Kept-alive connections to many servers; one request at a time on each connection."""

    def __init__(
        self,
        headers: Mapping[str, str],
        *,
        connect_timeout: float,
        read_timeout: float,
        keep: int = 256,
        proxies: Proxies | None = None,
    ) -> None:
        self._base = _header_lines(headers)
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._keep = keep
        self._idle: OrderedDict[tuple[str, str, int], _Connection] = OrderedDict()
        self._tls: ssl.SSLContext | None = None
        self._proxies = Proxies() if proxies is None else proxies

    async def get(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> Response:
        """Send a GET and wait for the response's headers (not its body); the timeouts
        default to the client's."""
        connect = self._connect_timeout if connect_timeout is None else connect_timeout
        read = self._read_timeout if read_timeout is None else read_timeout
        target = _target(url)
        try:
            proxy = self._proxies.for_target(target.key[0], target.host)
        except ProxyError as exc:
            raise InvalidURL(str(exc)) from exc
        if proxy is not None and target.key[0] == "http":  # the proxy fetches it for us
            head = target.absolute_head + proxy.authorization
        else:  # direct, or through a CONNECT tunnel
            head = target.head
        request = head + self._base + _header_lines(headers or {}) + b"\r\n"
        conn = self._idle.pop(target.key, None)
        if conn is not None and conn.closed:
            conn = None
        if conn is not None:  # kept alive: the server may have closed it meanwhile
            try:
                return await self._exchange(conn, request, url, read)
            except RemoteProtocolError:
                if conn.received_any:
                    raise
        conn = await self._connect(target, connect, proxy)
        return await self._exchange(conn, request, url, read)

    async def _exchange(
        self, conn: _Connection, request: bytes, url: str, read_timeout: float
    ) -> Response:
        try:
            conn.send(request)
            while not conn.headers_done:
                if conn.complete or conn.closed:
                    conn.check()
                    raise RemoteProtocolError("server closed the connection without a response")
                await conn.wait(read_timeout)
            conn.check()  # e.g. the header cap, passed in the same read that ended the head
        except BaseException:
            conn.close()
            raise
        return Response(self, conn, url, read_timeout)

    async def _connect(self, target: _Target, timeout: float, proxy: Proxy | None) -> _Connection:
        loop = asyncio.get_running_loop()
        scheme, host, port = target.key
        tls = self._tls_context() if scheme == "https" else None
        where = f"proxy {proxy.shown}: " if proxy else ""
        shown = proxy.shown if proxy else ""
        try:
            async with asyncio.timeout(timeout):
                if proxy is None:
                    _transport, conn = await loop.create_connection(
                        lambda: _Connection(target.key),
                        host,
                        port,
                        ssl=tls,
                        server_hostname=host if tls else None,
                    )
                else:
                    conn = await self._via_proxy(target, proxy, tls, timeout)
        except TimeoutError as exc:
            raise ConnectTimeout(f"{where}connect timed out after {timeout:g}s") from exc
        except (OSError, ssl.SSLError) as exc:  # refused, DNS, unreachable, certificate
            raise ConnectError(where + (str(exc) or type(exc).__name__), proxy=shown) from exc
        except ValueError as exc:  # e.g. a host asyncio refuses
            raise InvalidURL(f"invalid URL: {exc}") from exc
        return conn

    async def _via_proxy(
        self, target: _Target, proxy: Proxy, tls: ssl.SSLContext | None, timeout: float
    ) -> _Connection:
        """A connection to the proxy; for https, tunnelled (CONNECT) and then TLS to the
        feed's server, so the proxy never sees the request."""
        loop = asyncio.get_running_loop()
        transport, conn = await loop.create_connection(
            lambda: _Connection(target.key), proxy.host, proxy.port
        )
        if tls is None:
            return conn
        try:
            request = (
                f"CONNECT {target.authority_with_port} HTTP/1.1\r\n"
                f"Host: {target.authority_with_port}\r\n"
            ).encode("ascii")
            status = await conn.open_tunnel(request + proxy.authorization + b"\r\n", timeout)
            if status != 200:
                raise ConnectError(
                    f"proxy {proxy.shown} refused the tunnel: HTTP {status}", proxy=proxy.shown
                )
            secure = await loop.start_tls(transport, conn, tls, server_hostname=target.host)
        except BaseException:
            conn.close()
            raise
        if secure is None:  # pragma: no cover - only when the loop is closing
            raise ConnectError(f"proxy {proxy.shown}: TLS over the tunnel failed")
        conn.upgraded(secure)
        return conn

    def release(self, conn: _Connection) -> None:
        """Keep a finished connection for the server's next request, or close it."""
        if not conn.reusable():
            conn.close()
            return
        conn.idle()
        old = self._idle.pop(conn.key, None)
        if old is not None:
            old.close()
        self._idle[conn.key] = conn
        while len(self._idle) > self._keep:
            self._idle.popitem(last=False)[1].close()

    async def aclose(self) -> None:
        """Close every kept-alive connection."""
        idle, self._idle = list(self._idle.values()), OrderedDict()
        for conn in idle:
            conn.close()
        await asyncio.sleep(0)  # let the transports finish closing

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _tls_context(self) -> ssl.SSLContext:
        """Built once (~15 ms): certifi's roots, or SSL_CERT_FILE/SSL_CERT_DIR when set."""
        if self._tls is None:
            cafile = os.environ.get("SSL_CERT_FILE") or None
            capath = os.environ.get("SSL_CERT_DIR") or None
            if cafile is None and capath is None:
                cafile = certifi.where()
            self._tls = ssl.create_default_context(cafile=cafile, capath=capath)
        return self._tls
