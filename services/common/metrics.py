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


# process (refreshed by the health server at each scrape)
REDIS_UP = Gauge(
    "wirewatch_redis_up",
    "1 when Redis answered the last scrape's stream queries, else 0",
    registry=REGISTRY,
)
STREAM_TRIMMED = Counter(
    "wirewatch_stream_trimmed",
    "Entries trimmed from a stream (only ones every group has read, past the retention floor)",
    ["stream"],
    registry=REGISTRY,
)


# poller (appended with the scheduler)
FEEDS_PARSED = Counter(
    "wirewatch_feeds_parsed",
    "Changed bodies parsed with feedparser (304s and unchanged bodies are not)",
    registry=REGISTRY,
)
POLL_SECONDS = Histogram(
    "wirewatch_poll_seconds",
    "Time to poll one feed (fetch, parse, publish), by outcome",
    ["outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    registry=REGISTRY,
)
SERVERS_DUE = Gauge(
    "wirewatch_servers_due",
    "Servers with a feed due for polling that no poller has taken yet (the backlog)",
    registry=REGISTRY,
)
