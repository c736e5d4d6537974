"""The matcher service wired onto the broker: reader + reclaimer on the `matcher` group."""

from __future__ import annotations

from services.common.broker import PoisonPolicy, consumer_name, subscribe_group
from services.common.config import Config
from services.common.runtime import Runtime
from services.matcher.rules import compile_rules
from services.matcher.service import MatcherService


def create_matcher(runtime: Runtime, config: Config) -> MatcherService:
    """Compile the rules (the config was checked before) and subscribe to `wirewatch:articles`."""
    rules, _ = compile_rules(config)
    service = MatcherService(runtime.client, runtime.keys, rules)
    subscribe_group(
        runtime.broker,
        stream=runtime.keys.articles,
        group=runtime.keys.matcher_group,
        consumer=consumer_name("matcher"),
        claim_idle_seconds=runtime.settings.claim_idle,
        handle_batch=service.handle_batch,
        poison=PoisonPolicy(
            runtime.client, runtime.keys, "articles", runtime.settings.max_deliveries
        ),
    )
    return service
