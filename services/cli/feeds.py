"""`wirewatch feeds`: each feed's health as the pollers recorded it."""

from __future__ import annotations

import argparse
from typing import Any

from services.cli.common import add_command, load_valid_config
from services.common import event_loop
from services.common.settings import Settings


def register(sub: Any) -> None:
    parser = add_command(sub, "feeds", "show each feed's health", run_feeds)
    parser.add_argument("--json", action="store_true", help="one JSON object per feed")


def run_feeds(args: argparse.Namespace, settings: Settings) -> int:
    from services.poller.report import print_feeds

    config = load_valid_config(settings)
    return event_loop.run(print_feeds(settings, config, as_json=args.json))
