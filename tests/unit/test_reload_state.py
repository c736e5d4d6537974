"""What hot reload decides from: the folder's state, and whether a folder yields a rule set."""

from __future__ import annotations

import os
from pathlib import Path

from services.matcher.reload import folder_state, load_rule_set


def test_folder_state_sees_edits_new_and_removed_files(tmp_path: Path) -> None:
    first = tmp_path / "a.yaml"
    first.write_text("rules: []\n")
    (tmp_path / "notes.txt").write_text("not config")
    state = folder_state(tmp_path)
    assert folder_state(tmp_path) == state
    (tmp_path / "notes.txt").write_text("still not config, longer")
    assert folder_state(tmp_path) == state  # only *.yaml counts
    first.write_text("rules: [] \n")
    edited = folder_state(tmp_path)
    assert edited != state
    info = first.stat()
    os.utime(first, ns=(info.st_atime_ns, info.st_mtime_ns + 1))  # same size, touched
    assert folder_state(tmp_path) != edited
    (tmp_path / "b.yaml").write_text("")
    added = folder_state(tmp_path)
    assert len(added) == 2
    (tmp_path / "b.yaml").unlink()
    assert len(folder_state(tmp_path)) == 1
    assert folder_state(tmp_path / "missing") == frozenset()


def test_load_rule_set_refuses_a_config_with_errors(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("rules:\n  - id: a\n    query: cats and dogs\n")
    rule_set, problems = load_rule_set(tmp_path)
    assert rule_set is not None and len(rule_set) == 1
    assert [p.severity for p in problems] == ["warning"]  # warnings do not block a reload
    (tmp_path / "s.yaml").write_text("rules:\n  - id: b\n    query: NOT x\n")
    rule_set, problems = load_rule_set(tmp_path)
    assert rule_set is None
    assert any("rule b: no positive term" in str(p) for p in problems)
