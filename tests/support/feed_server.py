"""A real local HTTP server for feed tests: well-behaved and hostile feeds on 127.0.0.1.

`FeedServer` is a threaded stdlib `http.server` on a free loopback port with a small route
registry: `server.add_route(path, bytes_or_handler, headers=..., status=...)`. A handler gets
a `Request` and returns a `Response`, whose body may be bytes or an iterator of bytes (streamed,
never held whole: 100 MB bodies and 1 byte/s drips). `install_standard_routes` registers every
case the poller must survive; the `feed_server` fixture yields a started server with them.

Use from conftest: `from tests.support.feed_server import feed_server_fixture  # noqa: F401`
(the fixture is named `feed_server`; the import name differs so ruff sees no redefinition).
"""

from __future__ import annotations

import functools
import gzip
import random
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

import brotli  # type: ignore[import-untyped]
import pytest

__all__ = [
    "FeedServer",
    "Request",
    "Response",
    "feed_server_fixture",
    "install_standard_routes",
    "rss",
]


@dataclass(frozen=True)
class Request:
    """What the server received (headers with lower-case names)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]


@dataclass
class Response:
    """What a route answers; an iterable body is streamed and ends by closing the connection."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""


Handler = Callable[[Request], Response]


class FeedServer:
    """Threaded HTTP server on 127.0.0.1:<free port> with a route registry."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._routes: dict[str, Handler] = {}
        self.requests: list[Request] = []
        self.connections = 0  # TCP connections accepted (keep-alive reuses one)
        self._lock = threading.Lock()
        self._httpd = _QuietServer((host, 0), _make_handler(self))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._httpd.server_address[0]}:{self.port}"

    def url(self, path: str) -> str:
        """Absolute URL of a route path such as `/feed.xml`."""
        return f"{self.base_url}{path}"

    def add_route(
        self,
        path: str,
        handler_or_body: Handler | bytes,
        *,
        headers: dict[str, str] | None = None,
        status: int = 200,
    ) -> None:
        """Serve `path` (query ignored) with fixed bytes, or with a handler called per request."""
        if isinstance(handler_or_body, bytes):
            body = handler_or_body
            fixed = {"Content-Type": "application/rss+xml; charset=utf-8", **(headers or {})}

            def handler(_request: Request) -> Response:
                return Response(status=status, headers=dict(fixed), body=body)

            self._routes[path] = handler
        else:
            self._routes[path] = handler_or_body

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def start(self) -> FeedServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _connected(self) -> None:
        with self._lock:
            self.connections += 1

    def _route(self, request: Request) -> Response:
        self.requests.append(request)
        handler = self._routes.get(request.path)
        if handler is None:
            return Response(404, {"Content-Type": "text/plain"}, b"no such route\n")
        return handler(request)


class _QuietServer(ThreadingHTTPServer):
    """Clients hanging up mid-response is what these tests provoke: not worth a traceback."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def _make_handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            server._connected()

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            headers = {k.lower(): v for k, v in self.headers.items()}
            response = server._route(Request("GET", path, query, headers))
            try:
                self._write(response)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                self.close_connection = True  # the client gave up: that is the point

        def _write(self, response: Response) -> None:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            lower = {k.lower() for k in response.headers}
            if response.status in (204, 304):
                self.end_headers()
                return
            if isinstance(response.body, bytes):
                if "content-length" not in lower:
                    self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)
                return
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
            for chunk in response.body:
                self.wfile.write(chunk)
                self.wfile.flush()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return _Handler


# --- content --------------------------------------------------------------------------------


def rss(title: str, items: Iterable[tuple[str, str]], *, encoding: str = "utf-8") -> bytes:
    """A small RSS 2.0 document; `items` are (title, link) pairs."""
    entries = "".join(
        f"<item><title>{escape(t)}</title><link>{escape(link)}</link>"
        f"<description>{escape(t)}.</description>"
        f"<pubDate>Mon, 24 Nov 2025 10:00:00 GMT</pubDate></item>"
        for t, link in items
    )
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://example.org/</link>"
        f"<description>{escape(title)}</description>{entries}</channel></rss>\n"
    )
    return text.encode(encoding)


NORMAL_FEED = rss(
    "Normal Feed",
    [
        ("Russia and North Korea hold military drills", "https://news.example.org/a/1"),
        ("Markets rally after rate decision", "https://news.example.org/a/2"),
    ],
)
NORMAL_ETAG = '"normal-v1"'
NORMAL_LAST_MODIFIED = "Mon, 24 Nov 2025 10:00:00 GMT"

