"""`wirewatch run --once` as a user runs it: the embedded engine, the demo rules and seeds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e
WIREWATCH = str(Path(sys.executable).parent / "wirewatch")


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
    env.update({"WIREWATCH_DATA_DIR": str(tmp / "data"), **extra})
    return env


def _run(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WIREWATCH, *args],
        cwd=tmp,
        env=_env(tmp, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A copy of the demo (rules/ + seeds/) in a temp folder, as a fresh checkout has it."""
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    return tmp_path


def test_demo_prints_digest_then_nothing_new(demo: Path) -> None:
    first = _run(demo, "run", "--once")
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "Russia – North Korea military ties" in out
    assert "Putin to visit North Korea as US and allies decry military ties" in out
    assert "Russia and North Korea sign mutual defence pact" in out
    assert "https://news.example.org/world/2024/06/putin-north-korea-visit" in out
    assert "utm_source" not in out  # canonical links, tracking parameters removed
    assert "Chip export controls" in out
    assert "European Central Bank" not in out  # matched no rule
    assert "Traceback" not in first.stderr
    assert (demo / "data" / "appendonlydir").is_dir()

    second = _run(demo, "run", "--once")
    assert second.returncode == 0, second.stderr
    assert "=====" not in second.stdout, "the second run must send nothing new"
    assert "0 new articles" in second.stderr


def test_missing_config_folder_is_one_clear_line(tmp_path: Path) -> None:
    result = _run(tmp_path, "run", "--once", "--config", "nowhere")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "nowhere" in lines[0] and "does not exist" in lines[0]


def test_unreachable_redis_is_one_clear_line(demo: Path) -> None:
    result = _run(demo, "run", "--once", WIREWATCH_REDIS_URL="redis://:hunter2@127.0.0.1:1/0")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "cannot reach Redis at redis://127.0.0.1:1/0" in result.stderr
    assert "hunter2" not in result.stderr


def test_unreadable_feed_names_feed_and_path(demo: Path, redis_url: str) -> None:
    (demo / "rules" / "gone.yaml").write_text(
        "feeds:\n  - id: gone\n    url: ../seeds/missing.xml\n", encoding="utf-8"
    )
    result = _run(
        demo, "run", "--once", WIREWATCH_REDIS_URL=redis_url, WIREWATCH_KEY_PREFIX="e2e-gone"
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "feed gone:" in result.stderr and "missing.xml" in result.stderr
