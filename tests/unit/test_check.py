"""`wirewatch check` beyond loading: queries, defines, schedules, targets and rule examples, each
reported at the file, line and column a user has to edit (DESIGN §2, §3)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from services.cli.check import run_check
from services.common.config import Problem, load_config
from services.common.config.check import check_config
from services.common.settings import Settings
from tests.conftest import ROOT


def _problems(folder: Path, files: dict[str, str]) -> list[Problem]:
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    config, problems = load_config(folder, env={})
    return problems + check_config(config)


def _lines(problems: list[Problem], folder: Path) -> list[str]:
    """As `wirewatch check` prints them (in file order), paths relative to the folder."""
    ordered = sorted(problems, key=lambda p: (str(p.path), p.line, p.col))
    return [str(p).replace(f"{folder}/", "") for p in ordered]


def test_example_config_is_clean() -> None:
    config, problems = load_config(ROOT / "rules", env={})
    assert problems + check_config(config) == []


@pytest.mark.parametrize(
    ("yaml", "where"),
    [
        # plain scalar: the query starts at column 12
        ('rules:\n  - id: r\n    query: Russia AND "North Korea military\n', "3:23"),
        ("rules:\n  - id: r\n    query: a AND\n", "3:17"),  # just past the end
        # double-quoted: columns count from after the quote; \" is one character
        ('rules:\n  - id: r\n    query: "Russia AND (navy OR"\n', "3:24"),
        ('rules:\n  - id: r\n    query: "\\"North Korea\\" military"\n', "3:29"),
        # single-quoted: '' is one character
        ("rules:\n  - id: r\n    query: 'it''s AND @nope'\n", "3:23"),
        # folded block: the error is on the third line of the block
        (
            "rules:\n  - id: r\n    query: >\n      Russia AND\n      (military OR arms) AND\n"
            '      "North Korea" navy\n',
            "6:21",
        ),
        # literal block, indented more inside
        ("rules:\n  - id: r\n    query: |\n      Russia AND\n        @dprk\n", "5:9"),
        # a plain scalar folded over two lines
        ("rules:\n  - id: r\n    query: Russia AND\n      (navy OR)\n", "4:15"),
    ],
)
def test_query_errors_point_into_the_file(tmp_path: Path, yaml: str, where: str) -> None:
    (problem,) = _problems(tmp_path, {"rules.yaml": yaml})
    assert str(problem).startswith(f"{tmp_path}/rules.yaml:{where}: rule r: ")


def test_define_errors_at_the_define_and_at_each_use(tmp_path: Path) -> None:
    lines = _lines(
        _problems(
            tmp_path,
            {
                "a.yaml": "define:\n  dprk: North Korea OR\n  neg: NOT sport\n"
                "  loop: x OR @loop2\n  loop2: '@loop'\n",
                "b.yaml": "rules:\n  - id: r\n    query: Russia AND @dprk\n"
                "  - id: s\n    query: Russia AND @neg\n  - id: t\n    query: x AND @missing\n"
                "  - id: u\n    query: '@loop'\n",
            },
        ),
        tmp_path,
    )
    assert "a.yaml:2:23: define dprk: OR needs a term after it" in lines
    assert not any("define neg" in line or "rule s" in line for line in lines)  # NOT-only is fine
    assert any(
        line.startswith("a.yaml:4:14: define loop: in @loop2 (column 1): cyclic @loop")
        for line in lines
    )
    assert any(line.startswith("b.yaml:3:23: rule r: in @dprk (column 15)") for line in lines)
    assert "b.yaml:7:18: rule t: undefined @missing: add it under define:" in lines
    assert any(line.startswith("b.yaml:9:13: rule u: in @loop") for line in lines)


def test_lowercase_operators_are_warnings(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        {
            "r.yaml": "define:\n  pets: cats or dogs\nrules:\n  - id: r\n    query: Russia and China\n"
        },
    )
    assert [(p.line, p.col, p.severity) for p in problems] == [
        (2, 14, "warning"),
        (5, 19, "warning"),
    ]
    assert str(problems[1]).endswith(
        '"and" is an ordinary word here, not an operator: write AND to'
        ' combine terms, or quote the phrase ("… and …") to keep the word'
    )
    assert "warning: rule r:" in str(problems[1])


def test_bad_schedule_and_target_show_only_the_redacted_url(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        {
            "s.yaml": "rules:\n  - id: r\n    query: x\nsubscriptions:\n  - id: desk\n"
            "    rules: [r]\n    notify:\n      - console://\n"
            "      - nosuchscheme://alice:s3cr3t@hooks.example.org/T0KEN\n"
            "    digest: daily 25:00 Asia/Seoul\n"
        },
    )
    text = _lines(problems, tmp_path)
    assert text[0].startswith(
        "s.yaml:9:9: subscription desk: target desk#2 (nosuchscheme://hooks.example.org)"
    )
    assert text[1].startswith("s.yaml:10:19: subscription desk: bad digest: bad time '25:00'")
    assert not any("s3cr3t" in line or "T0KEN" in line or "alice" in line for line in text)


def test_rule_examples_are_run(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        {
            "r.yaml": "rules:\n  - id: r\n    query: Russia AND (military OR weapon*)\n"
            "    examples:\n      match:\n        - Russia ships weapons\n"
            "        - Russia and China talk trade\n"
            "      no_match:\n        - Russian military drills\n        - Russian navy\n"
            "        - '<b>Russia</b> military'\n"
        },
    )
    lines = _lines(problems, tmp_path)
    assert len(lines) == 2
    assert lines[0].startswith(
        'r.yaml:7:11: rule r: example "Russia and China talk trade" is listed under match:'
    )
    assert "((military OR weapon*) did not hold)" in lines[0]
    assert lines[1].startswith(
        'r.yaml:11:11: rule r: example "<b>Russia</b> military" is listed under no_match:'
    )


def test_every_file_in_one_run(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        {
            "a.yaml": "rules:\n  - id: a\n    query: (x\n",
            "b.yaml": "rules:\n  - id: b\n    query: x y*z\n",
            "c.yaml": "rules:\n  - id: c\n    query: title: x\n",
        },
    )
    assert sorted(p.path.name for p in problems if p.severity == "error") == [
        "a.yaml",
        "b.yaml",
        "c.yaml",
    ]


def test_check_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.yaml").write_text("rules:\n  - id: r\n    query: cats and dogs\n")
    assert run_check(argparse.Namespace(), Settings(config=tmp_path)) == 0  # warnings only
    out = capsys.readouterr().out
    assert out.startswith(f"{tmp_path}/r.yaml:3:17: warning: rule r:")
    (tmp_path / "s.yaml").write_text("rules:\n  - id: s\n    query: NOT x\n")
    assert run_check(argparse.Namespace(), Settings(config=tmp_path)) == 1
    captured = capsys.readouterr()
    assert f"{tmp_path}/s.yaml:3:12: rule s: no positive term" in captured.out
    assert "1 error(s)" in captured.err
