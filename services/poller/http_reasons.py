"""Turning what went wrong on the wire into one short reason a user can act on.

`wirewatch feeds` shows these verbatim, so they name the cause ("connection refused", "DNS
lookup failed: …", "no data for 15s (read timed out)") rather than an exception class, and
stay one bounded line whatever the server sent.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Iterator
from http import HTTPStatus

from services.poller.http_client import (
    ConnectError,
    ConnectTimeout,
    HttpError,
    InvalidURL,
    ReadTimeout,
    RemoteProtocolError,
    Response,
)
from services.poller.result import FetchLimits, clip

__all__ = ["status_reason", "transport_reason"]

_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH}


def transport_reason(exc: HttpError, limits: FetchLimits) -> str:
    """Why a request failed below HTTP (connect, TLS, timeouts, broken connections)."""
    if isinstance(exc, ConnectTimeout):
        return f"connect timed out after {limits.connect_timeout:g}s"
    if isinstance(exc, ReadTimeout):
        return f"no data for {limits.read_timeout:g}s (read timed out)"
    text = clip(str(exc)) or type(exc).__name__
    if isinstance(exc, ConnectError):
        if exc.proxy and exc.__cause__ is None:  # the proxy itself said no
            return text
        reason = _connect_reason(exc, text)
        return f"proxy {exc.proxy}: {reason}" if exc.proxy else reason
    if isinstance(exc, RemoteProtocolError):
        return f"server broke the connection: {text}"
    if isinstance(exc, InvalidURL):
        return text if text.startswith(("invalid URL", "unsupported")) else f"invalid URL: {text}"
    return f"{type(exc).__name__}: {text}"


def status_reason(response: Response) -> str:
    """`HTTP 404 Not Found`: the standard phrase; the server's own only for unknown codes."""
    try:
        phrase = HTTPStatus(response.status_code).phrase
    except ValueError:
        phrase = clip(response.reason_phrase)
    return f"HTTP {response.status_code} {phrase}".rstrip()


def _connect_reason(exc: ConnectError, text: str) -> str:
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
            return clip(str(text))
    return ""
