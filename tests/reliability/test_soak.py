"""Bounded memory over an accelerated soak, in every service and in Redis (issue #8).

What "30-minute equivalent" means here: the poller, matcher and notifier run as three separate
processes (so each one's memory is measured on its own) against feeds that publish ~100 new
articles/s, with the seen-set, the sent-ledger and the streams all kept for 20 s. In
`SOAK_SECONDS` that is ~13,000 articles fetched, matched and delivered (as many as 30 minutes
of a busy installation at ~7 articles/s) and more than six full retention windows, so
everything that expires has expired several times over.

After a warm-up (start-up, the first retention window, the notifier's bounded caches filling
to their caps), the run is cut in two halves, and each quantity must have levelled off: the
second half peaks at most a margin above the first half, and its Theil-Sen slope (robust to a
single step or spike) stays under a limit. Quantities: the RSS of each service; and in Redis
the key count, the number of elements (sorted-set members, hash fields, stream entries: a
ledger or digest growing inside one key shows here), the stream entries, and `used_memory`.

How sharp it is: the RSS limit, 3 MiB/min, is a leak of ~0.5 KB per article at this rate. A
matcher keeping 1 KB per article failed it (+6.5 MiB/min), and so did the code before the
fix of the notifier's caches and story memory (notifier +29 MiB/min; Redis elements +6,000/min
and used_memory +1.1 MiB/min, story traces kept 48 h whatever the retention). A healthy run
shows 0-0.9 MiB/min (the allocator settling). `tests/reliability/RESULTS.log` gets one line.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis

from tests.reliability.harness import (
    COUNT_ELEMENTS,
    LINK_RE,
    FeedHTTP,
    GrowingFeeds,
    PrivateRedis,
    Supervisor,
    Trend,
    report,
    service_env,
    write_config,
)
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.reliability

SERVICES = ("poller", "matcher", "notifier")
SOAK_SECONDS = 135.0
WARMUP_SECONDS = 50.0
SAMPLE_SECONDS = 2.0
RETENTION_SECONDS = 20.0
FEEDS, PER_FEED_PER_SECOND = 10, 10  # 100 new articles/s
MIN_DELIVERED = 6000  # the pipeline really carried the load (no stalled service passes)
MIB = 2**20
RSS_MARGIN, RSS_SLOPE = 5 * MIB, 3 * MIB  # slope per minute


@pytest.fixture
def soak_feeds() -> Iterator[GrowingFeeds]:
    growing = GrowingFeeds(
        feeds=FEEDS, per_step=PER_FEED_PER_SECOND, step_seconds=1.0, max_items=10**9, window=80
    )
    http = FeedHTTP(growing)
    yield growing
    http.close()


def _redis_sample(client: redis.Redis) -> dict[str, float]:
    streams = sum(int(client.xlen(s)) for s in ("wirewatch:articles", "wirewatch:matches"))
    return {
        "keys": int(client.dbsize()),
        "elements": int(client.eval(COUNT_ELEMENTS, 0)),
        "streams": streams,
        "used_memory": int(client.info("memory")["used_memory"]),
    }


def test_memory_bounded_over_soak(
    tmp_path: Path, soak_feeds: GrowingFeeds, receiver: WebhookReceiver
) -> None:
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    config = tmp_path / "rules"
    write_config(config, soak_feeds, receiver.url)
    env = service_env(
        server.url,
        config,
        WIREWATCH_SEEN_RETENTION_DAYS=str(RETENTION_SECONDS / 86400),
        WIREWATCH_LEDGER_RETENTION_DAYS=str(RETENTION_SECONDS / 86400),
        WIREWATCH_STREAM_RETENTION_HOURS=str(RETENTION_SECONDS / 3600),
    )
    sups = {name: Supervisor([name], env, tmp_path, name) for name in SERVICES}
    for sup in sups.values():
        sup.start()
    client = redis.Redis.from_url(server.url)
    series: dict[str, list[tuple[float, float]]] = {}
    codes: dict[str, int | None] = {}
    try:
        procs = {name: psutil.Process(sup.proc.pid) for name, sup in sups.items() if sup.proc}
        start = time.monotonic()
        while time.monotonic() - start < SOAK_SECONDS:
            time.sleep(SAMPLE_SECONDS)
            t = time.monotonic() - start
            sample = {name: float(proc.memory_info().rss) for name, proc in procs.items()}
            sample.update(_redis_sample(client))
            for key, value in sample.items():
                series.setdefault(key, []).append((t, value))
        alive = [name for name, sup in sups.items() if sup.proc and sup.proc.poll() is None]
        assert alive == list(SERVICES), f"a service died during the soak: only {alive} ran on"
        cpu = {name: sum(proc.cpu_times()[:2]) for name, proc in procs.items()}
    finally:
        for name, sup in sups.items():
            codes[name] = sup.stop()
        server.stop()

    for i, (t, _) in enumerate(series["notifier"]):
        print(
            f"soak t={t:5.1f}s "
            + " ".join(f"{name}={series[name][i][1] / MIB:.1f}MiB" for name in SERVICES)
            + f" used_memory={series['used_memory'][i][1] / MIB:.2f}MiB"
            + "".join(f" {k}={series[k][i][1]:.0f}" for k in ("keys", "elements", "streams"))
        )
    trends = {
        key: Trend.of([(t, v) for t, v in values if t >= WARMUP_SECONDS])
        for key, values in series.items()
    }
    delivered = {link for m in receiver.messages() for link in LINK_RE.findall(m)}
    report(
        f"soak: {SOAK_SECONDS:.0f}s, {len(delivered)} articles delivered, retention "
        f"{RETENTION_SECONDS:.0f}s; rss "
        + " ".join(f"{name}={trends[name].describe(MIB, 'MiB')}" for name in SERVICES)
        + f"; redis used_memory={trends['used_memory'].describe(MIB, 'MiB')}"
        + "".join(f" {k}={trends[k].describe()}" for k in ("keys", "elements", "streams"))
        + "; cpu_s="
        + "/".join(f"{cpu[name]:.0f}" for name in SERVICES)
    )

    assert codes == dict.fromkeys(SERVICES, 0), f"SIGTERM must stop every service cleanly: {codes}"
    assert len(delivered) >= MIN_DELIVERED, f"only {len(delivered)} articles went through"
    limits: dict[str, tuple[float, float]] = {name: (RSS_MARGIN, RSS_SLOPE) for name in SERVICES}
    for key in ("keys", "elements", "streams", "used_memory"):
        # Redis: what expires by retention, what the trimmer removes; relative to its level,
        # since a healthy level swings ~10% between trims (streams: up to a trim interval)
        peak = trends[key].first_max
        limits[key] = (0.25 * peak, 0.1 * peak)
    in_mib = (*SERVICES, "used_memory")
    grew = [
        f"{key} keeps growing: "
        + (trends[key].describe(MIB, "MiB") if key in in_mib else trends[key].describe())
        for key, (margin, slope) in limits.items()
        if not trends[key].bounded(margin=margin, slope_per_min=slope)
    ]
    assert not grew, "; ".join(grew)
