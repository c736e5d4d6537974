"""The notifier's stages: file matches into pending digests; when due, per target:
collect -> dedup against the sent-ledger -> assemble -> send -> record the ledger.

A failed target keeps its items pending (with backoff) while the other targets proceed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from pydantic import ValidationError

from services.common.deadletter import dead_letter
from services.common.keys import Keys
from services.common.models import Match
from services.notifier.deliver import deliver
from services.notifier.digest import PendingItem, assemble_digest
from services.notifier.ledger import PendingDigests, SentLedger
from services.notifier.schedule import next_due
from services.notifier.subscriptions import Subscription

log = logging.getLogger(__name__)
MAX_TARGET_BACKOFF = 3600.0


@dataclass(frozen=True)
class TargetOutcome:
    """One delivery attempt to one target (named SUBSCRIPTION#N, never by URL)."""

    target: str
    ok: bool
    items: int
    error: str = ""


class Notifier:
    """Files matches and sends due digests; all state in Redis, so any replica may do either."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        subscriptions: Sequence[Subscription],
        rule_titles: Mapping[str, str],
        *,
        immediate_window: float,
        ledger_retention: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._keys = keys
        self.subscriptions = tuple(subscriptions)
        self.rule_titles = dict(rule_titles)
        self._window = immediate_window
        self._clock = clock  # when a match is filed; injectable so tests control time
        self.pending = PendingDigests(client, keys)
        self.ledger = SentLedger(client, keys, int(ledger_retention))

    async def handle_batch(self, payloads: list[Any]) -> None:
        """File every match into each subscription that wants one of its rules."""
        now = self._clock()
        for payload in payloads:
            try:
                match = Match.model_validate(payload)
            except ValidationError as exc:
                await dead_letter(
                    self._client, self._keys, source="matches", payload=payload, reason=str(exc)
                )
                continue
            for sub in self.subscriptions:
                wanted = sub.wanted(match.rules)
                if wanted:
                    await self.pending.file(sub.id, PendingItem(match.article, wanted), now)

    async def send_due(
        self, now: datetime, *, force_immediate: bool = False, flush: bool = False
    ) -> list[TargetOutcome]:
        """Send every digest that is due now; `--once` forces immediate ones, `--flush` all."""
        outcomes: list[TargetOutcome] = []
        for sub in self.subscriptions:
            if await self._is_due(sub, now, force_immediate=force_immediate, flush=flush):
                outcomes.extend(await self._send(sub, now, ignore_backoff=force_immediate or flush))
        return outcomes

    async def _is_due(
        self, sub: Subscription, now: datetime, *, force_immediate: bool, flush: bool
    ) -> bool:
        oldest = await self.pending.oldest(sub.id)
        if sub.schedule.is_immediate:
            return oldest is not None and (
                force_immediate or flush or now.timestamp() - oldest >= self._window
            )
        raw = await self._client.hget(self._keys.next_due(), sub.id)
        if raw is None:  # first seen: the first due time is the first occurrence after now
            first = next_due(sub.schedule, now)
            if first is not None:
                await self._client.hset(self._keys.next_due(), sub.id, first.isoformat())
            return oldest is not None and flush
        due = datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else raw)
        if now >= due:
            following = next_due(sub.schedule, now)
            if following is not None:
                await self._client.hset(self._keys.next_due(), sub.id, following.isoformat())
            return oldest is not None
        return oldest is not None and flush

    async def _send(
        self, sub: Subscription, now: datetime, *, ignore_backoff: bool
    ) -> list[TargetOutcome]:
        items = await self.pending.items(sub.id)
        ids = [i.article.id for i in items]
        outcomes: list[TargetOutcome] = []
        done_everywhere = set(ids)
        for index, url in enumerate(sub.config.notify):
            name = sub.config.target_name(index)
            delivered = await self.ledger.delivered(sub.id, index, ids)
            todo = [i for i in items if i.article.id not in delivered]
            if not todo:
                continue
            if not ignore_backoff and not await self._target_ready(sub.id, index, now):
                done_everywhere -= {i.article.id for i in todo}
                continue
            digest = assemble_digest(
                todo,
                subscription=sub.id,
                rule_order=sub.rule_ids,
                rule_titles=self.rule_titles,
                max_items=sub.config.max_items,
                zone=sub.schedule.zone,
            )
            if digest is None:
                continue
            result = await deliver(url, digest, target_name=name)
            if result.ok:
                await self.ledger.record(sub.id, index, digest.article_ids, now)
                await self._client.delete(self._keys.target_state(sub.id, index))
                log.info(
                    "digest.sent target=%s items=%d parts=%d",
                    name,
                    len(digest.article_ids),
                    result.parts,
                )
                done_everywhere -= {i.article.id for i in todo} - digest.article_ids
            else:
                await self._record_failure(sub.id, index, now)
                log.warning(
                    "digest.failed target=%s items=%d reason=%s", name, len(todo), result.error
                )
                done_everywhere -= {i.article.id for i in todo}
            outcomes.append(TargetOutcome(name, result.ok, len(digest.article_ids), result.error))
        await self.pending.remove(sub.id, done_everywhere)
        return outcomes

    async def _target_ready(self, sub_id: str, index: int, now: datetime) -> bool:
        raw = await self._client.hget(self._keys.target_state(sub_id, index), "retry_at")
        return raw is None or float(raw) <= now.timestamp()

    async def _record_failure(self, sub_id: str, index: int, now: datetime) -> None:
        key = self._keys.target_state(sub_id, index)
        failures = int(await self._client.hincrby(key, "failures", 1))
        delay = min(5.0 * 2 ** min(failures - 1, 20), MAX_TARGET_BACKOFF)
        await self._client.hset(key, "retry_at", str((now + timedelta(seconds=delay)).timestamp()))
