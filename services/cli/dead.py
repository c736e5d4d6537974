"""`wirewatch dead`: the messages parked in the dead-letter stream, and why.

A message lands there when it cannot be processed (malformed, or failing every retry), so the
pipeline goes on; this command is how an operator sees them.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from services.cli.common import EXIT_OK, add_command
from services.common import event_loop
from services.common.redis import as_text
from services.common.runtime import Runtime
from services.common.settings import Settings


def register(sub: Any) -> None:
    parser = add_command(sub, "dead", "show messages parked in the dead-letter stream", run_dead)
    parser.add_argument("--json", action="store_true", help="one JSON object per message")
    parser.add_argument("--limit", type=int, default=50, help="newest N (default 50)")


def run_dead(args: argparse.Namespace, settings: Settings) -> int:
    return event_loop.run(_show(settings, as_json=args.json, limit=max(1, args.limit)))


def describe(fields: dict[str, str]) -> str:
    """One line per parked message: when, from which stream, what it was, why it failed."""
    payload = fields.get("payload", "")
    what = ""
    try:
        data = json.loads(payload)
        article = data.get("article", data) if isinstance(data, dict) else {}
        if isinstance(article, dict):
            what = f"{article.get('feed', '?')}: {str(article.get('title', ''))[:60]}"
    except ValueError:
        what = payload[:60]
    reason = " ".join(fields.get("reason", "").split())[:160]
    return f"{fields.get('at', '')[:19]}  {fields.get('source', '?'):8}  {what}  — {reason}"


async def _show(settings: Settings, *, as_json: bool, limit: int) -> int:
    runtime = await Runtime.open(settings)
    try:
        total = await runtime.client.xlen(runtime.keys.dead_letters)
        entries = await runtime.client.xrevrange(runtime.keys.dead_letters, count=limit)
    finally:
        await runtime.close()
    for entry_id, raw in reversed(entries or []):
        fields = {as_text(k): as_text(v) for k, v in (raw or {}).items()}
        if as_json:
            print(json.dumps({"id": as_text(entry_id), **fields}, ensure_ascii=False))
        else:
            print(describe(fields))
    if not as_json:
        print(f"{total} message(s) in the dead-letter stream", flush=True)
    return EXIT_OK
