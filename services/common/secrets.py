"""Secret-typed Apprise target URLs: the full URL is reachable only on purpose, never by repr/str.

DESIGN §4 "Secrets": no part of a target URL beyond scheme and host:port appears in any log,
error, metric or command output.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_URL_IN_TEXT = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*)://[^\s'\"<>]+")


class SecretUrl:
    """An Apprise URL whose str/repr show only `scheme://host:port`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The real URL, for the one call that hands it to Apprise."""
        return self._value

    def redacted(self) -> str:
        return redact(self._value)

    def __repr__(self) -> str:
        return f"SecretUrl({self.redacted()!r})"

    def __str__(self) -> str:
        return self.redacted()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretUrl) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def redact(url: str) -> str:
    """Keep scheme and host:port; drop user, password, path, query and fragment (tokens live there)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable url>"
    if not parts.scheme:
        return "<url>"
    return f"{parts.scheme}://{host}{port}" if host else f"{parts.scheme}://"


def redact_text(text: str) -> str:
    """Redact every URL inside free text (log lines, exception messages)."""
    return _URL_IN_TEXT.sub(lambda m: redact(m.group(0)), text)
