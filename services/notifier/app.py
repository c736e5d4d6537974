"""The notifier service wired onto the broker, plus the loop that sends digests when due."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from services.common.broker import consumer_name, subscribe_group
from services.common.config import Config
from services.common.runtime import Runtime, pause
from services.notifier.pipeline import Notifier
from services.notifier.subscriptions import resolve_subscriptions

log = logging.getLogger(__name__)
TICK_SECONDS = 0.5


def create_notifier(runtime: Runtime, config: Config) -> Notifier:
    """Resolve subscriptions and subscribe to `wirewatch:matches`."""
    subs, _ = resolve_subscriptions(config)
    notifier = Notifier(
        runtime.client,
        runtime.keys,
        subs,
        {r.id: r.title for r in config.rules},
        immediate_window=runtime.settings.immediate_window,
        ledger_retention=runtime.settings.ledger_retention_days * 86400,
    )
    subscribe_group(
        runtime.broker,
        stream=runtime.keys.matches,
        group=runtime.keys.notifier_group,
        consumer=consumer_name("notifier"),
        claim_idle_seconds=runtime.settings.claim_idle,
        handle_batch=notifier.handle_batch,
    )
    return notifier


async def run_digests(notifier: Notifier, stop: asyncio.Event) -> None:
    """Send due digests every tick until stopped; a failing tick is logged and retried."""
    while not stop.is_set():
        try:
            await notifier.send_due(datetime.now(UTC))
        except Exception:
            log.exception("digest.tick_failed")
        await pause(stop, TICK_SECONDS)
