"""The notifier's stages (STYLE "Delivery as stages"):

    file:  match -> the pending digest of every subscription that wants one of its rules
    send:  per due subscription (one replica at a time, under a lock), per target in parallel:
           collect -> dedup against the sent-ledger (articles, and stories already delivered)
           -> assemble -> render -> send each message -> record the ledger after each accept

A target that fails keeps its items pending and is retried with backoff while the other
targets proceed; a split chat digest whose part 2 fails has part 1 recorded, so the retry
sends only the rest. Items leave the pending digest once every target has them. The one
window in which a message can be delivered twice (the target accepted it, the ledger write
had not happened yet) is described in `ledger.py` and `docs/guarantees.md` ("Delivery").

Due-ness: `immediate` digests are due `immediate_window` seconds after the first item of a
burst; scheduled ones at their due time (the first occurrence after the subscription was first
seen, then anchored on the previous due time); failed targets at their retry time.
`send_due(force_immediate=True)` (`run --once`) sends every immediate digest and retries every
failed target whatever its backoff; `flush=True` makes every pending digest due.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from pydantic import ValidationError

from services.common.deadletter import dead_letter
from services.common.keys import Keys
from services.common.metrics import DELIVERY_SECONDS, DIGESTS_FAILED, DIGESTS_SENT, ITEMS_FILED
from services.common.models import Match
from services.matcher.query import Query
from services.notifier.backoff import TargetBackoff
from services.notifier.deliver import (
    Message,
    guard_apprise_logs,
    plan_messages,
    send_message,
    target_label,
)
from services.notifier.digest import Digest, PendingItem, assemble_digest
from services.notifier.due import DueTimes
from services.notifier.highlight import matched_terms
from services.notifier.ledger import SentLedger
from services.notifier.lock import TTL, SendLocks
from services.notifier.pending import PendingDigests
from services.notifier.schedule import following_due, next_due
from services.notifier.stories import StoryIndex, trace_of
from services.notifier.subscriptions import Subscription

__all__ = ["Notifier", "TargetOutcome", "TargetPlan"]

log = logging.getLogger(__name__)

SEND_CONCURRENCY = 32
"""Subscriptions sent at once by one replica (targets of one subscription always in parallel)."""

TERMS_CACHE = 4096
"""Matched terms kept per (article, rules): an article is often in many subscriptions' digests.
~430 B an entry, so ~1.7 MB at the cap. Reuse happens within a send pass (the benchmark's pass
over 1,000 subscriptions and 88,000 pending items needs 665 entries), so more buys nothing."""

LOCK_WAIT_FORCED = TTL + 5
"""`run --once` waits out a send lock left behind by a process that died."""


@dataclass(frozen=True)
class TargetOutcome:
    """One delivery attempt to one target (named SUBSCRIPTION#N, never by URL)."""

    target: str
    ok: bool
    items: int  # articles the target accepted in this attempt (all parts that went through)
    error: str = ""


@dataclass(frozen=True)
class TargetPlan:
    """What one target would get now: for `preview`, and the first stages of a send."""

    index: int
    name: str
    todo: tuple[PendingItem, ...]
    late: tuple[PendingItem, ...]  # stories already delivered: recorded, not sent
    digest: Digest | None
    highlight: Mapping[str, tuple[str, ...]]
    retry_at: float | None  # epoch seconds, when the target is backing off


@dataclass(frozen=True)
class _Round:
    """What one `send_due` pass does for one subscription."""

    sub: Subscription
    targets: tuple[int, ...]
    full: bool  # every target is tried (a digest is due), not only failed ones
    fired: datetime | None = None  # the scheduled due time this round sends


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
        rule_queries: Mapping[str, Query] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._keys = keys
        self.subscriptions = tuple(subscriptions)
        self.rule_titles = dict(rule_titles)
        self.rule_queries = dict(rule_queries or {})
        self._window = immediate_window
        self._clock = clock  # when a match is filed; injectable so tests control time
        self.pending = PendingDigests(client, keys)
        self.ledger = SentLedger(client, keys, int(ledger_retention))
        self.backoff = TargetBackoff(client, keys)
        self.due_times = DueTimes(client, keys)
        self.locks = SendLocks(client, keys)
        self.filed = asyncio.Event()  # set when this replica files an item: wakes the digest loop
        self.next_wake: datetime | None = None  # earliest known due time after the last pass
        guard_apprise_logs(url for sub in self.subscriptions for url in sub.config.notify)
        self._by_rule: dict[str, list[Subscription]] = {}
        self._terms: OrderedDict[tuple[str, tuple[str, ...]], tuple[str, ...]] = OrderedDict()
        for sub in self.subscriptions:
            for rule in sub.rule_ids:
                self._by_rule.setdefault(rule, []).append(sub)

    def subscription(self, sub_id: str) -> Subscription | None:
        return next((s for s in self.subscriptions if s.id == sub_id), None)

    # -----------------------------------------------------------------------------------------
    # file

    async def handle_batch(self, payloads: list[Any]) -> None:
        """File every match into each subscription that wants one of its rules (one transaction)."""
        now = self._clock()
        entries: list[tuple[str, PendingItem]] = []
        for payload in payloads:
            try:
                match = Match.model_validate(payload)
            except ValidationError as exc:
                await dead_letter(
                    self._client, self._keys, source="matches", payload=payload, reason=str(exc)
                )
                continue
            candidates = {s.id: s for r in match.rules for s in self._by_rule.get(r, ())}
            for sub in candidates.values():
                wanted = sub.wanted(match.rules)
                if wanted and sub.config.notify:
                    entries.append((sub.id, PendingItem(match.article, wanted, now)))
        if entries:
            await self.pending.file(entries, now)
            for sub_id, _ in entries:
                ITEMS_FILED.labels(subscription=sub_id).inc()
            self.filed.set()

    # -----------------------------------------------------------------------------------------
    # send

    async def send_due(
        self, now: datetime, *, force_immediate: bool = False, flush: bool = False
    ) -> list[TargetOutcome]:
        """Send every digest that is due now; `--once` forces immediate ones, `--flush` all."""
        rounds = await self._plan(now, force=force_immediate, flush=flush)
        gate = asyncio.Semaphore(SEND_CONCURRENCY)

        async def run(r: _Round) -> list[TargetOutcome]:
            async with gate:
                try:
                    return await self._run_round(r, now, forced=force_immediate or flush)
                except Exception as exc:  # one subscription's trouble must not stop the others
                    log.exception("digest.round_failed subscription=%s", r.sub.id)
                    error = f"internal error ({type(exc).__name__}), see the log"
                    return [TargetOutcome(r.sub.id, False, 0, error)]

        results = await asyncio.gather(*(run(r) for r in rounds))
        return [outcome for outcomes in results for outcome in outcomes]

    async def _plan(self, now: datetime, *, force: bool, flush: bool) -> list[_Round]:
        """Decide, from three reads, which subscriptions and targets this pass sends to."""
        marks = await self.pending.marks()
        dues = await self.due_times.all()
        owed_all = await self.backoff.due(None if force or flush else now)
        wake: list[datetime] = []
        retry = await self.backoff.next_retry()
        if retry is not None:
            wake.append(datetime.fromtimestamp(retry, UTC))
        targets = {sub.id: len(sub.config.notify) for sub in self.subscriptions}
        for sub_id, index in owed_all:  # a target removed from the config: forget its retries
            if index >= targets.get(sub_id, 0):
                await self.backoff.clear(sub_id, index)
        rounds: list[_Round] = []
        for sub in self.subscriptions:
            every = tuple(range(len(sub.config.notify)))
            owed = tuple(i for i in every if (sub.id, i) in owed_all)
            fired: datetime | None = None
            if sub.schedule.is_immediate:
                mark = marks.get(sub.id)
                due = force or flush
                if mark is not None:
                    ready_at = datetime.fromtimestamp(mark + self._window, UTC)
                    due = due or now >= ready_at
                    wake.append(ready_at)
            else:
                stored = dues.get(sub.id)
                spec = str(sub.schedule)
                if stored is None or stored.schedule not in (None, spec):
                    first = next_due(sub.schedule, now)
                    if first is not None:
                        await self.due_times.set(sub.id, spec, first, only_if_new=stored is None)
                        wake.append(first)
                    due = flush
                else:
                    wake.append(stored.due)
                    fired = stored.due if now >= stored.due else None
                    due = flush or fired is not None
            if due:
                rounds.append(_Round(sub, every, full=True, fired=fired))
            elif owed:
                rounds.append(_Round(sub, owed, full=False))
        self.next_wake = min(wake) if wake else None
        return rounds

    async def _run_round(self, r: _Round, now: datetime, *, forced: bool) -> list[TargetOutcome]:
        async with self.locks.hold(r.sub.id, wait=LOCK_WAIT_FORCED if forced else 0) as held:
            if not held:  # another replica is sending this subscription right now
                return []
            if r.fired is not None:
                stored = await self.due_times.get(r.sub.id)
                if stored is None or stored.due != r.fired:  # another replica sent it meanwhile
                    return []
            outcomes = await self._send(r.sub, r.targets, now, full=r.full, ignore_backoff=forced)
            if r.fired is not None:
                following = following_due(r.sub.schedule, r.fired, now)
                if following is not None:
                    await self.due_times.set(r.sub.id, str(r.sub.schedule), following)
            return outcomes

    async def _send(
        self,
        sub: Subscription,
        targets: Sequence[int],
        now: datetime,
        *,
        full: bool,
        ignore_backoff: bool,
    ) -> list[TargetOutcome]:
        items = await self.pending.items(sub.id)
        attempted = {i.article.id for i in items}
        outcomes: list[TargetOutcome] = []
        if items:
            results = await asyncio.gather(
                *(self._deliver(sub, t, items, now, ignore_backoff) for t in targets)
            )
            outcomes = [o for o in results if o is not None]
        done = await self.ledger.delivered_everywhere(
            sub.id, len(sub.config.notify), sorted(attempted)
        )
        await self.pending.settle(sub.id, attempted, done, move_mark=full)
        return outcomes

    async def plan_target(
        self,
        sub: Subscription,
        index: int,
        items: Sequence[PendingItem],
        now: datetime,
    ) -> TargetPlan:
        """Collect, dedup and assemble for one target, reading state only (also `preview`)."""
        ids = [i.article.id for i in items]
        delivered = await self.ledger.delivered(sub.id, index, ids)
        todo = [i for i in items if i.article.id not in delivered]
        late: list[PendingItem] = []
        if todo:
            traces = await self.ledger.recent_stories(sub.id, index, now)
            if traces:
                known = StoryIndex(traces)
                late = [i for i in todo if known.find(i.article) is not None]
                todo = [i for i in todo if i not in late]
        digest = (
            assemble_digest(
                todo,
                subscription=sub.id,
                rule_order=sub.rule_ids,
                rule_titles=self.rule_titles,
                max_items=sub.config.max_items,
                zone=sub.schedule.zone,
            )
            if todo
            else None
        )
        return TargetPlan(
            index=index,
            name=sub.config.target_name(index),
            todo=tuple(todo),
            late=tuple(late),
            digest=digest,
            highlight=self._highlight(digest, todo),
            retry_at=await self.backoff.retry_at(sub.id, index),
        )

    def _highlight(
        self, digest: Digest | None, todo: Sequence[PendingItem]
    ) -> dict[str, tuple[str, ...]]:
        """Matched terms of each shown lead article, from the rules it matched."""
        if digest is None:
            return {}
        rules = {i.article.id: i.rules for i in todo}
        out: dict[str, tuple[str, ...]] = {}
        for item in digest.items:
            lead = item.story.lead
            key = (lead.id, rules.get(lead.id, ()))
            terms = self._terms.get(key)
            if terms is None:
                terms = matched_terms(lead, key[1], self.rule_queries)
                self._terms[key] = terms
                if len(self._terms) > TERMS_CACHE:
                    self._terms.popitem(last=False)
            out[lead.id] = terms
        return out

    async def _deliver(
        self,
        sub: Subscription,
        index: int,
        items: Sequence[PendingItem],
        now: datetime,
        ignore_backoff: bool,
    ) -> TargetOutcome | None:
        """One target: skip while backing off, record late articles, send, record, back off."""
        retry_at = await self.backoff.retry_at(sub.id, index)
        if retry_at is not None and not ignore_backoff and retry_at > now.timestamp():
            return None
        plan = await self.plan_target(sub, index, items, now)
        if plan.late:
            await self.ledger.record(sub.id, index, [i.article.id for i in plan.late], now)
            log.info("digest.late_articles target=%s articles=%d", plan.name, len(plan.late))
        if plan.digest is None:
            if retry_at is not None:
                await self.backoff.clear(sub.id, index)
            return None
        url = sub.config.notify[index]
        messages = plan_messages(url, plan.digest, highlight=plan.highlight)
        if messages is None:
            return await self._failed(sub, index, now, 0, "Apprise cannot use this URL")
        accepted: set[str] = set()
        for message in messages:
            reason = await self._send_one(sub, index, message, now)
            if reason is not None:
                return await self._failed(sub, index, now, len(accepted), reason)
            accepted |= message.article_ids
        DIGESTS_SENT.labels(target_type=target_label(url)).inc()
        if retry_at is not None:
            await self.backoff.clear(sub.id, index)
        log.info(
            "digest.sent target=%s scheme=%s stories=%d articles=%d parts=%d",
            plan.name,
            target_label(url),
            plan.digest.story_count,
            len(accepted),
            len(messages),
        )
        return TargetOutcome(plan.name, True, len(accepted))

    async def _send_one(
        self, sub: Subscription, index: int, message: Message, now: datetime
    ) -> str | None:
        """Send one message and record it right after it is accepted; the failure reason or None."""
        url = sub.config.notify[index]
        started = time.monotonic()
        result = await send_message(url, message)
        DELIVERY_SECONDS.labels(target_type=target_label(url)).observe(time.monotonic() - started)
        if not result.ok:
            return result.reason
        await self.ledger.record(
            sub.id, index, message.article_ids, now, [trace_of(s) for s in message.stories]
        )
        return None

    async def _failed(
        self, sub: Subscription, index: int, now: datetime, accepted: int, reason: str
    ) -> TargetOutcome:
        url = sub.config.notify[index]
        name = sub.config.target_name(index)
        DIGESTS_FAILED.labels(target_type=target_label(url)).inc()
        delay = await self.backoff.failed(sub.id, index, now)
        log.warning(
            "digest.failed target=%s scheme=%s accepted_articles=%d retry_in=%s reason=%s",
            name,
            target_label(url),
            accepted,
            timedelta(seconds=round(delay)),
            reason,
        )
        error = f"{url.redacted()}: {reason}"
        return TargetOutcome(name, False, accepted, error)
