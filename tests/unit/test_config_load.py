"""Loading the config folder: every problem reported at once, as path:line:col."""

from __future__ import annotations

from pathlib import Path

from services.common.config import load_config
from tests.conftest import ROOT


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_loads_clean() -> None:
    config, problems = load_config(ROOT / "rules", env={})
    assert problems == []
    assert {f.id for f in config.feeds} == {"global-wire", "pacific-dispatch", "ledger-tech"}
    assert config.rule("russia-dprk-military") is not None
    assert "dprk" in config.defines


def test_missing_folder_is_one_problem(tmp_path: Path) -> None:
    _, problems = load_config(tmp_path / "nope", env={})
    assert len(problems) == 1 and "does not exist" in problems[0].message


def test_all_problems_with_positions(tmp_path: Path) -> None:
    a = _write(
        tmp_path,
        "a.yaml",
        "feeds:\n  - id: one\n    url: x.xml\n    every: 2s\n    colour: red\n"
        "rules:\n  - id: r1\n    query: a\n    feeds: [nope]\n",
    )
    b = _write(
        tmp_path,
        "b.yaml",
        "rules:\n  - id: r1\n    query: b\nsubscriptions:\n  - id: s\n    rules: [r1]\n"
        "    notify: ['${MISSING_TOKEN}']\n",
    )
    _, problems = load_config(tmp_path, env={})
    text = [str(p) for p in problems]
    assert (
        f"{a}:4:12: bad poll interval `2s`: write a number and s|m|h|d, at least 5s (e.g. 15m)"
        in text
    )
    assert any(t.startswith(f"{a}:5:5: unknown key `colour`") for t in text)
    assert any(t.startswith(f"{b}:2:9: duplicate rule id `r1`") for t in text)
    assert any(t.startswith(f"{b}:7:14: ${{MISSING_TOKEN}} is not set") for t in text)
    assert any("unknown feed `nope`" in t for t in text)


def test_bad_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.yaml", "rules:\n  - id: x\n    query: [unclosed\n")
    _, problems = load_config(tmp_path, env={})
    assert len(problems) == 1
    assert problems[0].path == path and problems[0].line >= 3
    assert problems[0].message.startswith("bad YAML")


def test_env_substitution(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "s.yaml",
        "rules:\n  - id: r\n    query: x\nsubscriptions:\n  - id: s\n    rules: [r]\n"
        "    notify: ['json://${HOOK_HOST}/path?token=${TOKEN}']\n",
    )
    config, problems = load_config(tmp_path, env={"HOOK_HOST": "h.example", "TOKEN": "s3cret"})
    assert problems == []
    url = config.subscriptions[0].notify[0]
    assert url.reveal() == "json://h.example/path?token=s3cret"
    assert "s3cret" not in repr(url) and "s3cret" not in str(url)
