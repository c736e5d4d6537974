"""The matcher service wired onto the broker: reader + reclaimer on the `matcher` group."""

from __future__ import annotations

from services.common.config import Config
from services.common.runtime import Runtime
from services.matcher.rules import compile_rules
from services.matcher.service import MatcherService


def create_matcher(runtime: Runtime, config: Config) -> MatcherService:
    """Compile the rules (the config was checked before) and subscribe to `wirewatch:articles`."""
    rules, _ = compile_rules(config)
    service = MatcherService(runtime.client, runtime.keys, rules)
    runtime.consume(
        stream=runtime.keys.articles,
        group=runtime.keys.matcher_group,
        service="matcher",
        source="articles",
        handle_batch=service.handle_batch,
    )
    return service
