"""Sending a rendered digest to one Apprise target, in the format that target shows well.

Email gets multipart HTML + text (never split); Markdown-capable chat gets Markdown split at item
boundaries under the service's message limit; the rest gets plain text. Each target is sent
separately so one failing target never holds up the others. Errors never contain the URL.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import apprise
from apprise import NotifyFormat

from services.common.secrets import SecretUrl
from services.notifier.digest import Digest
from services.notifier.render import (
    digest_title,
    render_html,
    render_text,
    split_markdown,
)

log = logging.getLogger(__name__)
_console_registered = False


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    parts: int = 0
    error: str = ""


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
    ap = apprise.Apprise()
    if not ap.add(url.reveal()):
        return None
    return ap[0]


def is_valid_target(url: SecretUrl) -> bool:
    """Apprise can parse the URL (used by `check` and at start-up)."""
    register_console()
    return _plugin_for(url) is not None


async def deliver(
    url: SecretUrl, digest: Digest, *, highlight: Sequence[str] = (), target_name: str
) -> DeliveryResult:
    """Render for the target's preferred format and send; every part must be accepted."""
    register_console()
    plugin = _plugin_for(url)
    if plugin is None:
        return DeliveryResult(False, error=f"{target_name}: Apprise cannot use {url.redacted()}")
    formats = plugin.notify_format
    preferred = formats[0] if isinstance(formats, tuple) else formats
    title = digest_title(digest)
    if preferred == NotifyFormat.HTML:
        parts = [(render_html(digest, highlight=highlight), NotifyFormat.HTML)]
    elif preferred == NotifyFormat.MARKDOWN or url.reveal().startswith(("json://", "jsons://")):
        limit = int(getattr(plugin, "body_maxlen", 32768) or 32768)
        parts = [
            (p, NotifyFormat.MARKDOWN) for p in split_markdown(digest, limit, highlight=highlight)
        ]
    else:
        limit = int(getattr(plugin, "body_maxlen", 32768) or 32768)
        text = render_text(digest, highlight=highlight)
        parts = (
            [(text, NotifyFormat.TEXT)]
            if len(text) <= limit
            else [
                (p, NotifyFormat.MARKDOWN)
                for p in split_markdown(digest, limit, highlight=highlight)
            ]
        )
    for index, (body, fmt) in enumerate(parts):
        ap = apprise.Apprise()
        ap.add(url.reveal())
        part_title = title if len(parts) == 1 else f"{title} ({index + 1}/{len(parts)})"
        result = await ap.async_notify(body=body, title=part_title, body_format=fmt)
        if not result:
            return DeliveryResult(
                False,
                parts=index,
                error=f"{target_name} ({url.redacted()}) did not accept the digest",
            )
    return DeliveryResult(True, parts=len(parts))
