"""The `wirewatch` command: one entry point for running services and the config tools (DESIGN §6).

Each command lives in its own module under `services/cli/` and registers itself through
`register(subparsers)`. Every user-facing failure ends as one clear line on stderr and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from services.cli import check, dead, feeds, match, preview, run, schema, test_rule
from services.cli.common import EXIT_USAGE, UserError
from services.common.embedded import EmbeddedEngineError
from services.common.logging import configure_logging
from services.common.redis import RedisUnavailableError
from services.common.settings import Settings

COMMAND_MODULES = (run, check, feeds, dead, preview, match, test_rule, schema)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, build the one Settings object, dispatch, and turn user errors into one line."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "WIREWATCH_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        print(f"wirewatch: bad setting {field}: {first['msg']}", file=sys.stderr)
        return EXIT_USAGE
    if getattr(args, "config", None) is not None:
        settings.config = args.config
    configure_logging(settings.log_level)
    try:
        result: int = args.handler(args, settings)
        return result
    except (UserError, RedisUnavailableError, EmbeddedEngineError) as exc:
        print(f"wirewatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wirewatch", description="Self-hosted news alerts.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser
