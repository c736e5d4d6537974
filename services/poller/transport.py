"""One small connection pool per server, behind the poller's single httpx client.

The poller sends one request at a time per server (politeness), so each server needs one
connection, kept alive between its feeds. httpx's one shared pool, sized for many servers,
scans every pooled connection on each request: at 10,000 feeds that scan cost more CPU than
the rest of a 304 poll. Here each server gets its own httpcore pool of one or two
connections, the least recently used idle ones are closed past `keep` servers, and all pools
share one TLS context (building one costs ~15 ms).
"""

from __future__ import annotations

import ssl
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable

import httpx

__all__ = ["PerServerTransport"]

_Key = tuple[bytes, bytes, int | None]


class PerServerTransport(httpx.AsyncBaseTransport):
    """Routes each request to the pool of its (scheme, host, port)."""

    def __init__(self, *, keep: int = 256, verify: ssl.SSLContext | None = None) -> None:
        self._keep = keep
        self._verify = verify or httpx.create_ssl_context()  # certifi, or SSL_CERT_FILE
        self._pools: OrderedDict[_Key, httpx.AsyncHTTPTransport] = OrderedDict()
        self._busy: dict[_Key, int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = (request.url.raw_scheme, request.url.raw_host, request.url.port)
        pool = self._pools.get(key)
        if pool is None:
            pool = httpx.AsyncHTTPTransport(
                verify=self._verify,
                limits=httpx.Limits(max_connections=2, max_keepalive_connections=1),
            )
            self._pools[key] = pool
            await self._evict()
        self._pools.move_to_end(key)
        self._busy[key] = self._busy.get(key, 0) + 1
        try:
            response = await pool.handle_async_request(request)
        except BaseException:
            self._done(key)
            raise
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        response.stream = _Tracked(stream, lambda: self._done(key))
        return response

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), OrderedDict()
        for pool in pools:
            await pool.aclose()

    def _done(self, key: _Key) -> None:
        left = self._busy.get(key, 1) - 1
        if left:
            self._busy[key] = left
        else:
            self._busy.pop(key, None)

    async def _evict(self) -> None:
        """Close the least recently used idle pools beyond `keep`."""
        excess = len(self._pools) - self._keep
        for key in [k for k in self._pools if k not in self._busy][: max(0, excess)]:
            await self._pools.pop(key).aclose()


class _Tracked(httpx.AsyncByteStream):
    """The response body, telling the transport when the response is closed."""

    def __init__(self, inner: httpx.AsyncByteStream, on_close: Callable[[], None]) -> None:
        self._inner = inner
        self._on_close = on_close
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._inner.aclose()
            self._on_close()
