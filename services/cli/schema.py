"""`wirewatch schema`: print the JSON Schema of a config file, for editors.

Save it and point the YAML language server at it, e.g. in VS Code or any editor using
yaml-language-server: `# yaml-language-server: $schema=./wirewatch.schema.json` atop a file.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from services.cli.common import EXIT_OK, add_command
from services.cli.match import silence_stdout
from services.common.config.schema import config_schema
from services.common.settings import Settings


def register(sub: Any) -> None:
    add_command(
        sub,
        "schema",
        "print the JSON Schema of the rules/*.yaml files (for editor validation and completion)",
        run_schema,
        config=False,
    )


def run_schema(args: argparse.Namespace, settings: Settings) -> int:
    """The schema as indented JSON on stdout."""
    text = json.dumps(config_schema(), indent=2, ensure_ascii=False) + "\n"
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `wirewatch schema | head`
        silence_stdout()
    return EXIT_OK
