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

    def feed_lock(self, feed_id: str) -> str:
        """Short-lived lock so two poller replicas never fetch the same feed at once."""
        return f"{self.prefix}:feedlock:{feed_id}"

    def pending(self, subscription_id: str) -> str:
        """Hash article id -> filed item JSON: what waits for the next digest."""
        return f"{self.prefix}:pending:{subscription_id}"

    def pending_articles(self) -> str:
        """Hash article id -> article JSON, one copy for every subscription it is pending for."""
        return f"{self.prefix}:pending-articles"

    def pending_refs(self) -> str:
        """Hash article id -> how many subscriptions still have it pending."""
        return f"{self.prefix}:pending-refs"

    def pending_since(self) -> str:
        """Hash subscription id -> epoch seconds of the oldest undelivered item."""
        return f"{self.prefix}:pending-since"

    def sent(self, subscription_id: str, target: int) -> str:
        """Sent-ledger of one target: sorted set article id -> when the target accepted it."""
        return f"{self.prefix}:sent:{subscription_id}#{target}"

    def next_due(self) -> str:
        """Hash subscription id -> ISO time its scheduled digest is next due."""
        return f"{self.prefix}:next-due"

    def target_state(self, subscription_id: str, target: int) -> str:
        """Hash: retry backoff of one delivery target."""
        return f"{self.prefix}:target:{subscription_id}#{target}"

    def target_retries(self) -> str:
        """Sorted set `SUBSCRIPTION#TARGET` -> epoch seconds when a failed target is retried."""
        return f"{self.prefix}:target-retries"

    def delivered_stories(self, subscription_id: str, target: int) -> str:
        """Sorted set of stories a target received (by delivery time), kept for 48 h."""
        return f"{self.prefix}:stories:{subscription_id}#{target}"

    def send_lock(self, subscription_id: str) -> str:
        """Short-lived lock: one replica at a time sends a subscription's digests."""
        return f"{self.prefix}:sendlock:{subscription_id}"

    def feeds_due(self) -> str:
        """Sorted set server -> epoch ms its earliest feed is due: pollers visit only these."""
        return f"{self.prefix}:feeds-due"

    def server_due(self, host: str) -> str:
        """Sorted set feed id -> epoch ms it is next due, for the feeds of one server."""
        return f"{self.prefix}:feeds-due:{host}"

    def feed_hosts(self) -> str:
        """Hash feed id -> the server (`host:port`) it is fetched from, for per-host politeness."""
        return f"{self.prefix}:feed-hosts"

    def host_lock(self, host: str) -> str:
        """Short-lived lock: one request at a time per server, across all poller replicas."""
        return f"{self.prefix}:hostlock:{host}"

    def host_wait(self, host: str) -> str:
        """Present while a server's Retry-After runs: none of its feeds is fetched until then."""
        return f"{self.prefix}:hostwait:{host}"

    def feed_status(self, feed_id: str) -> str:
        """String (JSON): one feed's poll state — validators, body hash, schedule and health.

        One value instead of a hash of fields: pollers read and write it on every poll, and
        one string is far cheaper to move than a dozen fields.
        """
        return f"{self.prefix}:feedstatus:{feed_id}"

    def failures(self, source: str) -> str:
        """Hash stream entry id -> the last error its handler raised (for the dead-letter reason)."""
        return f"{self.prefix}:failures:{source}"
