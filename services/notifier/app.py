"""The notifier service wired onto the broker, plus the loop that sends digests when due.

The loop wakes when this replica files an item (so an `immediate` digest with no coalescing
window leaves within milliseconds), at the earliest known due time, and at least every
`TICK_SECONDS` (so items filed by another replica, and due times it set, are seen promptly).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from services.common.config import Config
from services.common.runtime import Runtime
from services.matcher.query import Query, QueryError, parse_query
from services.notifier.pipeline import Notifier
from services.notifier.subscriptions import resolve_subscriptions

log = logging.getLogger(__name__)
TICK_SECONDS = 0.5
MIN_PAUSE = 0.05
MAX_ERROR_PAUSE = 5.0
"""Shortest pause between passes, so a digest another replica is sending causes no busy loop."""


def rule_queries(config: Config) -> dict[str, Query]:
    """Every rule's parsed query (with the config's defines), for highlighting matched terms."""
    queries: dict[str, Query] = {}
    for rule in config.rules:
        parsed = parse_query(rule.query, config.defines)
        if not isinstance(parsed, QueryError):
            queries[rule.id] = parsed
    return queries


def build_notifier(runtime: Runtime, config: Config) -> Notifier:
    """The notifier for this config, not subscribed to anything (also used by `preview`)."""
    subs, _ = resolve_subscriptions(config)
    return Notifier(
        runtime.client,
        runtime.keys,
        subs,
        {r.id: r.title for r in config.rules},
        immediate_window=runtime.settings.immediate_window,
        ledger_retention=runtime.settings.ledger_retention_days * 86400,
        rule_queries=rule_queries(config),
    )


def create_notifier(runtime: Runtime, config: Config) -> Notifier:
    """Resolve subscriptions and subscribe to `wirewatch:matches`."""
    notifier = build_notifier(runtime, config)
    runtime.consume(
        stream=runtime.keys.matches,
        group=runtime.keys.notifier_group,
        service="notifier",
        source="matches",
        handle_batch=notifier.handle_batch,
    )
    return notifier


async def run_digests(notifier: Notifier, stop: asyncio.Event) -> None:
    """Send due digests until stopped.

    A failing pass (Redis unreachable, most likely) is logged once, not on every pass, and
    retried with a growing pause (up to `MAX_ERROR_PAUSE`); recovery is logged too.
    """
    failures = 0
    while not stop.is_set():
        notifier.filed.clear()  # an item filed from here on wakes the next pass
        try:
            await notifier.send_due(datetime.now(UTC))
        except Exception as exc:
            failures += 1
            if failures == 1:
                log.exception("digest.pass_failed error=%s", type(exc).__name__)
            await _sleep(notifier, stop, min(TICK_SECONDS * 2**failures, MAX_ERROR_PAUSE))
            continue
        if failures:
            log.info("digest.pass_recovered failed_passes=%d", failures)
            failures = 0
        await _sleep(notifier, stop, _seconds_until(notifier.next_wake))


def _seconds_until(moment: datetime | None) -> float:
    if moment is None:
        return TICK_SECONDS
    left = (moment - datetime.now(UTC)).total_seconds()
    return min(max(left, MIN_PAUSE), TICK_SECONDS)


async def _sleep(notifier: Notifier, stop: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less when the service stops or this replica files an item."""
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(notifier.filed.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
