"""A real HTTP webhook receiver on loopback for `json://` targets: records every POST body.

Outages: `failing = True` answers HTTP 500; `accept_only(n)` accepts the next n posts and then
answers 500 (a chat service that takes part 1 of a digest and refuses part 2); `stop()` closes
the port (connection refused) and `start()` listens on the same port again.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class WebhookReceiver:
    def __init__(self, port: int = 0) -> None:
        self.posts: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.arrivals: list[float] = []  # time.time() of each accepted post
        self.failing = False
        self._budget: int | None = None  # posts still accepted before failing (None: no limit)
        self._lock = threading.Lock()
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if not receiver._take():
                    self.send_response(500)
                    self.end_headers()
                    return
                with receiver._lock:
                    receiver.posts.append(json.loads(body or b"{}"))
                    receiver.paths.append(self.path)
                    receiver.arrivals.append(time.time())
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def _take(self) -> bool:
        with self._lock:
            if self.failing:
                return False
            if self._budget is None:
                return True
            if self._budget <= 0:
                return False
            self._budget -= 1
            return True

    def accept_only(self, posts: int | None) -> None:
        """Accept the next `posts` posts, then answer 500 (None: accept everything again)."""
        with self._lock:
            self._budget = posts

    @property
    def url(self) -> str:
        """The Apprise URL that posts here."""
        return f"json://127.0.0.1:{self.port}/hook"

    def messages(self) -> list[str]:
        return [str(p.get("message", "")) for p in self.posts]

    def start(self) -> None:
        """Listen (again, on the same port once it has one)."""
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Close the port: senders get connection refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def close(self) -> None:
        self.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    yield r
    r.close()