BILLION_LAUGHS = b"""<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>Laughs</title><link>https://laughs.example.org/</link>
<description>bomb</description>
<item><title>&lol9;</title><link>https://laughs.example.org/1</link>
<description>&lol9;</description></item>
</channel></rss>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE rss [
 <!ENTITY xxe SYSTEM "file:///etc/passwd">
]>
<rss version="2.0"><channel><title>XXE</title><link>https://xxe.example.org/</link>
<description>external entity</description>
<item><title>Secret: &xxe;</title><link>https://xxe.example.org/1</link>
<description>&xxe;</description></item>
</channel></rss>
"""

HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Welcome</title></head>"
    b"<body><h1>This is a web page, not a feed</h1></body></html>\n"
)

WRONG_CHARSET_FEED = rss(
    "Новости",
    [("Россия и Северная Корея провели учения", "https://ru.example.org/n/1")],
    encoding="windows-1251",
).replace(b'encoding="windows-1251"', b'encoding="utf-8"')

TRACKING_FEED = rss(
    "Tracking Feed",
    [
        ("Story one", "https://News.Example.org:443/story/1?utm_source=rss&utm_medium=feed"),
        ("Story one again", "https://news.example.org/story/1?fbclid=abc123"),
        ("Story two", "https://news.example.org/story/2?id=7&gclid=zzz&b=1"),
        ("Story two again", "https://news.example.org/story/2?b=1&id=7&mc_cid=x&mc_eid=y"),
    ],
)

SAME_ARTICLE_A = rss(
    "Outlet A",
    [
        (
            "Ceasefire talks resume in Geneva",
            "https://wire.example.com/world/ceasefire?utm_source=a",
        ),
        ("Outlet A only story", "https://outlet-a.example.com/local/1"),
    ],
)
SAME_ARTICLE_B = rss(
    "Outlet B",
    [
        ("Ceasefire talks resume in Geneva", "HTTPS://WIRE.example.com/world/ceasefire#top"),
        ("Outlet B only story", "https://outlet-b.example.com/local/9"),
    ],
)

FRAGMENT_FEED = rss(
    "Live Blog",
    [
        ("Update 1", "https://live.example.org/blog#post-1"),
        ("Update 2", "https://live.example.org/blog#post-2"),
        ("Other page", "https://live.example.org/other#x"),
    ],
)


@functools.cache
def gzip_bomb(decompressed_size: int = 128 * 1024 * 1024) -> bytes:
    """A gzip member of a feed-looking header plus spaces: ~130 KB that inflates to 128 MB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [compressor.compress(b'<?xml version="1.0"?><rss version="2.0"><channel><title>')]
    block = b" " * (1024 * 1024)
    for _ in range(decompressed_size // len(block)):
        parts.append(compressor.compress(block))
    parts.append(compressor.flush())
    return b"".join(parts)


@functools.cache
def brotli_bomb(decompressed_size: int = 128 * 1024 * 1024) -> bytes:
    """The same bomb as `gzip_bomb` in brotli: a few hundred bytes for 128 MB."""
    compressor = brotli.Compressor(quality=5)
    parts = [compressor.process(b'<?xml version="1.0"?><rss version="2.0"><channel><title>')]
    block = b" " * (1024 * 1024)
    for _ in range(decompressed_size // len(block)):
        parts.append(compressor.process(block))
    parts.append(compressor.finish())
    return b"".join(parts)


def garbage(size: int = 8192) -> bytes:
    """Deterministic random bytes: not text in any encoding."""
    return random.Random(20251125).randbytes(size)


# --- handlers -------------------------------------------------------------------------------


def conditional_feed(body: bytes, etag: str, last_modified: str) -> Handler:
    """A feed that answers 304 to a matching If-None-Match or a not-older If-Modified-Since."""

    def handler(request: Request) -> Response:
        validators = {"ETag": etag, "Last-Modified": last_modified}
        if _not_modified(request, etag, last_modified):
            return Response(304, validators)
        headers = {"Content-Type": "application/rss+xml; charset=utf-8", **validators}
        return Response(200, headers, body)

    return handler


def _not_modified(request: Request, etag: str, last_modified: str) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        return etag in [t.strip() for t in if_none_match.split(",")] or if_none_match == "*"
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return parsedate_to_datetime(since) >= parsedate_to_datetime(last_modified)
        except (TypeError, ValueError):
            return False
    return False


def redirect(location: str, status: int = 302) -> Handler:
    def handler(_request: Request) -> Response:
        return Response(status, {"Location": location, "Content-Length": "0"}, b"")

    return handler


def streamed(total: int, chunk: int = 64 * 1024, *, declare_length: bool = False) -> Handler:
    """`total` bytes of a feed-looking body generated on the fly (never held in memory)."""

    def body() -> Iterator[bytes]:
        head = b'<?xml version="1.0"?><rss version="2.0"><channel><title>'
        yield head
        sent, block = len(head), b"x" * chunk
        while sent < total:
            piece = block[: total - sent]
            yield piece
            sent += len(piece)

    def handler(_request: Request) -> Response:
        headers = {"Content-Type": "application/rss+xml"}
        if declare_length:
            headers["Content-Length"] = str(total)
        return Response(200, headers, body())

    return handler


def slow_drip(payload: bytes = NORMAL_FEED, interval: float = 1.0) -> Handler:
    """One byte per `interval` seconds: never idle long enough for a read timeout."""

    def body() -> Iterator[bytes]:
        for i in range(len(payload)):
            yield payload[i : i + 1]
            time.sleep(interval)

    def handler(_request: Request) -> Response:
        return Response(200, {"Content-Type": "application/rss+xml"}, body())

    return handler


def status_only(status: int, headers: dict[str, str] | None = None) -> Handler:
    def handler(_request: Request) -> Response:
        body = f"{status}\n".encode()
        return Response(status, {"Content-Type": "text/plain", **(headers or {})}, body)

    return handler


def install_standard_routes(server: FeedServer) -> None:
    """Register every well-behaved and hostile case the poller must survive."""
    rss_type = {"Content-Type": "application/rss+xml; charset=utf-8"}
    server.add_route("/feed.xml", conditional_feed(NORMAL_FEED, NORMAL_ETAG, NORMAL_LAST_MODIFIED))
    server.add_route(
        "/gzip.xml", gzip.compress(NORMAL_FEED), headers={**rss_type, "Content-Encoding": "gzip"}
    )
    server.add_route(
        "/br.xml", brotli.compress(NORMAL_FEED), headers={**rss_type, "Content-Encoding": "br"}
    )
    server.add_route("/billion-laughs.xml", BILLION_LAUGHS)
    server.add_route("/external-entity.xml", EXTERNAL_ENTITY)
    server.add_route(
        "/gzip-bomb.xml", gzip_bomb(), headers={**rss_type, "Content-Encoding": "gzip"}
    )
    server.add_route("/br-bomb.xml", brotli_bomb(), headers={**rss_type, "Content-Encoding": "br"})
    server.add_route("/huge.xml", streamed(100_000_000))
    server.add_route("/huge-declared.xml", streamed(100_000_000, declare_length=True))
    server.add_route("/slow.xml", slow_drip())
    server.add_route("/loop-a", redirect("/loop-b"))
    server.add_route("/loop-b", redirect("/loop-a"))
    server.add_route("/hop-1", redirect("/hop-2", 301))
    server.add_route("/hop-2", redirect(f"{server.base_url}/feed.xml", 307))
    server.add_route("/to-ftp", redirect("ftp://ftp.example.org/feed.xml"))
    server.add_route("/404", status_only(404))
    server.add_route("/410", status_only(410))
    server.add_route("/429", status_only(429, {"Retry-After": "120"}))
    server.add_route(
        "/503", status_only(503, {"Retry-After": formatdate(time.time() + 60, usegmt=True)})
    )
    server.add_route("/500", status_only(500))
    server.add_route("/html", HTML_PAGE, headers={"Content-Type": "text/html; charset=utf-8"})
    server.add_route("/empty.xml", b"")
    server.add_route(
        "/garbage.xml", garbage(), headers={"Content-Type": "application/octet-stream"}
    )
    server.add_route("/wrong-charset.xml", WRONG_CHARSET_FEED)
    server.add_route("/tracking.xml", TRACKING_FEED)
    server.add_route("/fragments.xml", FRAGMENT_FEED)
    server.add_route("/outlet-a.xml", SAME_ARTICLE_A)
    server.add_route("/outlet-b.xml", SAME_ARTICLE_B)


@pytest.fixture(name="feed_server")
def feed_server_fixture() -> Iterator[FeedServer]:
    """A started `FeedServer` with `install_standard_routes`; add your own with `add_route`."""
    with FeedServer() as server:
        install_standard_routes(server)
        yield server
