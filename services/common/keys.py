"""Every Redis key, stream and consumer group name wirewatch uses, in one place.

All keys live under `wirewatch:` so a shared Redis database stays tidy and a test can use a
private prefix. Nothing else in the code spells a key.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    """Key names under one prefix (`wirewatch` in production, a unique one per test)."""

    prefix: str = "wirewatch"

    @property
    def articles(self) -> str:
        return f"{self.prefix}:articles"

    @property
    def matches(self) -> str:
        return f"{self.prefix}:matches"

    @property
    def dead_letters(self) -> str:
        return f"{self.prefix}:dead"

    matcher_group: str = "matcher"
    notifier_group: str = "notifier"

    def seen(self, article_id: str) -> str:
        """Marks an article id as published (expires after the retention window)."""
        return f"{self.prefix}:seen:{article_id}"

    def feed_state(self, feed_id: str) -> str:
        """Hash: conditional-GET validators, body hash and health of one feed."""
        return f"{self.prefix}:feed:{feed_id}"

    def feed_lock(self, feed_id: str) -> str:
        """Short-lived lock so two poller replicas never fetch the same feed at once."""
        return f"{self.prefix}:feedlock:{feed_id}"

    def pending(self, subscription_id: str) -> str:
        """Hash article id -> filed item JSON: what waits for the next digest."""
        return f"{self.prefix}:pending:{subscription_id}"

    def pending_since(self) -> str:
        """Hash subscription id -> epoch seconds of the oldest undelivered item."""
        return f"{self.prefix}:pending-since"

    def sent(self, subscription_id: str, target: int, article_id: str) -> str:
        """Sent-ledger entry: this article reached this target (expires after the retention)."""
        return f"{self.prefix}:sent:{subscription_id}#{target}:{article_id}"

    def next_due(self) -> str:
        """Hash subscription id -> ISO time its scheduled digest is next due."""
        return f"{self.prefix}:next-due"

    def target_state(self, subscription_id: str, target: int) -> str:
        """Hash: retry backoff of one delivery target."""
        return f"{self.prefix}:target:{subscription_id}#{target}"
