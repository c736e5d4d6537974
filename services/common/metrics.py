"""Every Prometheus metric wirewatch exposes on `/metrics`, defined once in one registry.

Services increment these; the health server renders the registry. Labels never carry secrets:
delivery targets are labelled by Apprise scheme (`target_type`), never by URL.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

# poller
POLLS = Counter(
    "wirewatch_polls",
    "Feed polls by outcome (ok, not_modified, error)",
    ["feed", "outcome"],
    registry=REGISTRY,
)
POLL_BYTES = Counter(
    "wirewatch_poll_bytes", "Body bytes read from feeds", ["feed"], registry=REGISTRY
)
PARSE_ERRORS = Counter(
    "wirewatch_parse_errors", "Bodies that did not parse as a feed", ["feed"], registry=REGISTRY
)
ARTICLES_POLLED = Counter(
    "wirewatch_articles_polled", "Entries read from feeds", ["feed"], registry=REGISTRY
)
ARTICLES_NEW = Counter(
    "wirewatch_articles_new", "Articles published (not seen before)", ["feed"], registry=REGISTRY
)

# matcher
ARTICLES_MATCHED = Counter(
    "wirewatch_articles_evaluated", "Articles evaluated against the rules", registry=REGISTRY
)
MATCHES = Counter("wirewatch_matches", "Matches published, per rule", ["rule"], registry=REGISTRY)
RULES_LOADED = Gauge("wirewatch_rules_loaded", "Rules currently live", registry=REGISTRY)
CONFIG_RELOAD_ERRORS = Counter(
    "wirewatch_config_reload_errors",
    "Rule reloads rejected (last good rules kept)",
    registry=REGISTRY,
)

# notifier
ITEMS_FILED = Counter(
    "wirewatch_items_filed",
    "Matches filed into pending digests",
    ["subscription"],
    registry=REGISTRY,
)
DIGESTS_SENT = Counter(
    "wirewatch_digests_sent", "Digests accepted by a target", ["target_type"], registry=REGISTRY
)
DIGESTS_FAILED = Counter(
    "wirewatch_digests_failed", "Digest deliveries that failed", ["target_type"], registry=REGISTRY
)
DELIVERY_SECONDS = Histogram(
    "wirewatch_delivery_seconds",
    "Time to hand one digest to a target",
    ["target_type"],
    registry=REGISTRY,
)

# streams (refreshed from Redis by the health server before each scrape)
STREAM_LAG = Gauge(
    "wirewatch_stream_lag",
    "Entries not yet delivered to the group",
    ["stream", "group"],
    registry=REGISTRY,
)
STREAM_PENDING = Gauge(
    "wirewatch_stream_pending",
    "Entries delivered but not acked",
    ["stream", "group"],
    registry=REGISTRY,
)
STREAM_LENGTH = Gauge(
    "wirewatch_stream_length", "Entries in the stream", ["stream"], registry=REGISTRY
)
DEAD_LETTERS = Counter(
    "wirewatch_dead_letters",
    "Messages parked in the dead-letter stream",
    ["source"],
    registry=REGISTRY,
)


def target_type(url_scheme: str) -> str:
    """The label for a target: its Apprise scheme only (`mailto`, `slack`, `json`, ...)."""
    return url_scheme.lower().rstrip(":/") or "unknown"
