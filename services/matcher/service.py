"""The matcher service: each article from `wirewatch:articles` against every live rule.

One `Match` per (article, set of matched rules) is appended to `wirewatch:matches`; the entry is
acked only after that append, so a crash in between replays the article (the notifier dedupes).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from pydantic import ValidationError

from services.common.deadletter import dead_letter
from services.common.keys import Keys
from services.common.metrics import ARTICLES_MATCHED, MATCHES, RULES_LOADED
from services.common.models import Article, Match
from services.matcher.rules import CompiledRule, RuleSet, document_for

log = logging.getLogger(__name__)


class MatcherService:
    """Holds the live rule set (swapped whole on reload) and handles article batches."""

    def __init__(
        self, client: aioredis.Redis, keys: Keys, rules: RuleSet | Sequence[CompiledRule]
    ) -> None:
        self._client = client
        self._keys = keys
        self.rule_set = rules if isinstance(rules, RuleSet) else RuleSet(rules)
        RULES_LOADED.set(len(self.rule_set))
        self.articles_seen = 0
        self.matches_published = 0

    @property
    def rules(self) -> tuple[CompiledRule, ...]:
        """The live rules, in config order."""
        return self.rule_set.rules

    def swap_rules(self, rules: RuleSet | Sequence[CompiledRule]) -> None:
        """Replace the live rules in one assignment: a batch keeps the set it started with.

        Pass a `RuleSet` built beforehand (off the event loop for big sets): indexing 100,000
        rules takes seconds.
        """
        self.rule_set = rules if isinstance(rules, RuleSet) else RuleSet(rules)
        RULES_LOADED.set(len(self.rule_set))

    async def handle_batch(self, payloads: list[Any]) -> None:
        """Match a batch; malformed payloads are dead-lettered instead of blocking the group."""
        rule_set = self.rule_set
        now = datetime.now(UTC)
        matches: list[Match] = []
        for payload in payloads:
            try:
                article = Article.model_validate(payload)
            except ValidationError as exc:
                await dead_letter(
                    self._client, self._keys, source="articles", payload=payload, reason=str(exc)
                )
                continue
            self.articles_seen += 1
            ARTICLES_MATCHED.inc()
            matched = rule_set.match(document_for(article))
            if matched:
                matches.append(Match(article=article, rules=matched, matched_at=now))
        if matches:
            async with self._client.pipeline(transaction=False) as pipe:
                for match in matches:
                    pipe.xadd(self._keys.matches, {"__data__": match.model_dump_json()})
                await pipe.execute()
            self.matches_published += len(matches)
            for match in matches:
                for rule_id in match.rules:
                    MATCHES.labels(rule=rule_id).inc()
                log.info(
                    "article.matched feed=%s rules=%s title=%s",
                    match.article.feed,
                    ",".join(match.rules),
                    match.article.title[:80],
                )
