"""`wirewatch check`: validate the config folder, `path:line:col: message`, exit 1 on errors."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from services.cli.common import EXIT_FAILED, EXIT_OK, add_command, config_problems
from services.common.settings import Settings


def register(sub: Any) -> None:
    add_command(sub, "check", "validate the config folder; exit 1 on errors", run_check)


def run_check(args: argparse.Namespace, settings: Settings) -> int:
    """Print every problem (errors and warnings) in file order, then a one-line verdict."""
    config, problems = config_problems(settings)
    for problem in sorted(problems, key=lambda p: (str(p.path), p.line, p.col)):
        print(problem)
    errors = sum(p.severity == "error" for p in problems)
    if errors:
        print(f"{errors} error(s) in {settings.config}", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"ok: {len(config.feeds)} feeds, {len(config.rules)} rules, "
        f"{len(config.subscriptions)} subscriptions in {settings.config}",
        file=sys.stderr,
    )
    return EXIT_OK
