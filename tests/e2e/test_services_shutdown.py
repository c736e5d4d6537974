"""A service process on SIGTERM with work in flight, and with its health port taken."""

from __future__ import annotations

import socket
import subprocess
import uuid
from pathlib import Path

import pytest
import redis

from tests.deploy.compose_file import local_command, local_environment
from tests.deploy.processes import ServiceProcess, wait_for
from tests.support.feed_server import FeedServer, slow_drip

pytestmark = pytest.mark.e2e
SIGTERM_DEADLINE = 10.0  # DESIGN §5


def _config(folder: Path, feed_url: str) -> Path:
    folder.mkdir()
    (folder / "feeds.yaml").write_text(
        f"feeds:\n  - id: drip\n    url: {feed_url}\n    every: 5s\n", encoding="utf-8"
    )
    return folder


def test_sigterm_mid_fetch_exits_0_within_10s(tmp_path: Path, redis_url: str) -> None:
    """A feed that drips one byte a second keeps a poll in flight for ~30 s; SIGTERM must not wait."""
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    with FeedServer() as feeds:
        feeds.add_route("/drip.xml", slow_drip(interval=1.0))
        config = _config(tmp_path / "rules", feeds.url("/drip.xml"))
        env = local_environment("poller", redis_url=redis_url, key_prefix=prefix, config_dir=config)
        poller = ServiceProcess("poller", local_command("poller"), env, tmp_path)
        try:
            poller.wait_ready()
            wait_for(
                "the slow fetch in flight",
                lambda: feeds.requests_to("/drip.xml"),
                30,
                poller.describe,
            )
            assert poller.terminate(SIGTERM_DEADLINE) == 0, poller.describe()
        finally:
            poller.kill()
            client = redis.Redis.from_url(redis_url)
            for key in client.scan_iter(match=f"{prefix}:*"):
                client.delete(key)
            client.close()
    records = poller.log_records()
    assert [r.get("event") for r in records][-2:] == ["service.stopping", "service.stopped"]
    assert not [r for r in records if r["level"] in ("error", "critical")], poller.stderr()


def test_taken_health_port_is_one_line_and_exit_2(tmp_path: Path, redis_url: str) -> None:
    config = _config(tmp_path / "rules", "http://127.0.0.1:9/never.xml")
    env = local_environment(
        "matcher", redis_url=redis_url, key_prefix="e2e-port", config_dir=config
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env["WIREWATCH_HTTP_PORT"] = str(port)
        result = subprocess.run(
            local_command("matcher"),
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    host = env.get("WIREWATCH_HTTP_HOST", "127.0.0.1")  # compose binds 0.0.0.0
    assert f"{host}:{port}" in lines[0] and "WIREWATCH_HTTP_PORT" in lines[0]
    assert "Traceback" not in result.stderr
