"""A real SMTP server on loopback (aiosmtpd) that keeps every message it receives, parsed.

`mailto://` targets pointing at it go through Apprise's real email plugin and smtplib, so a
test sees the exact MIME message a mail server would get.
"""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class SmtpSink:
    """Accepts every message (or refuses with 451 while `failing`), stores it parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.failing = False
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.failing:
            return "451 try again later"
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def url(self, to: str = "desk@example.org", sender: str = "wirewatch@example.org") -> str:
        """The Apprise URL that mails this server (plain SMTP on loopback)."""
        return f"mailto://127.0.0.1:{self.port}?from={sender}&to={to}"

    def close(self) -> None:
        self._controller.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    yield sink
    sink.close()
