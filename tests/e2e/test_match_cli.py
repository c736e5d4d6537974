"""`wirewatch match` as a script uses it: JSON lines in, one JSON line per article out (DESIGN §6)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e
WIREWATCH = str(Path(sys.executable).parent / "wirewatch")

KOREA = {
    "id": "a1",
    "feed": "global-wire",
    "lang": "en-GB",
    "title": "Russia and <b>North Korea</b> sign pact",
    "content": "Pyongyang will get missile technology, Russia said.",
    "link": "https://news.example.org/a1",
    "categories": ["world"],
    "published": "2024-06-19T08:00:00Z",
}
CHIPS = {"id": "a2", "title": "New semiconductor export controls", "summary": "Sanctions widen"}
NOTHING = {"id": "a3", "title": "Local bakery wins prize", "author": None}


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}


def _match(
    *args: str, stdin: str | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WIREWATCH, "match", "--config", str(ROOT / "rules"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=_env(),
        cwd=cwd,
        timeout=120,
    )


def _lines(*articles: object) -> str:
    return "".join((a if isinstance(a, str) else json.dumps(a)) + "\n" for a in articles)


def test_one_line_out_per_article_in_order(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(_lines(KOREA, CHIPS, NOTHING), encoding="utf-8")
    done = _match(str(path))
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == [
        {"id": "a1", "rules": ["russia-dprk-military"]},
        {"id": "a2", "rules": ["chip-export-controls"]},
        {"id": "a3", "rules": []},
    ]
    assert done.stderr == ""


def test_rule_filters_apply(tmp_path: Path) -> None:
    elsewhere = {**KOREA, "feed": "ledger-tech"}  # russia-dprk-military wants tag:world feeds
    done = _match(stdin=_lines(elsewhere, {**KOREA, "lang": "ko"}))
    assert [json.loads(line)["rules"] for line in done.stdout.splitlines()] == [[], []]


def test_bad_lines_are_named_and_skipped(tmp_path: Path) -> None:
    text = _lines(
        KOREA,
        "{not json",
        "",
        '["a list"]',
        {"title": "no id"},
        {"id": "a5", "title": 7},
        {"id": "a6", "categories": "world"},
        CHIPS,
    )
    done = _match("-", stdin=text)
    assert done.returncode == 1
    assert [json.loads(line)["id"] for line in done.stdout.splitlines()] == ["a1", "a2"]
    errors = done.stderr.splitlines()
    assert errors == [
        "wirewatch: <stdin>:2: not JSON (Expecting property name enclosed in double quotes at"
        " column 2); line skipped",
        'wirewatch: <stdin>:4: not a JSON object (one article per line: {"id": ..., ...}); line skipped',
        'wirewatch: <stdin>:5: no "id" (a string); line skipped',
        'wirewatch: <stdin>:6: "title" must be a string, not int; line skipped',
        'wirewatch: <stdin>:7: "categories" must be a list of strings; line skipped',
    ]


def test_gzip_input(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write(_lines(KOREA, NOTHING))
    done = _match(str(path))
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2


def test_unusable_input_and_config_are_one_line(tmp_path: Path) -> None:
    missing = _match(str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2
    assert (
        missing.stderr.startswith("wirewatch: cannot read ") and "Traceback" not in missing.stderr
    )
    broken = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", broken)
    (broken / "extra.yaml").write_text("rules:\n  - id: x\n    query: (a\n", encoding="utf-8")
    done = subprocess.run(
        [WIREWATCH, "match", "--config", str(broken), "-"],
        input=_lines(KOREA),
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert done.returncode == 2
    assert f"{broken}/extra.yaml:3:12: rule x: unbalanced parenthesis" in done.stderr


def test_help_says_what_happens_to_bad_lines() -> None:
    done = subprocess.run(
        [WIREWATCH, "match", "--help"], capture_output=True, text=True, timeout=60
    )
    assert "reported on\nstderr as FILE:LINE: reason, and skipped" in done.stdout


def _peak_rss_kib(articles: int, folder: Path) -> int:
    """Match `articles` generated articles in a fresh process; its peak resident memory."""
    path = folder / f"{articles}.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as out:
        for i in range(articles):
            title = f"Story {i} on Russia and chips"  # a vocabulary of 3,000 words, some in
            content = f"word{i % 1000} हिन्दी{i % 1000} مُحَمَّد{i % 1000} " * 4  # slow scripts
            out.write(json.dumps({"id": f"n{i}", "title": title, "content": content}) + "\n")
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
        "assert done.returncode == 0\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            probe,
            WIREWATCH,
            "match",
            "--config",
            str(ROOT / "rules"),
            str(path),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
        check=True,
    )
    return int(done.stdout)


def test_memory_stays_flat_on_a_long_file(tmp_path: Path) -> None:
    small = _peak_rss_kib(1_000, tmp_path)
    large = _peak_rss_kib(100_000, tmp_path)
    assert large < small + 10 * 1024, (small, large)  # KiB: nothing kept per article
