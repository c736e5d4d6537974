"""Fault-injection harness: a private AOF Redis, feeds that grow, a recording webhook, and a
supervisor that kill -9s wirewatch processes at seeded random moments and restarts them.

Everything runs on loopback and is bounded in time; the verdict is computed from what the
webhook received against what the feeds served.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

WIREWATCH = str(Path(sys.executable).parent / "wirewatch")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A redis-server of our own with AOF `appendfsync always`, killable and restartable."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--dir",
                str(self.data_dir),
                "--logfile",
                str(self.data_dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"private redis-server did not start on port {self.port}")

    def kill9(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
            self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@dataclass
class GrowingFeeds:
    """N feeds whose item count grows with time; some items also appear in another feed with
    tracking parameters (same canonical link), so dedupe is exercised too."""

    feeds: int
    per_step: int
    step_seconds: float
    max_items: int
    window: int | None = None  # like real feeds: only the newest N items are listed
    started: float = field(default_factory=time.monotonic)
    base_url: str = ""

    def visible(self, feed: int) -> int:
        steps = int((time.monotonic() - self.started) / self.step_seconds) + 1
        return min(self.max_items, steps * self.per_step)

    def link(self, feed: int, item: int) -> str:
        return f"{self.base_url}/articles/f{feed}-i{item}"

    def expected_links(self) -> set[str]:
        """Every unique canonical link served so far (what must be delivered)."""
        return {self.link(f, i) for f in range(self.feeds) for i in range(self.visible(f))}

    def render(self, feed: int) -> bytes:
        now = datetime(2026, 1, 1, tzinfo=UTC)
        items = []
        first = 0 if self.window is None else max(0, self.visible(feed) - self.window)
        for i in range(first, self.visible(feed)):
            items.append(
                self._item(
                    self.link(feed, i), f"Watchword report {feed}-{i} {_words(feed, i)}", now, i
                )
            )
        # the previous feed's newest items again, with tracking parameters (duplicates)
        other = (feed + 1) % self.feeds
        for i in range(max(0, self.visible(other) - 2), self.visible(other)):
            link = self.link(other, i) + "?utm_source=rss&fbclid=XYZ"
            items.append(
                self._item(link, f"Watchword report {other}-{i} {_words(other, i)}", now, i)
            )
        body = "".join(items)
        return (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>Feed {feed}</title><link>{self.base_url}/</link><language>en</language>"
            f"{body}</channel></rss>"
        ).encode()

    @staticmethod
    def _item(link: str, title: str, now: datetime, i: int) -> str:
        pub = format_datetime(now + timedelta(minutes=i))
        return f"<item><title>{title}</title><link>{link.replace('&', '&amp;')}</link><pubDate>{pub}</pubDate><description>Body of {title}</description></item>"


def _words(feed: int, item: int) -> str:
    """Made-up words unique to each item, so no two items are near-duplicate headlines (which
    the notifier would rightly group as one story and show once)."""
    rnd = random.Random(feed * 100_003 + item)
    letters = "bcdfghjklmnprstvz"
    vowels = "aeiou"
    return " ".join(
        "".join(rnd.choice(letters) + rnd.choice(vowels) for _ in range(3)) for _ in range(5)
    )


class FeedHTTP:
    def __init__(self, feeds: GrowingFeeds) -> None:
        owner = feeds

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                m = re.fullmatch(r"/feed-(\d+)\.xml", self.path)
                if not m:
                    self.send_response(404)
                    self.end_headers()
                    return
                body = owner.render(int(m.group(1)))
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        feeds.base_url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_config(folder: Path, feeds: GrowingFeeds, hook_url: str, every: str = "5s") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["feeds:"]
    for f in range(feeds.feeds):
        lines += [
            f"  - id: feed-{f}",
            f"    url: {feeds.base_url}/feed-{f}.xml",
            f"    every: {every}",
        ]
    lines += [
        "rules:",
        "  - id: everything",
        "    query: watchword",
        "subscriptions:",
        "  - id: hook",
        "    rules: [everything]",
        f"    notify: ['{hook_url}']",
        "    digest: immediate",
    ]
    (folder / "config.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


LINK_RE = re.compile(r"\]\((http://127\.0\.0\.1:\d+/articles/f\d+-i\d+)\)")


@dataclass
class Verdict:
    served: int
    delivered: int
    lost: int
    duplicated: int
    kills: int
    restarts: int

    def line(self, name: str) -> str:
        return (
            f"{name}: served={self.served} delivered={self.delivered} lost={self.lost} "
            f"duplicated={self.duplicated} kills={self.kills} restarts={self.restarts}"
        )


def verdict(expected: set[str], messages: list[str], kills: int, restarts: int) -> Verdict:
    """The verdict from chat/webhook messages (links in Markdown)."""
    counts = Counter(link for message in messages for link in LINK_RE.findall(message))
    return tally(expected, counts, kills, restarts)


def tally(expected: set[str], counts: Counter[str], kills: int, restarts: int) -> Verdict:
    """The verdict from how often each link arrived, however the target's messages show it."""
    delivered = set(counts)
    return Verdict(
        served=len(expected),
        delivered=len(delivered & expected),
        lost=len(expected - delivered),
        duplicated=sum(c - 1 for c in counts.values()),
        kills=kills,
        restarts=restarts,
    )


