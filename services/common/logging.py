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


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["error"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", *, json_output: bool | None = None) -> None:
    """Logs go to stderr (stdout carries command output, e.g. console digests)."""
    stream = sys.stderr
    use_json = not stream.isatty() if json_output is None else json_output
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        JsonFormatter()
        if use_json
        else logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "apprise", "wirewatch.broker"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
