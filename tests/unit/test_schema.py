"""The JSON Schema that editors use: it accepts the example config, rejects what the loader
rejects as a wrong key, and names exactly the keys the loader knows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from services.common.config.load import FEED_KEYS, RULE_KEYS, SUB_KEYS, TOP_KEYS
from services.common.config.schema import config_schema
from tests.conftest import ROOT

WIREWATCH = str(Path(sys.executable).parent / "wirewatch")


def _validator() -> jsonschema.Draft202012Validator:
    schema = config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _yaml(text: str) -> Any:
    return YAML(typ="safe").load(text)


@pytest.mark.parametrize("path", sorted((ROOT / "rules").glob("*.yaml")), ids=lambda p: p.name)
def test_example_config_is_valid(path: Path) -> None:
    errors = list(_validator().iter_errors(_yaml(path.read_text(encoding="utf-8"))))
    assert errors == []


@pytest.mark.parametrize(
    "text",
    [
        "colour: red\n",
        "rules:\n  - id: r\n    query: x\n    colour: red\n",
        "feeds:\n  - id: f\n    url: x.xml\n    every: 2 weeks\n",
        "rules:\n  - id: r\n",  # no query
        "rules:\n  - id: bad id\n    query: x\n",
        "rules:\n  - id: r\n    query: x\n    examples:\n      maybe: [y]\n",
        "subscriptions:\n  - id: s\n    rules: [r]\n    notify: [console://]\n    max_items: 0\n",
    ],
)
def test_wrong_files_are_rejected(text: str) -> None:
    assert list(_validator().iter_errors(_yaml(text))), text


def test_schema_knows_exactly_the_loaders_keys() -> None:
    schema = config_schema()
    defs = schema["$defs"]
    assert set(schema["properties"]) == set(TOP_KEYS)
    assert set(defs["feed"]["properties"]) == FEED_KEYS
    assert set(defs["rule"]["properties"]) == RULE_KEYS
    assert set(defs["subscription"]["properties"]) == SUB_KEYS


def test_schema_command_prints_it() -> None:
    done = subprocess.run([WIREWATCH, "schema"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == config_schema()
