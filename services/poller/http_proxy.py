"""Which HTTP proxy a feed is fetched through: the standard `*_proxy` environment variables.

Self-hosted services often sit behind an outbound proxy; `HTTP_PROXY`, `HTTPS_PROXY`,
`ALL_PROXY` and `NO_PROXY` (upper or lower case) are what every HTTP tool honours, so the
poller does too, with the standard library's reading of them (`urllib.request`), which knows
NO_PROXY's host, domain-suffix and `*` forms. Only `http://` proxies are supported (plain
requests for http:// feeds, a CONNECT tunnel for https:// ones); a proxy's password goes into
a Proxy-Authorization header and never into an error.
"""

from __future__ import annotations

import base64
import urllib.request
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

__all__ = ["Proxies", "Proxy", "ProxyError", "parse_proxy"]


class ProxyError(ValueError):
    """A proxy variable this client cannot use (a socks:// or https:// proxy, a bad port)."""


@dataclass(frozen=True)
class Proxy:
    """An HTTP proxy: where to connect, and the header that authenticates us to it."""

    host: str
    port: int
    authorization: bytes  # b"Proxy-Authorization: Basic …\r\n", or b""

    @property
    def shown(self) -> str:
        """For error messages: host and port only (never the credentials)."""
        return f"{self.host}:{self.port}"


class Proxies:
    """The proxy settings of this process's environment, read once."""

    def __init__(self, environment: dict[str, str] | None = None) -> None:
        self._proxies = (
            urllib.request.getproxies_environment() if environment is None else environment
        )
        self._cache: dict[tuple[str, str], Proxy | None] = {}

    def for_target(self, scheme: str, host: str) -> Proxy | None:
        """The proxy for a request to `host` over `scheme`, or None to connect directly."""
        key = (scheme, host)
        if key not in self._cache:
            if len(self._cache) > 65536:
                self._cache.clear()
            self._cache[key] = self._lookup(scheme, host)
        return self._cache[key]

    def _lookup(self, scheme: str, host: str) -> Proxy | None:
        url = self._proxies.get(scheme) or self._proxies.get("all")
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
        if not url or bypass(host, self._proxies):
            return None
        return parse_proxy(url)


def parse_proxy(url: str) -> Proxy:
    """A proxy URL (`http://user:pass@proxy:3128`; a bare `proxy:3128` means http)."""
    if "://" not in url:
        url = f"http://{url}"
    try:
        parts = urlsplit(url)
        port = parts.port or 80
    except ValueError as exc:
        raise ProxyError(f"bad proxy setting: {exc}") from exc
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise ProxyError(
            f"unsupported proxy {parts.scheme}://{parts.hostname or ''}: "
            "only http:// proxies are supported"
        )
    authorization = b""
    if parts.username is not None or parts.password is not None:
        secret = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        token = base64.b64encode(secret.encode()).decode()
        authorization = f"Proxy-Authorization: Basic {token}\r\n".encode()
    return Proxy(parts.hostname, port, authorization)
