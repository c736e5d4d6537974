"""The poller's own HTTP/1.1 client (`services/poller/http_client.py`) against real loopback
servers: keep-alive and its stale-connection retry, body framings, interim and bodiless
answers, broken servers, timeouts, the exact request bytes, TLS, the idle pool and flow control.

Wire-level cases use small raw asyncio servers started inside the test that write exact bytes;
feed-level behaviour (redirects, decompression, limits) is covered through `fetch_feed` in
`test_fetch.py`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import trustme
import uvloop

from services.poller.http_client import (
    MAX_HEADER_BYTES,
    ConnectError,
    ConnectTimeout,
    HttpClient,
    InvalidURL,
    ReadTimeout,
    RemoteProtocolError,
    Response,
    _target,
)
from services.poller.http_reasons import transport_reason
from services.poller.result import FetchLimits

pytestmark = pytest.mark.integration

UA = "wirewatch-test/0.1"
WAIT = 2.0  # generous bound for "this happens promptly"; never reached when things work


# --- a raw loopback server ------------------------------------------------------------------


class Peer:
    """One accepted connection, as a handler sees it."""

    def __init__(
        self, server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer

    async def request(self) -> bytes | None:
        """The next request head (recorded on the server), or None when the client closed."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        self.server.requests.append(head)
        return head

    async def send(self, *parts: bytes, pause: float = 0.0) -> None:
        """Write each part on its own (flushed, then `pause` seconds) so they arrive apart."""
        for i, part in enumerate(parts):
            if i and pause:
                await asyncio.sleep(pause)
            self.writer.write(part)
            await self.writer.drain()

    async def until_eof(self) -> None:
        """Wait for the client to close this connection, then count it."""
        try:
            while await self.reader.read(65536):
                pass
        except ConnectionError:
            pass
        self.server.eofs += 1
        self.server.eof.set()


Handler = Callable[[Peer], Awaitable[None]]


