"""Sending a digest to one Apprise target, in the format that target shows well.

- Email (`mailto://`, `mailtos://`): one multipart message, HTML plus a plain-text part that
  Apprise derives from it (both carry every item's full URL as text); never split.
- Markdown-capable chat, and `json://` webhooks: Markdown, split at item boundaries under the
  service's message limit. Each part knows its articles, so the caller records the sent-ledger
  per accepted part and a retry sends only what was not accepted.
- Everything else: plain text (split as Markdown when it is too long).

`plan_messages` decides and renders (no I/O); `send_message` hands one message to Apprise's
async API. Errors name the target by its redacted URL and never contain its path, query or
credentials: Apprise's own reason is scrubbed of every piece of the URL first.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import apprise
from apprise import NotifyFormat

from services.common.metrics import target_type
from services.common.secrets import SecretUrl, redact_text
from services.notifier.digest import Digest
from services.notifier.render import (
    Highlight,
    digest_title,
    render_html,
    render_text,
    split_markdown_parts,
)
from services.notifier.stories import Story

__all__ = [
    "Message",
    "SendResult",
    "guard_apprise_logs",
    "is_valid_target",
    "plan_messages",
    "register_console",
    "send_message",
    "target_label",
]

DEFAULT_LIMIT = 32768
_console_registered = False


@dataclass(frozen=True)
class Message:
    """One message for one target: what Apprise sends, and which articles and stories it carries."""

    title: str
    body: str
    body_format: str  # an apprise.NotifyFormat value
    article_ids: frozenset[str]
    stories: tuple[Story, ...]


@dataclass(frozen=True)
class SendResult:
    ok: bool
    reason: str = ""  # why it failed, secret-free


def register_console() -> None:
    """`console://` prints the digest to stdout: the demo's target, and handy for trying rules."""
    global _console_registered
    if _console_registered:
        return

    @apprise.decorators.notify(on="console", name="wirewatch console")  # type: ignore[misc,untyped-decorator,no-untyped-call]
    def _console(body: str, title: str, notify_type: str, *args: Any, **kwargs: Any) -> bool:
        out = sys.stdout
        out.write(f"\n===== {title} =====\n{body}\n")
        out.flush()
        return True

    _console_registered = True


def _plugin_for(url: SecretUrl) -> Any | None:
    register_console()
    ap = apprise.Apprise()
    if not ap.add(url.reveal()):
        return None
    return ap[0]


def is_valid_target(url: SecretUrl) -> bool:
    """Apprise can parse the URL (used by `check` and at start-up)."""
    return _plugin_for(url) is not None


def target_label(url: SecretUrl) -> str:
    """The metrics label of a target: its scheme only, never the URL."""
    try:
        return target_type(urlsplit(url.reveal()).scheme)
    except ValueError:
        return "unknown"


def plan_messages(
    url: SecretUrl, digest: Digest, *, highlight: Highlight = ()
) -> list[Message] | None:
    """The messages that carry `digest` to this target, in order; None if Apprise cannot use it."""
    plugin = _plugin_for(url)
    if plugin is None:
        return None
    formats = plugin.notify_format
    preferred = formats[0] if isinstance(formats, tuple) else formats
    title = digest_title(digest)
    everything = tuple(item.story for item in digest.items) + digest.hidden
    if preferred == NotifyFormat.HTML:
        body = render_html(digest, highlight=highlight)
        return [Message(title, body, NotifyFormat.HTML, digest.article_ids, everything)]
    limit = _body_limit(plugin, title)
    markdown = preferred == NotifyFormat.MARKDOWN or urlsplit(url.reveal()).scheme.lower() in (
        "json",
        "jsons",
    )
    if not markdown:
        text = render_text(digest, highlight=highlight)
        if len(text) <= limit:
            return [Message(title, text, NotifyFormat.TEXT, digest.article_ids, everything)]
    parts = split_markdown_parts(digest, limit, highlight=highlight)
    messages = []
    for number, part in enumerate(parts, start=1):
        stories = tuple(item.story for item in part.items) + (digest.hidden if part.more else ())
        ids = frozenset(a for story in stories for a in story.article_ids)
        part_title = title if len(parts) == 1 else f"{title} ({number}/{len(parts)})"
        messages.append(Message(part_title, part.text, NotifyFormat.MARKDOWN, ids, stories))
    return messages


def _body_limit(plugin: Any, title: str) -> int:
    """The service's message limit, less the title where the service puts it in the body."""
    limit = int(getattr(plugin, "body_maxlen", DEFAULT_LIMIT) or DEFAULT_LIMIT)
    if int(getattr(plugin, "title_maxlen", 1) or 0) <= 0:
        limit -= len(title) + 2
    return max(limit, 80)


async def send_message(url: SecretUrl, message: Message) -> SendResult:
    """Hand one message to Apprise; the result says whether the target accepted it."""
    ap = apprise.Apprise()
    if not ap.add(url.reveal()):
        return SendResult(False, "Apprise cannot use this URL")
    try:
        result = await ap.async_notify(
            body=message.body, title=message.title, body_format=message.body_format
        )
    except Exception as exc:  # a plugin bug must not stop the other targets
        return SendResult(False, _scrub(f"{type(exc).__name__}: {exc}", url))
    if result:
        return SendResult(True)
    return SendResult(False, _scrub(_apprise_reason(result), url).rstrip(". "))


def _apprise_reason(result: Any) -> str:
    """The last warning or error Apprise logged for the attempt, else its status name."""
    reason = ""
    for service in getattr(result, "results", ()):
        for entry in service.logs():
            if entry.level in ("WARNING", "ERROR", "CRITICAL"):
                reason = entry.message
        if not reason:
            reason = getattr(service.status, "name", "").lower()
    return reason or "not accepted"


class _ApprisePieceFilter(logging.Filter):
    """Removes every secret piece of the configured target URLs from Apprise's own log lines
    (it names recipients, chat ids and paths in them); the redacting handler then removes URLs.
    """

    def __init__(self) -> None:
        super().__init__()
        self.pieces: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.pieces:
            try:
                message = record.getMessage()
            except (TypeError, ValueError):
                message = str(record.msg)
            for piece in sorted(self.pieces, key=len, reverse=True):
                message = message.replace(piece, "…")
            record.msg, record.args = message, None
        return True


_apprise_filter = _ApprisePieceFilter()


def guard_apprise_logs(urls: Iterable[SecretUrl]) -> None:
    """Keep the secret parts of these target URLs out of Apprise's log lines (idempotent)."""
    logger = logging.getLogger("apprise")
    if _apprise_filter not in logger.filters:
        logger.addFilter(_apprise_filter)
    for url in urls:
        _apprise_filter.pieces.update(_secret_pieces(url))


def _secret_pieces(url: SecretUrl) -> Sequence[str]:
    """Every part of the URL beyond scheme and host:port (user, password, path, query)."""
    public: set[str] = set()
    try:
        parts = urlsplit(url.reveal())
        public.add(parts.hostname or "")
        public.add(str(parts.port or ""))
    except ValueError:  # e.g. a token where a port would be: hide all of it
        public.clear()
    rest = url.reveal().split("://", 1)[-1]
    pieces = {p for p in re.split(r"[/?&=:@#,;+\s]+", rest) if len(p) >= 3 and p not in public}
    return sorted(pieces, key=len, reverse=True)


def _scrub(text: str, url: SecretUrl) -> str:
    """`text` without any URL and without any piece of this target's URL, one short line."""
    text = redact_text(" ".join(text.split()))
    for piece in _secret_pieces(url):
        text = text.replace(piece, "…")
    return text[:200]
