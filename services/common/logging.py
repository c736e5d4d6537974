"""Structured, secret-free logs: readable `event key=value` lines on a terminal, JSON elsewhere.

A filter redacts every URL in every record (Apprise tokens and Redis passwords live in URLs),
whatever module logged it, so a secret cannot leak through a third-party library's message.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from services.common.secrets import redact_text


class RedactingFilter(logging.Filter):
    """Rewrites the formatted message with URLs reduced to scheme://host:port."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class OutageFilter(logging.Filter):
    """FastStream retries a failed stream read every 5 s and logs each failure with a traceback;
    during a Redis outage that is a log line per subscriber every few seconds. The first is kept
    (as one line naming the cause), repeats are dropped for `window` seconds."""

    MESSAGES = ("Message fetch error",)

    def __init__(self, window: float = 300.0) -> None:
        super().__init__()
        self.window = window
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if not message.startswith(self.MESSAGES):
            return True
        exc = record.exc_info[1] if record.exc_info else None
        cause = f"{type(exc).__name__}: {exc}" if exc is not None else message
        now = record.created
        if now - self._last.get(cause, float("-inf")) < self.window:
            return False
        self._last[cause] = now
        record.msg = f"redis.read_failed reason={cause!r}; retrying every 5s (repeats hidden {self.window:.0f}s)"
        record.args = None
        record.exc_info = None
        record.exc_text = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        event = _event_name(entry["message"])
        if event:
            entry["event"] = event
        if record.exc_text:
            entry["error"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", *, json_output: bool | None = None) -> None:
    """Logs go to stderr (stdout carries command output, e.g. console digests)."""
    stream = sys.stderr
    use_json = not stream.isatty() if json_output is None else json_output
    handler = logging.StreamHandler(stream)
    handler.addFilter(OutageFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        JsonFormatter()
        if use_json
        else logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # FastStream logs through "wirewatch.broker" (see broker.make_broker) and uvicorn through its
    # own loggers; both propagate to this handler, so they are redacted and JSON like ours.
    # HTTP client libraries log request lines (`POST /hook/<token> HTTP/1.1`) at DEBUG: a bare
    # path is no URL for the filter to redact, so they stay at WARNING even when debugging.
    noisy_loggers = ("httpx", "httpcore", "urllib3", "requests", "apprise", "uvicorn")
    for noisy in (*noisy_loggers, "wirewatch.broker"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def _event_name(message: str) -> str | None:
    """`feed.fetched feed=x status=304` -> `feed.fetched`, for log queries; None for prose."""
    head = message.split(" ", 1)[0]
    parts = head.split(".")
    if len(parts) >= 2 and all(p and p.replace("_", "").isalnum() for p in parts):
        return head if head == head.lower() else None
    return None
