"""Feeds fetched through an outbound HTTP proxy (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`).

The proxy is a real one on loopback, written here: plain requests in absolute form are
forwarded, CONNECT opens a byte tunnel (the proxy never sees the https request), and it can
demand Proxy-Authorization. The feeds come from the shared `feed_server` (http) and from a
TLS server with a trustme certificate (https).
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme

from services.poller.fetch import FetchLimits, FetchResult, fetch_feed, make_client
from tests.support.feed_server import (
    FeedServer,
    feed_server_fixture,  # noqa: F401 - provides the `feed_server` fixture
)

pytestmark = pytest.mark.integration

LIMITS = FetchLimits(total_timeout=5.0, connect_timeout=2.0, read_timeout=2.0)
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@dataclass
class Proxy:
    """A forwarding HTTP proxy on loopback that records what it was asked."""

    password: str | None = None
    seen: list[str] = field(default_factory=list)  # request lines (GET http://…, CONNECT …)
    auth: list[str] = field(default_factory=list)  # decoded Proxy-Authorization values
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.seen.append(lines[0])
        given = [
            line.split(":", 1)[1].strip()
            for line in lines
            if line.lower().startswith("proxy-authorization:")
        ]
        for value in given:
            self.auth.append(base64.b64decode(value.split()[1]).decode())
        if self.password is not None and f"user:{self.password}" not in self.auth[-1:]:
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        method, target, _version = lines[0].split(" ")
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:  # absolute form: forward in origin form, without our own header
            rest = target.split("://", 1)[1]
            authority, _, path = rest.partition("/")
            host, _, port = authority.rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            kept = [line for line in lines[1:] if not line.lower().startswith("proxy-")]
            up_writer.write(("\r\n".join([f"GET /{path} HTTP/1.1", *kept])).encode("latin-1"))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    state = Proxy()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    yield state
    server.close()


@pytest.fixture(autouse=True)
def no_inherited_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def https_feed(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An https feed on loopback whose certificate our client trusts (via SSL_CERT_FILE)."""
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = b"<rss version='2.0'><channel><title>tls</title></channel></rss>"
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://localhost:{server.server_address[1]}/secure.xml"
    server.shutdown()
    server.server_close()


async def _fetch(url: str, tmp_path: Path) -> FetchResult:
    async with make_client(LIMITS, "wirewatch-proxy-test") as client:
        return await fetch_feed(client, url, base_dir=tmp_path, limits=LIMITS)


async def test_http_feed_goes_through_the_proxy_with_its_credentials(
    proxy: Proxy, feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy.password = "s3cret!"
    monkeypatch.setenv("HTTP_PROXY", f"http://user:s3cret%21@127.0.0.1:{proxy.port}")
    result = await _fetch(feed_server.url("/feed.xml"), tmp_path)
    assert result.ok and result.body and b"<rss" in result.body
    assert proxy.seen == [f"GET {feed_server.url('/feed.xml')} HTTP/1.1"]
    assert proxy.auth == ["user:s3cret!"]
    (request,) = feed_server.requests_to("/feed.xml")
    assert "proxy-authorization" not in request.headers  # our credentials stay with the proxy


async def test_https_feed_is_tunnelled(
    proxy: Proxy, https_feed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    result = await _fetch(https_feed, tmp_path)
    assert result.ok and result.body and b"<title>tls</title>" in result.body
    port = https_feed.split(":")[2].split("/")[0]
    assert proxy.seen == [f"CONNECT localhost:{port} HTTP/1.1"]  # never the path


async def test_no_proxy_hosts_connect_directly(
    proxy: Proxy, feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    result = await _fetch(feed_server.url("/feed.xml"), tmp_path)
    assert result.ok
    assert proxy.seen == []


async def test_refused_tunnel_is_a_clear_reason_without_the_password(
    proxy: Proxy, https_feed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy.password = "right"
    monkeypatch.setenv("HTTPS_PROXY", f"http://user:wrong-pass@127.0.0.1:{proxy.port}")
    result = await _fetch(https_feed, tmp_path)
    assert result.error == f"proxy 127.0.0.1:{proxy.port} refused the tunnel: HTTP 407"


async def test_proxy_down_names_the_proxy(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://user:pw-123456@127.0.0.1:9")  # discard port: closed
    result = await _fetch(feed_server.url("/feed.xml"), tmp_path)
    assert result.error == "proxy 127.0.0.1:9: connection refused"


async def test_socks_proxy_is_refused_with_advice(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    result = await _fetch(feed_server.url("/feed.xml"), tmp_path)
    assert result.error == (
        "unsupported proxy socks5://127.0.0.1: only http:// proxies are supported"
    )
