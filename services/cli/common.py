"""What the commands share: exit codes, the user-error type, and loading a config that must be valid."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.common.config import Config, Problem, load_config
from services.common.config.check import check_config
from services.common.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
Handler = Callable[[argparse.Namespace, Settings], int]


class UserError(Exception):
    """A problem the user can fix; printed as one line (or one line per problem), exit 2."""


def add_command(
    sub: Any, name: str, help_text: str, handler: Handler, *, config: bool = True
) -> argparse.ArgumentParser:
    """A subcommand with the shared `--config DIR` option."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
    if config:
        parser.add_argument(
            "--config", type=Path, default=None, help="config folder (default: rules/)"
        )
    parser.set_defaults(handler=handler)
    return parser


def config_problems(settings: Settings) -> tuple[Config, list[Problem]]:
    """Everything wrong with the config: structure, references, queries, schedules, targets and
    rule examples (errors and warnings), for every file in one run."""
    config, problems = load_config(settings.config)
    return config, problems + check_config(config)


def load_valid_config(settings: Settings) -> Config:
    """The config, or UserError listing every error (a service never starts on a broken config)."""
    config, problems = config_problems(settings)
    errors = [p for p in problems if p.severity == "error"]
    if len(errors) == 1:
        raise UserError(str(errors[0]))
    if errors:
        listing = "\n".join(str(p) for p in errors)
        raise UserError(f"{len(errors)} problems in {settings.config}:\n{listing}")
    return config