def service_env(redis_url: str, config: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
    env.update(
        {
            "WIREWATCH_REDIS_URL": redis_url,
            "WIREWATCH_CONFIG": str(config),
            "WIREWATCH_CLAIM_IDLE": "2",
            "WIREWATCH_IMMEDIATE_WINDOW": "0.3",
            "WIREWATCH_HTTP_PORT": "0",
            "WIREWATCH_LOG_LEVEL": "WARNING",
            **extra,
        }
    )
    return env


class Supervisor:
    """Runs a wirewatch command, kill -9s it at seeded random moments, restarts it."""

    def __init__(self, args: list[str], env: dict[str, str], log_dir: Path, name: str) -> None:
        self.args = args
        self.env = env
        self.log_dir = log_dir
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.restarts = 0

    def start(self) -> None:
        log = open(self.log_dir / f"{self.name}-{self.restarts + self.kills}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([WIREWATCH, *self.args], env=self.env, stdout=log, stderr=log)

    def kill9_and_restart(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.kills += 1
        self.start()
        self.restarts += 1

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None


def run_once_until_delivered(
    redis_url: str, config: Path, expected: set[str], receiver: Any, *, tries: int = 5
) -> None:
    """Drain what is left like an operator would: `run --once --flush` until nothing is missing."""
    for _ in range(tries):
        subprocess.run(
            [WIREWATCH, "run", "--once", "--flush"],
            env=service_env(redis_url, config),
            capture_output=True,
            timeout=180,
        )
        got = {link for m in receiver.messages() for link in LINK_RE.findall(m)}
        if expected <= got:
            return
        time.sleep(2.5)  # let claim_idle pass so orphaned pending entries are reclaimed


def report(line: str) -> None:
    """Print a verdict line and append it, time-stamped, to tests/reliability/RESULTS.log (kept
    out of git): the record of what each reliability run actually measured."""
    print(line)
    results = Path(__file__).parent / "RESULTS.log"
    with results.open("a", encoding="utf-8") as fh:
        fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")


@dataclass(frozen=True)
class Trend:
    """How one sampled quantity behaved after the warm-up: the maximum of each half, and the
    slope (per minute) over the second half.

    The slope is Theil-Sen (the median of the slopes between every pair of samples), so one
    step or spike, which the allocator or a big batch can cause, does not pass for a trend;
    a leak, which rises sample after sample, does.
    """

    first_max: float
    second_max: float
    slope_per_min: float

    @classmethod
    def of(cls, samples: list[tuple[float, float]]) -> Trend:
        """`samples` are (seconds, value) after the warm-up, in time order (at least 4)."""
        if len(samples) < 4:
            raise ValueError(f"too few samples for a trend: {len(samples)}")
        half = len(samples) // 2
        first, second = samples[:half], samples[half:]
        slopes = [
            (b[1] - a[1]) / (b[0] - a[0])
            for i, a in enumerate(second)
            for b in second[i + 1 :]
            if b[0] > a[0]
        ]
        return cls(
            first_max=max(v for _, v in first),
            second_max=max(v for _, v in second),
            slope_per_min=statistics.median(slopes) * 60,
        )

    def bounded(self, *, margin: float, slope_per_min: float) -> bool:
        """Levelled off: the second half peaks no more than `margin` above the first half's
        peak, and is not rising faster than `slope_per_min`."""
        return self.second_max <= self.first_max + margin and self.slope_per_min <= slope_per_min

    def describe(self, unit: float = 1, name: str = "") -> str:
        """`12.0->12.5MiB (+0.30MiB/min)`: the two halves' peaks and the slope, in `unit`s."""
        digits = 0 if unit == 1 else 1
        return (
            f"{self.first_max / unit:.{digits}f}->{self.second_max / unit:.{digits}f}{name}"
            f" ({self.slope_per_min / unit:+.{digits + 1}f}{name}/min)"
        )


COUNT_ELEMENTS = """
local n = 0
for _, key in ipairs(redis.call('KEYS', '*')) do
  local kind = redis.call('TYPE', key).ok
  if kind == 'zset' then n = n + redis.call('ZCARD', key)
  elseif kind == 'hash' then n = n + redis.call('HLEN', key)
  elseif kind == 'set' then n = n + redis.call('SCARD', key)
  elseif kind == 'list' then n = n + redis.call('LLEN', key)
  elseif kind == 'stream' then n = n + redis.call('XLEN', key)
  else n = n + 1 end
end
return n
"""
"""Every element held in Redis (members of sorted sets, hash fields, stream entries, plain keys),
in one atomic pass: unlike `used_memory`, it does not move with allocator noise, and unlike the
key count it sees a sorted set or a hash that grows inside one key (a ledger, a digest)."""
