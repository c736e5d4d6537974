"""`wirewatch test-rule` as a rule writer uses it: what held, what matched, where a query is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e
WIREWATCH = str(Path(sys.executable).parent / "wirewatch")


def _test_rule(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
    return subprocess.run(
        [WIREWATCH, "test-rule", *args, "--config", str(ROOT / "rules")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_explains_and_highlights_with_defines() -> None:
    done = _test_rule(
        "Russia AND @dprk AND (military OR weapon*)",
        "--text",
        "Putin met Kim Jong-un in Pyŏngyang; Russia pledged military help.",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "MATCH",
        "  ✓ Russia AND @dprk AND (military OR weapon*)",
        "    ✓ Russia",
        "    ✓ @dprk",
        "      ✗ North Korea",
        "      ✗ DPRK",
        "      ✓ Pyongyang",
        '      ✓ "Kim Jong Un"',
        "    ✓ (military OR weapon*)",
        "      ✓ military",
        "      ✗ weapon*",
        "  text: Putin met [[Kim Jong-un]] in [[Pyŏngyang]]; [[Russia]] pledged [[military]] help.",
    ]


def test_scoped_terms_mark_the_text_once() -> None:
    done = _test_rule("title:(content:x OR y) AND y", "--text", "x and y")
    assert done.stdout.splitlines()[-1] == "  text: [[x]] and [[y]]"


def test_no_match_exits_1() -> None:
    done = _test_rule("navy AND NOT Russia", "--text", "Russia's navy")
    assert done.returncode == 1
    assert done.stdout.startswith("no match\n  ✗ navy AND NOT Russia\n    ✓ navy\n    ✗ NOT Russia")


def test_bad_query_shows_a_caret_under_the_column() -> None:
    done = _test_rule('"North Korea" military', "--text", "x")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "wirewatch: bad query: two operands side by side: put AND or OR between them",
        '  "North Korea" military',
        "                ^",
    ]


def test_lowercase_operator_warning() -> None:
    done = _test_rule("cats and dogs", "--text", "cats and dogs")
    assert done.returncode == 0
    assert done.stderr.splitlines()[1:] == ["  cats and dogs", "       ^"]


def test_feed_reports_each_entry() -> None:
    done = _test_rule("Russia AND @dprk", "--feed", "seeds/world-news.xml")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("✓ Putin to visit North Korea as US and allies decry military ties")
    assert "  title: Putin to visit [[North Korea]] as US" in lines[1]
    assert sum(line.startswith("✗ ") for line in lines) == 3
    assert lines[-1] == "1 of 4 entries match"


def test_unreadable_feed_is_one_line() -> None:
    done = _test_rule("x", "--feed", "seeds/nope.xml")
    assert done.returncode == 2
    assert done.stderr.startswith("wirewatch: cannot fetch the feed:")
    assert "Traceback" not in done.stderr
