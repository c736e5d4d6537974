"""Which subscriptions want which rules, resolved once per config load. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.config import Config, SubscriptionConfig
from services.notifier.schedule import Schedule, ScheduleError, parse_schedule


@dataclass(frozen=True)
class Subscription:
    """A subscription with its rule references expanded to ordered rule ids and its schedule parsed."""

    config: SubscriptionConfig
    rule_ids: tuple[str, ...]
    schedule: Schedule

    @property
    def id(self) -> str:
        return self.config.id

    def wanted(self, matched: list[str]) -> tuple[str, ...]:
        """The matched rules this subscription wants, in its own `rules:` order."""
        hit = set(matched)
        return tuple(r for r in self.rule_ids if r in hit)


def resolve_subscriptions(
    config: Config,
) -> tuple[list[Subscription], list[tuple[SubscriptionConfig, ScheduleError]]]:
    """Expand `tag:NAME` references (in order, without repeats) and parse each `digest:`."""
    subs: list[Subscription] = []
    errors: list[tuple[SubscriptionConfig, ScheduleError]] = []
    for sub in config.subscriptions:
        ids: list[str] = []
        for ref in sub.rules:
            if ref.startswith("tag:"):
                candidates = [r.id for r in config.rules if ref[4:] in r.tags]
            else:
                candidates = [ref]
            ids.extend(c for c in candidates if c not in ids)
        schedule = parse_schedule(sub.digest)
        if isinstance(schedule, ScheduleError):
            errors.append((sub, schedule))
            continue
        subs.append(Subscription(sub, tuple(ids), schedule))
    return subs, errors
