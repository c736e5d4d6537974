"""`wirewatch run --once [--flush]` and `wirewatch preview` as a user runs them, delivering to
real webhook receivers over real Redis: DESIGN §6 "Contract details", outages and secrets."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from services.common.keys import Keys
from tests.conftest import ROOT
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.e2e
WIREWATCH = str(Path(sys.executable).parent / "wirewatch")
TOKEN_PATH = "tok3n-in-the-path-5f1d2"
TOKEN_QUERY = "s3cret-in-the-query-8a7c"

KOREA_LINKS = (
    "https://news.example.org/world/2024/06/putin-north-korea-visit",
    "https://dispatch.example.com/asia/2024/06/19/russia-dprk-pact",
)
CHIP_LINK_PART = "export"

SUBSCRIPTIONS = """
subscriptions:
  - id: hook-desk
    rules: [tag:korea]
    notify: ["${HOOK_URL}"]
    digest: immediate
  - id: daily-desk
    rules: [chip-export-controls]
    notify: ["${DAILY_URL}"]
    digest: daily 08:00 Asia/Seoul
"""


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """The demo config plus two subscriptions that deliver to webhooks (URLs from the env)."""
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    (tmp_path / "rules" / "hooks.yaml").write_text(SUBSCRIPTIONS, encoding="utf-8")
    return tmp_path


def wirewatch(
    folder: Path, redis_url: str, keys: Keys, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
    environment.update(
        {
            "WIREWATCH_REDIS_URL": redis_url,
            "WIREWATCH_KEY_PREFIX": keys.prefix,
            "WIREWATCH_IMMEDIATE_WINDOW": "0",
            "HOOK_URL": "console://",
            "DAILY_URL": "console://",
            **env,
        }
    )
    return subprocess.run(
        [WIREWATCH, *args],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def links(receiver: WebhookReceiver) -> list[str]:
    return [link for message in receiver.messages() for link in KOREA_LINKS if link in message]


def test_once_sends_immediate_digests_and_flush_sends_scheduled_ones(
    demo: Path, redis_url: str, keys: Keys, receiver: WebhookReceiver
) -> None:
    daily = WebhookReceiver()
    try:
        env = {"HOOK_URL": receiver.url, "DAILY_URL": daily.url}
        first = wirewatch(demo, redis_url, keys, "run", "--once", **env)
        assert first.returncode == 0, first.stderr
        assert len(receiver.posts) == 1 and sorted(links(receiver)) == sorted(KOREA_LINKS)
        assert daily.posts == [], "a daily digest is not due on the first run"

        again = wirewatch(demo, redis_url, keys, "run", "--once", **env)
        assert again.returncode == 0, again.stderr
        assert len(receiver.posts) == 1 and daily.posts == []

        flushed = wirewatch(demo, redis_url, keys, "run", "--once", "--flush", **env)
        assert flushed.returncode == 0, flushed.stderr
        assert len(daily.posts) == 1 and CHIP_LINK_PART in daily.messages()[0]
        assert len(receiver.posts) == 1

        flushed_again = wirewatch(demo, redis_url, keys, "run", "--once", "--flush", **env)
        assert flushed_again.returncode == 0, flushed_again.stderr
        assert len(daily.posts) == 1 and len(receiver.posts) == 1
    finally:
        daily.close()


def test_outage_keeps_items_and_no_secret_is_ever_shown(
    demo: Path, redis_url: str, keys: Keys, receiver: WebhookReceiver
) -> None:
    secret_url = f"json://127.0.0.1:{receiver.port}/hook/{TOKEN_PATH}?:token={TOKEN_QUERY}"
    env = {"HOOK_URL": secret_url, "WIREWATCH_LOG_LEVEL": "DEBUG"}
    receiver.stop()  # the target is down: connection refused
    outputs: list[str] = []

    check = wirewatch(demo, redis_url, keys, "check", **env)
    down = wirewatch(demo, redis_url, keys, "run", "--once", **env)
    outputs += [check.stdout, check.stderr, down.stdout, down.stderr]
    assert down.returncode == 1, down.stderr
    assert "hook-desk#1" in down.stderr and "stay pending" in down.stderr
    assert f"json://127.0.0.1:{receiver.port}" in down.stderr  # scheme and host:port only

    receiver.start()  # back up, on the same port
    preview = wirewatch(demo, redis_url, keys, "preview", "hook-desk", **env)
    outputs += [preview.stdout, preview.stderr]
    assert preview.returncode == 0, preview.stderr
    assert "hook-desk#1" in preview.stderr and "failed before" in preview.stderr
    assert all(link in preview.stdout for link in KOREA_LINKS)
    assert receiver.posts == [], "preview sends nothing"

    up = wirewatch(demo, redis_url, keys, "run", "--once", **env)
    outputs += [up.stdout, up.stderr]
    assert up.returncode == 0, up.stderr
    assert len(receiver.posts) == 1 and sorted(links(receiver)) == sorted(KOREA_LINKS)
    assert TOKEN_PATH in receiver.paths[0]  # the real URL was used...

    for text in outputs:  # ...and never shown
        assert TOKEN_PATH not in text and TOKEN_QUERY not in text

    quiet = wirewatch(demo, redis_url, keys, "run", "--once", **env)
    assert quiet.returncode == 0 and len(receiver.posts) == 1


def test_preview_of_an_unknown_subscription_is_one_line(
    demo: Path, redis_url: str, keys: Keys
) -> None:
    result = wirewatch(demo, redis_url, keys, "preview", "nope")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "unknown subscription 'nope'" in lines[0]
    assert lines[0].endswith("known subscriptions are console-desk, daily-desk, hook-desk")


def test_preview_writes_the_email_html_without_changing_anything(
    demo: Path, redis_url: str, keys: Keys, receiver: WebhookReceiver
) -> None:
    env = {"DAILY_URL": receiver.url}
    assert wirewatch(demo, redis_url, keys, "run", "--once", **env).returncode == 0
    page = demo / "digest.html"
    first = wirewatch(demo, redis_url, keys, "preview", "daily-desk", "--html", str(page), **env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("===== wirewatch: ")
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "Chip export controls" in html
    second = wirewatch(demo, redis_url, keys, "preview", "daily-desk", **env)
    assert second.stdout == first.stdout  # nothing was marked as sent
    assert receiver.posts == []
