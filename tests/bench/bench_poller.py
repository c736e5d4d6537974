"""Poller benchmarks (run by hand: `uv run pytest -m bench tests/bench/bench_poller.py -s`).

Real Redis on 127.0.0.1:6379; the feeds are served by a small asyncio HTTP/1.1 server running
in another process (so its CPU is not counted), on 50 loopback ports (50 "servers", 200
feeds each: politeness allows one request at a time per server). CPU is the poller process's
`time.process_time()` (all its threads, the feedparser workers included).

1. 10,000 feeds polled by the real scheduler loop (`PollerApp.run`: claim due -> fetch ->
   finish), every one answering 304: CPU-seconds per 1,000 polls. Goal: <= 0.1.
2. The same 10,000 with 1 % of them changed: feedparser must run exactly 100 times.
3. 50 changed feeds of 50 items (one new item each, 49 already seen): CPU per poll, against
   feedparser alone on the same bodies (with the flags the poller uses).

Results go to tests/bench/RESULTS.md, section "## Poller".
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import feedparser
import pytest

from services.common.config import FeedConfig
from services.common.keys import Keys
from services.common.metrics import FEEDS_PARSED, POLL_SECONDS
from services.common.runtime import Runtime
from services.poller.app import PollerApp
from services.poller.fetch import host_key
from tests.conftest import open_runtime

pytestmark = pytest.mark.bench

SERVERS = 50
QUIET_PER_SERVER = 200  # 10,000 feeds
BIG = 50  # feeds of ITEMS items that change
ITEMS = 50
CHANGED_SHARE = 100  # every 100th quiet feed changes in round 2 (1 %)


# --- the feed server (its own process) ------------------------------------------------------


def _quiet_body(n: int, version: int) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Quiet {n}</title><link>https://bench.example.org/</link>"
        f"<item><title>Quiet {n} story {version}</title>"
        f"<link>https://bench.example.org/q/{n}/{version}</link>"
        f"<pubDate>Tue, 25 Nov 2025 10:00:00 GMT</pubDate></item></channel></rss>"
    ).encode()


def big_body(n: int, version: int) -> bytes:
    """A 50-item feed; each version adds one item at the top and drops the oldest."""
    items = "".join(
        f"<item><title>Big {n} story {i}: officials meet over trade, energy and security</title>"
        f"<link>https://bench.example.org/big/{n}/{i}?utm_source=rss</link>"
        f"<guid isPermaLink='false'>big-{n}-{i}</guid>"
        f"<description>&lt;p&gt;Story {i} of feed {n}. {'Talks continued late into the night. ' * 8}"
        f"&lt;/p&gt;</description><category>World</category><category>Politics</category>"
        f"<pubDate>Tue, 25 Nov 2025 10:{i % 60:02d}:00 GMT</pubDate></item>"
        for i in range(version + ITEMS - 1, version - 1, -1)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Big {n}</title><link>https://bench.example.org/</link>"
        f"<language>en</language>{items}</channel></rss>"
    ).encode()


async def _serve(servers: int) -> None:
    versions: dict[str, int] = {}
    request_line = re.compile(rb"GET (\S+) HTTP/1\.1")

    def answer(path: str, etag_sent: str | None) -> bytes:
        if path.startswith("/_bump/"):
            group, _, every = path[len("/_bump/") :].partition("?every=")
            step = int(every or 1)
            for key in [k for k in versions if k.startswith(f"/{group}/")]:
                if int(key.rsplit("/", 1)[1].split(".")[0]) % step == 0:
                    versions[key] += 1
            return b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
        version = versions.setdefault(path, 1)
        etag = f'"{version}"'
        if etag_sent == etag:
            return f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n\r\n".encode()
        n = int(path.rsplit("/", 1)[1].split(".")[0])
        body = big_body(n, version) if path.startswith("/big/") else _quiet_body(n, version)
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
            f"ETag: {etag}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                match = request_line.match(head)
                sent = re.search(rb"(?im)^if-none-match:\s*(.+?)\s*$", head)
                path = match.group(1).decode() if match else "/"
                writer.write(answer(path, sent.group(1).decode() if sent else None))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    listening = [await asyncio.start_server(handle, "127.0.0.1", 0) for _ in range(servers)]
    ports = [s.sockets[0].getsockname()[1] for s in listening]
    print(json.dumps(ports), flush=True)
    await asyncio.gather(*(s.serve_forever() for s in listening))


# --- the benchmark --------------------------------------------------------------------------


@pytest.fixture
def ports() -> Iterator[list[int]]:
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(SERVERS)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        yield json.loads(server.stdout.readline())
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
async def runtime(redis_url: str, keys: Keys) -> AsyncIterator[Runtime]:
    async with open_runtime(redis_url, keys, log_level="WARNING") as rt:
        yield rt


def _count(outcome: str) -> float:
    for metric in POLL_SECONDS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count") and sample.labels.get("outcome") == outcome:
                return sample.value
    return 0.0


def _by_server(feeds: list[FeedConfig]) -> dict[str, list[str]]:
    by_server: dict[str, list[str]] = {}
    for feed in feeds:
        by_server.setdefault(host_key(feed.url), []).append(feed.id)
    return by_server


async def _make_due(runtime: Runtime, by_server: dict[str, list[str]]) -> None:
    """Every given feed due now (as after its interval), servers included."""
    now = int(time.time() * 1000)
    async with runtime.client.pipeline(transaction=False) as pipe:
        for server, ids in by_server.items():
            pipe.zadd(runtime.keys.server_due(server), dict.fromkeys(ids, now))
            pipe.zadd(runtime.keys.feeds_due(), {server: now})
        await pipe.execute()


async def _run_round(
    app: PollerApp,
    runtime: Runtime,
    due: list[FeedConfig],
    polls: int,
    outcome: str,
    *,
    profile: str = "",
) -> tuple[float, float]:
    """Make `due` due and run the scheduler until `polls` more polls with `outcome` are done.

    The loop starts (and registers the feeds) first; CPU and wall time count from the moment
    the feeds fall due. `profile`: a file for a cProfile of the round (WIREWATCH_BENCH_PROFILE).
    """
    target = _count(outcome) + polls
    stop = asyncio.Event()
    loop = asyncio.create_task(app.run(stop))
    await asyncio.sleep(1.0)  # started, registered, idle: nothing is due
    by_server = _by_server(due)  # the bench's own work: outside the measured window
    profiler = cProfile.Profile() if profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    await _make_due(runtime, by_server)
    while _count(outcome) < target:
        await asyncio.sleep(0.05)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    stop.set()
    await loop
    return cpu, wall


async def _bump(port: int, group: str, every: int = 1) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /_bump/{group}?every={every} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await reader.readuntil(b"\r\n\r\n")
    writer.close()


def _feedparser_alone(bodies: list[bytes]) -> float:
    """CPU seconds per body for feedparser alone, with the flags the poller uses."""
    cpu = time.process_time()
    for body in bodies:
        feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    return (time.process_time() - cpu) / len(bodies)


async def test_poller_bench(ports: list[int], runtime: Runtime, tmp_path: Path) -> None:
    quiet = [
        FeedConfig(f"q{s}-{n}", f"http://127.0.0.1:{port}/q/{s * 1000 + n}.xml")
        for s, port in enumerate(ports)
        for n in range(QUIET_PER_SERVER)
    ]
    big = [
        FeedConfig(f"big-{n}", f"http://127.0.0.1:{ports[n % SERVERS]}/big/{n}.xml")
        for n in range(BIG)
    ]
    app = PollerApp(runtime, quiet + big, tmp_path)
    wall = time.perf_counter()
    first = await app.poll_all()
    loop = type(asyncio.get_running_loop())
    print(f"\nevent loop: {loop.__module__}.{loop.__name__}")
    print(f"first poll of {len(first)} feeds: {time.perf_counter() - wall:.1f}s wall")
    assert not [o for o in first if o.error]

    # 1. everything due, nothing changed: the first 304 round, then the steady state
    parsed = FEEDS_PARSED._value.get()
    profile = os.environ.get("WIREWATCH_BENCH_PROFILE", "")
    everything = quiet + big
    cpu, wall = await _run_round(app, runtime, everything, len(everything), "not_modified")
    print(
        f"first 304 round after start: "
        f"{cpu / len(everything) * 1000:.3f} CPU-s per 1,000 polls, {wall:.1f}s wall"
    )
    cpu, wall = await _run_round(
        app, runtime, everything, len(everything), "not_modified", profile=profile
    )
    per_1000 = cpu / (len(quiet) + len(big)) * 1000
    print(
        f"304 round: {len(quiet) + len(big)} polls, {cpu:.2f} CPU-s ({per_1000:.3f} CPU-s per "
        f"1,000 polls), {wall:.1f}s wall, feedparser runs: {FEEDS_PARSED._value.get() - parsed:.0f}"
    )
    assert FEEDS_PARSED._value.get() == parsed, "a 304 is never parsed"

    # 2. 1 % changed
    for port in ports:
        await _bump(port, "q", CHANGED_SHARE)
    changed = [f for f in quiet if int(f.url.rsplit("/", 1)[1][:-4]) % CHANGED_SHARE == 0]
    parsed = FEEDS_PARSED._value.get()
    cpu2, _ = await _run_round(
        app, runtime, everything, len(everything) - len(changed), "not_modified"
    )
    while _count("ok") < len(first) + len(changed):  # the changed ones finish too
        await asyncio.sleep(0.05)
    runs = FEEDS_PARSED._value.get() - parsed
    print(f"1% round: {len(changed)} changed, feedparser runs: {runs:.0f}, {cpu2:.2f} CPU-s")
    assert runs == len(changed)

    # 3. changed 50-item feeds
    for port in ports:
        await _bump(port, "big")
    cpu3, _ = await _run_round(
        app, runtime, big, len(big), "ok", profile=profile and profile + ".changed"
    )
    per_big = cpu3 / len(big)
    alone = _feedparser_alone([big_body(n, 2) for n in range(BIG)])
    default = time.process_time()
    for n in range(BIG):
        feedparser.parse(big_body(n, 2))
    default = (time.process_time() - default) / BIG
    print(
        f"changed 50-item feed: {per_big * 1000:.1f} ms CPU per poll; feedparser alone "
        f"{alone * 1000:.1f} ms (default flags {default * 1000:.1f} ms); ratio {per_big / alone:.2f}"
    )
    await app.close()


if __name__ == "__main__" and sys.argv[1:2] == ["--serve"]:
    asyncio.run(_serve(int(sys.argv[2])))