class RawServer:
    """asyncio.start_server on a free loopback port; counts connections, records requests."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.eofs = 0  # connections the client closed (seen by Peer.until_eof)
        self.eof = asyncio.Event()
        self.host = ""
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self, host: str, tls: ssl.SSLContext | None) -> RawServer:
        self._server = await asyncio.start_server(self._accept, host, 0, ssl=tls)
        self.host, self.port = host, self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._open[task] = writer
        try:
            await self._handler(Peer(self, reader, writer))
        except ConnectionError:
            pass
        finally:
            del self._open[task]
            writer.close()

    def url(self, path: str = "/", scheme: str = "http") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{path}"

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._open.values():  # handlers waiting to read see EOF and return
            writer.close()
        if self._open:
            await asyncio.wait(list(self._open), timeout=WAIT)
        await self._server.wait_closed()


Serve = Callable[..., Awaitable[RawServer]]


class Servers:
    """Starts raw servers and stops them all at the end (the `serve` fixture)."""

    def __init__(self) -> None:
        self._started: list[RawServer] = []

    async def __call__(
        self, handler: Handler, *, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
    ) -> RawServer:
        server = await RawServer(handler).start(host, tls)
        self._started.append(server)
        return server

    async def stop(self) -> None:
        for server in self._started:
            await server.stop()


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers = Servers()
    yield servers
    await servers.stop()


def new_client(read_timeout: float = WAIT, keep: int = 256) -> HttpClient:
    return HttpClient(
        {"User-Agent": UA}, connect_timeout=WAIT, read_timeout=read_timeout, keep=keep
    )


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    async with new_client() as c:
        yield c


def ok(body: bytes = b"hello", *headers: str) -> bytes:
    """A 200 with Content-Length (and any extra header lines)."""
    head = "".join(f"{h}\r\n" for h in (*headers, f"Content-Length: {len(body)}"))
    return f"HTTP/1.1 200 OK\r\n{head}\r\n".encode() + body


def answering(*responses: bytes) -> Handler:
    """Answer the server's n-th request with responses[n] (the last one repeated); the
    connection stays open until the client closes it."""

    async def handle(peer: Peer) -> None:
        while await peer.request() is not None:
            index = min(len(peer.server.requests), len(responses)) - 1
            await peer.send(responses[index])
        peer.server.eofs += 1
        peer.server.eof.set()

    return handle


async def fetch(client: HttpClient, url: str) -> tuple[Response, bytes]:
    """GET, read the whole body, give the connection back."""
    response = await client.get(url)
    try:
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    finally:
        await response.aclose()
    return response, body


def free_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- keep-alive -----------------------------------------------------------------------------


async def keep_alive_scenario(serve: Serve, client: HttpClient) -> None:
    server = await serve(answering(ok(b"first"), ok(b"second")))
    assert (await fetch(client, server.url("/a")))[1] == b"first"
    assert (await fetch(client, server.url("/b")))[1] == b"second"
    assert server.connections == 1
    assert len(server.requests) == 2


async def test_sequential_gets_share_one_connection(serve: Serve, client: HttpClient) -> None:
    await keep_alive_scenario(serve, client)


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    ],
    ids=["connection-close", "http-1.0"],
)
async def test_connection_the_server_wont_keep_is_not_reused(
    serve: Serve, client: HttpClient, response: bytes
) -> None:
    server = await serve(answering(response))  # ...even though it leaves the socket open
    for _ in range(2):
        assert (await fetch(client, server.url()))[1] == b"hi"
    assert server.connections == 2


async def test_http_1_0_keep_alive_is_reused(serve: Serve, client: HttpClient) -> None:
    server = await serve(
        answering(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi")
    )
    for _ in range(2):
        assert (await fetch(client, server.url()))[1] == b"hi"
    assert server.connections == 1


async def test_unread_body_closes_the_connection(serve: Serve, client: HttpClient) -> None:
    server = await serve(answering(ok(b"x" * 200_000), ok(b"next")))
    response = await client.get(server.url())
    await response.aclose()  # body left unread: its bytes must not become the next answer
    assert (await fetch(client, server.url()))[1] == b"next"
    assert server.connections == 2


async def test_aclose_closes_idle_connections(serve: Serve) -> None:
    server = await serve(answering(ok()))
    async with new_client() as client:
        await fetch(client, server.url())
    await asyncio.wait_for(server.eof.wait(), WAIT)


# --- stale keep-alive -----------------------------------------------------------------------


async def test_idle_connection_closed_by_server_is_replaced(
    serve: Serve, client: HttpClient
) -> None:
    async def answer_once_then_close(peer: Peer) -> None:
        await peer.request()
        await peer.send(ok(b"fresh"))

    server = await serve(answer_once_then_close)
    await fetch(client, server.url())
    await asyncio.sleep(0.05)  # the server's FIN reaches the idle connection
    assert (await fetch(client, server.url()))[1] == b"fresh"
    assert server.connections == 2


async def stale_retry_scenario(serve: Serve, client: HttpClient) -> None:
    async def close_on_second_request(peer: Peer) -> None:
        await peer.request()
        await peer.send(ok(b"one"))
        await peer.request()  # the request raced the server's idle timeout: dropped unanswered

    server = await serve(close_on_second_request)
    assert (await fetch(client, server.url()))[1] == b"one"
    assert (await fetch(client, server.url()))[1] == b"one"
    assert server.connections == 2
    assert len(server.requests) == 3  # the lost request, then its retry


async def test_request_lost_on_stale_connection_is_retried_once(
    serve: Serve, client: HttpClient
) -> None:
    await stale_retry_scenario(serve, client)


async def test_partial_answer_on_reused_connection_is_not_retried(
    serve: Serve, client: HttpClient
) -> None:
    async def half_answer_second(peer: Peer) -> None:
        await peer.request()
        await peer.send(ok())
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-")

    server = await serve(half_answer_second)
    await fetch(client, server.url())
    with pytest.raises(RemoteProtocolError, match="without a response"):
        await client.get(server.url())
    assert server.connections == 1


@pytest.mark.parametrize(
    "partial",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    ],
    ids=["content-length", "chunked"],
)
async def test_close_mid_body_is_an_error_not_a_retry(
    serve: Serve, client: HttpClient, partial: bytes
) -> None:
    async def answer_then_cut(peer: Peer) -> None:
        await peer.request()
        await peer.send(ok())
        await peer.request()
        await peer.send(partial)

    server = await serve(answer_then_cut)
    await fetch(client, server.url())  # the second GET reuses the connection
    with pytest.raises(RemoteProtocolError, match="before the body was complete"):
        await fetch(client, server.url())
    assert server.connections == 1
    assert len(server.requests) == 2


# --- bodies ---------------------------------------------------------------------------------

BODY = b"<rss>" + bytes(range(256)) * 40 + b"</rss>"


@pytest.mark.parametrize(
    ("parts", "then_close"),
    [
        ([f"HTTP/1.1 200 OK\r\nContent-Length: {len(BODY)}\r\n\r\n".encode(), BODY], False),
        (
            [
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"5\r\n" + BODY[:5] + b"\r\n",
                b"%x\r\n" % 5000 + BODY[5:5005] + b"\r\n",
                b"%x;ext=1\r\n" % (len(BODY) - 5005) + BODY[5005:] + b"\r\n",
                b"0\r\n\r\n",
            ],
            False,
        ),
        ([b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n\r\n", BODY[:3000], BODY[3000:]], True),
    ],
    ids=["content-length", "chunked", "until-close"],
)
async def test_body_framings_return_the_exact_bytes(
    serve: Serve, client: HttpClient, parts: list[bytes], then_close: bool
) -> None:
    async def handle(peer: Peer) -> None:
        await peer.request()
        await peer.send(*parts, pause=0.01)
        if not then_close:
            await peer.until_eof()

    server = await serve(handle)
    response, body = await fetch(client, server.url())
    assert body == BODY
    assert response.num_bytes_downloaded == len(BODY)
    assert response.is_stream_consumed


async def test_body_ended_by_close_is_not_reused(serve: Serve, client: HttpClient) -> None:
    async def handle(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\n\r\nto the end")

    server = await serve(handle)
    for _ in range(2):
        assert (await fetch(client, server.url()))[1] == b"to the end"
    assert server.connections == 2


async def test_bytes_past_content_length_do_not_spoil_the_response(
    serve: Serve, client: HttpClient
) -> None:
    server = await serve(answering(ok(b"<rss/>") + b"\n<!-- stray -->\n"))
    assert (await fetch(client, server.url()))[1] == b"<rss/>"
    assert (await fetch(client, server.url()))[1] == b"<rss/>"
    assert server.connections == 2  # not reusable: who knows what the stray bytes were


# --- bodiless and interim answers -----------------------------------------------------------


@pytest.mark.parametrize(
    "bodiless",
    [
        b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n',
        b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 5000\r\n\r\n',
        b"HTTP/1.1 204 No Content\r\n\r\n",
    ],
    ids=["304", "304-with-representation-length", "204"],
)
async def test_bodiless_answer_keeps_the_connection(
    serve: Serve, client: HttpClient, bodiless: bytes
) -> None:
    server = await serve(answering(bodiless, ok(b"after")))
    response, body = await fetch(client, server.url())
    assert response.status_code in (204, 304)
    assert body == b""
    assert response.is_stream_consumed
    assert (await fetch(client, server.url()))[1] == b"after"
    assert server.connections == 1


@pytest.mark.parametrize(
    "interim",
    [
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
    ],
    ids=["100", "103"],
)
async def test_interim_response_is_skipped(
    serve: Serve, client: HttpClient, interim: bytes
) -> None:
    async def handle(peer: Peer) -> None:
        await peer.request()
        await peer.send(interim, ok(b"real", "X-Final: yes"), pause=0.02)
        await peer.until_eof()

    server = await serve(handle)
    response, body = await fetch(client, server.url())
    assert (response.status_code, response.reason_phrase, body) == (200, "OK", b"real")
    assert response.headers.get("x-final") == "yes"
    assert "link" not in response.headers


# --- broken servers -------------------------------------------------------------------------


async def test_endless_headers_are_cut_off_at_the_cap(serve: Serve, client: HttpClient) -> None:
    async def endless(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\n")
        while True:
            await peer.send(b"X-Junk: " + b"j" * 1000 + b"\r\n")

    server = await serve(endless)
    with pytest.raises(RemoteProtocolError, match=f"headers exceed {MAX_HEADER_BYTES} bytes"):
        await client.get(server.url())


async def test_one_endless_header_line_is_cut_off_at_the_cap(serve: Serve) -> None:
    async def endless_line(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nX-Junk: ")
        for _ in range(64):  # 4 MB of one header value, then silence
            await peer.send(b"j" * 65536)
        await peer.until_eof()

    server = await serve(endless_line)
    async with new_client(read_timeout=0.5) as client:
        with pytest.raises(RemoteProtocolError, match=f"headers exceed {MAX_HEADER_BYTES} bytes"):
            await client.get(server.url())


async def test_garbage_is_a_bad_http_response(serve: Serve, client: HttpClient) -> None:
    server = await serve(answering(b"SSH-2.0-OpenSSH_9.6\r\n"))
    with pytest.raises(RemoteProtocolError, match="bad HTTP response"):
        await client.get(server.url())


async def test_close_without_answer_on_fresh_connection(serve: Serve, client: HttpClient) -> None:
    async def hang_up(peer: Peer) -> None:
        await peer.request()

    server = await serve(hang_up)
    with pytest.raises(RemoteProtocolError, match="without a response"):
        await client.get(server.url())
    assert server.connections == 1  # only a kept-alive connection earns a retry


# --- timeouts and connect errors ------------------------------------------------------------


async def silent(peer: Peer) -> None:
    await peer.request()
    await peer.until_eof()


async def test_silent_server_is_a_read_timeout(serve: Serve) -> None:
    server = await serve(silent)
    async with new_client(read_timeout=0.2) as client:
        started = time.monotonic()
        with pytest.raises(ReadTimeout, match=r"no data for 0\.2s"):
            await client.get(server.url())
        assert time.monotonic() - started < WAIT


async def test_per_request_read_timeout_overrides_the_clients(
    serve: Serve, client: HttpClient
) -> None:
    server = await serve(silent)
    with pytest.raises(ReadTimeout, match=r"no data for 0\.1s"):
        await client.get(server.url(), read_timeout=0.1)


async def test_stall_mid_body_is_a_read_timeout(serve: Serve) -> None:
    async def stall(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n<rss>")
        await peer.until_eof()

    server = await serve(stall)
    async with new_client(read_timeout=0.2) as client:
        response = await client.get(server.url())
        received = b""
        with pytest.raises(ReadTimeout):
            async for chunk in response.aiter_raw():
                received += chunk
        await response.aclose()
    assert received == b"<rss>"


async def test_headers_arriving_in_pieces_within_read_timeout(serve: Serve) -> None:
    async def trickle(peer: Peer) -> None:
        await peer.request()
        lines = [b"HTTP/1.1 200 OK\r\n", *(b"X-%d: 1\r\n" % i for i in range(4))]
        await peer.send(*lines, b"Content-Length: 4\r\n\r\nlate", pause=0.1)
        await peer.until_eof()

    server = await serve(trickle)
    async with new_client(read_timeout=0.3) as client:  # head complete after 0.5 s, gaps 0.1 s
        assert (await fetch(client, server.url()))[1] == b"late"


async def test_refused_port_is_a_connect_error(client: HttpClient) -> None:
    with pytest.raises(ConnectError) as caught:
        await client.get(f"http://127.0.0.1:{free_port()}/feed.xml")
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    assert transport_reason(caught.value, FetchLimits()) == "connection refused"


async def test_full_accept_queue_is_a_connect_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        queued: list[socket.socket] = []
        try:
            for _ in range(4):  # fill the accept queue; later SYNs are dropped, not refused
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", port))
                queued.append(s)
            await asyncio.sleep(0.05)
            async with new_client() as client:
                try:
                    await client.get(f"http://127.0.0.1:{port}/", connect_timeout=0.2)
                except ConnectTimeout as exc:
                    assert str(exc) == "connect timed out after 0.2s"
                except ConnectError:
                    pytest.skip("this kernel refuses, rather than drops, a full accept queue")
                else:
                    pytest.fail("connected to a listener whose accept queue was full")
        finally:
            for s in queued:
                s.close()


# --- the request on the wire ----------------------------------------------------------------


async def test_request_line_and_headers(serve: Serve, client: HttpClient) -> None:
    server = await serve(answering(ok()))
    await fetch(client, server.url("/feed.xml"))
    assert server.requests == [
        f"GET /feed.xml HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"User-Agent: {UA}\r\n\r\n".encode()
    ]


@pytest.mark.parametrize(
    ("url", "host_line"),
    [
        ("http://example.org/", "Host: example.org"),
        ("http://Example.org.:80/", "Host: example.org"),
        ("https://example.org:443/", "Host: example.org"),
        ("http://example.org:8080/", "Host: example.org:8080"),
        ("https://example.org:80/", "Host: example.org:80"),
        ("http://[::1]/", "Host: [::1]"),
        ("http://[2001:db8::1]:8080/", "Host: [2001:db8::1]:8080"),
    ],
)
def test_host_header_omits_only_the_default_port(url: str, host_line: str) -> None:
    assert _target(url).head.split(b"\r\n")[1] == host_line.encode()


async def test_ipv6_literal_is_bracketed(serve: Serve, client: HttpClient) -> None:
    try:
        server = await serve(answering(ok(b"v6")), host="::1")
    except OSError as exc:
        pytest.skip(f"IPv6 loopback unavailable: {exc}")
    assert (await fetch(client, server.url("/x")))[1] == b"v6"
    assert server.requests[0].startswith(
        f"GET /x HTTP/1.1\r\nHost: [::1]:{server.port}\r\n".encode()
    )


async def test_path_and_query_are_percent_encoded(serve: Serve, client: HttpClient) -> None:
    server = await serve(answering(ok()))
    await fetch(client, server.url("/news feeds/café/a%2Fb?q=red wine&lang=ü&x=%41#top"))
    request_line = server.requests[0].split(b"\r\n")[0]
    path = b"/news%20feeds/caf%C3%A9/a%2Fb?q=red%20wine&lang=%C3%BC&x=%41"  # no #fragment
    assert request_line == b"GET " + path + b" HTTP/1.1"


async def test_empty_path_is_slash(serve: Serve, client: HttpClient) -> None:
    server = await serve(answering(ok()))
    await fetch(client, f"http://127.0.0.1:{server.port}?a=1")
    assert server.requests[0].startswith(b"GET /?a=1 HTTP/1.1\r\n")


async def test_basic_auth_from_userinfo(serve: Serve, client: HttpClient) -> None:
    server = await serve(answering(ok()))
    await fetch(client, server.url("/private").replace("http://", "http://user:p%40ss@"))
    expected = base64.b64encode(b"user:p@ss").decode()
    assert f"\r\nAuthorization: Basic {expected}\r\n".encode() in server.requests[0]
    assert b"p%40ss" not in server.requests[0]


async def test_header_value_with_line_break_is_dropped(serve: Serve, client: HttpClient) -> None:
    server = await serve(answering(ok()))
    response = await client.get(
        server.url(),
        {"If-None-Match": '"v1"\r\nX-Injected: 1', "If-Modified-Since": "Tue, 25 Nov 2025"},
    )
    await response.aclose()
    assert len(server.requests) == 1
    request = server.requests[0]
    assert b"X-Injected" not in request
    assert b"If-None-Match" not in request
    assert b"\r\nIf-Modified-Since: Tue, 25 Nov 2025\r\n" in request


def test_idna_host_is_encoded() -> None:
    target = _target("http://bücher.example/")
    assert target.host == "xn--bcher-kva.example"
    assert target.key == ("http", "xn--bcher-kva.example", 80)
    assert b"\r\nHost: xn--bcher-kva.example\r\n" in target.head


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:99999/", "invalid URL"),
        ("http://127.0.0.1:http/", "invalid URL"),
        ("http:///feed.xml", "no host"),
        ("ftp://example.org/feed.xml", "unsupported URL scheme ftp:"),
    ],
)
async def test_unusable_url_is_invalid(client: HttpClient, url: str, message: str) -> None:
    with pytest.raises(InvalidURL, match=message):
        await client.get(url)


# --- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_tls(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(names or ("127.0.0.1", "localhost"))).configure_cert(context)
    return context


@pytest.fixture
def trust_ca(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


async def tls_scenario(serve: Serve, client: HttpClient, ca: trustme.CA) -> None:
    server = await serve(answering(ok(b"secure")), tls=server_tls(ca))
    for _ in range(2):
        assert (await fetch(client, server.url("/feed.xml", scheme="https")))[1] == b"secure"
    assert server.connections == 1


async def test_https_with_a_trusted_ca(serve: Serve, ca: trustme.CA, trust_ca: None) -> None:
    async with new_client() as client:
        await tls_scenario(serve, client, ca)


async def test_https_with_an_unknown_ca_is_a_tls_error(
    serve: Serve, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    server = await serve(answering(ok()), tls=server_tls(ca))
    async with new_client() as client:  # certifi's roots know nothing of the test CA
        with pytest.raises(ConnectError, match="certificate verify failed") as caught:
            await client.get(server.url(scheme="https"))
    assert transport_reason(caught.value, FetchLimits()).startswith("TLS error:")
    assert server.requests == []


async def test_https_certificate_for_another_host_is_a_tls_error(
    serve: Serve, ca: trustme.CA, trust_ca: None
) -> None:
    server = await serve(answering(ok()), tls=server_tls(ca, "feeds.example.org"))
    async with new_client() as client:
        with pytest.raises(ConnectError, match="certificate verify failed") as caught:
            await client.get(server.url(scheme="https"))
    assert transport_reason(caught.value, FetchLimits()).startswith("TLS error:")


# --- the idle pool --------------------------------------------------------------------------


async def test_idle_pool_closes_the_least_recently_used(serve: Serve) -> None:
    a, b, c = [await serve(answering(ok())) for _ in range(3)]
    async with new_client(keep=2) as client:
        for server in (a, b, c):
            await fetch(client, server.url())
        await asyncio.wait_for(a.eof.wait(), WAIT)  # a's idle connection was closed
        for server in (b, c):
            await fetch(client, server.url())
        assert (a.eofs, b.eofs, c.eofs) == (1, 0, 0)
        assert (b.connections, c.connections) == (1, 1)
        await fetch(client, a.url())
        assert a.connections == 2


# --- flow control ---------------------------------------------------------------------------

BIG = random.Random(7).randbytes(5 * 1024 * 1024)


async def flow_control_scenario(serve: Serve, client: HttpClient) -> None:
    server = await serve(answering(ok(BIG), ok(b"after")))
    response = await client.get(server.url())
    digest, size = hashlib.sha256(), 0
    async for chunk in response.aiter_raw():  # a slow consumer: the socket must wait for it
        digest.update(chunk)
        size += len(chunk)
        await asyncio.sleep(0.002)
    await response.aclose()
    assert size == response.num_bytes_downloaded == len(BIG)
    assert digest.digest() == hashlib.sha256(BIG).digest()
    assert (await fetch(client, server.url()))[1] == b"after"  # reading resumed for reuse
    assert server.connections == 1


async def test_large_body_read_slowly_arrives_intact(serve: Serve, client: HttpClient) -> None:
    await flow_control_scenario(serve, client)


# --- the same under uvloop, the loop the services run on ------------------------------------


@pytest.mark.parametrize(
    "scenario",
    [keep_alive_scenario, stale_retry_scenario, flow_control_scenario, tls_scenario],
    ids=["keep-alive", "stale-retry", "flow-control", "tls"],
)
def test_under_uvloop(
    scenario: Callable[..., Awaitable[None]], ca: trustme.CA, trust_ca: None
) -> None:
    async def run() -> None:
        servers = Servers()
        try:
            async with new_client() as client:
                extra = (ca,) if scenario is tls_scenario else ()
                await scenario(servers, client, *extra)
        finally:
            await servers.stop()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run())
