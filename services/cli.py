"""The `wirewatch` command: one entry point for running services and the config tools (DESIGN §6).

Every user-facing failure ends as one clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from services.common.config import Config, Problem, load_config
from services.common.embedded import EmbeddedEngineError
from services.common.logging import configure_logging
from services.common.redis import RedisUnavailableError, group_backlog
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.matcher.rules import compile_rules
from services.notifier.subscriptions import resolve_subscriptions

log = logging.getLogger("wirewatch")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DRAIN_TIMEOUT = 300.0


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit 2."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wirewatch", description="Self-hosted news alerts.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, help_text: str, handler: object) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--config", type=Path, default=None, help="config folder (default: rules/)")
        p.set_defaults(handler=handler)
        return p

    run = command("run", "run poller, matcher and notifier in one process", _cmd_run)
    run.add_argument("--once", action="store_true", help="poll every feed once, deliver, exit")
    run.add_argument("--flush", action="store_true", help="make every pending digest due now")
    for service in ("poller", "matcher", "notifier"):
        command(service, f"run the {service} service alone (for containers)", _cmd_service(service))
    command("check", "validate the config folder; exit 1 on errors", _cmd_check)
    feeds = command("feeds", "show each feed's health", _cmd_feeds)
    feeds.add_argument("--json", action="store_true", help="one JSON object per feed")
    return parser


def load_valid_config(settings: Settings) -> Config:
    """The config, or UserError listing every problem (a service never starts on a broken config)."""
    config, problems = load_config(settings.config)
    problems += _semantic_problems(config)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        if len(errors) == 1:
            raise UserError(str(errors[0]))
        listing = "\n".join(str(p) for p in errors)
        raise UserError(f"{len(errors)} problems in {settings.config}:\n{listing}")
    return config


def _semantic_problems(config: Config) -> list[Problem]:
    """Query and schedule errors, which need the matcher's and notifier's parsers."""
    _, problems = compile_rules(config)
    _, schedule_errors = resolve_subscriptions(config)
    for sub, err in schedule_errors:
        if sub.pos is not None:
            problems.append(
                Problem.at(sub.pos, f"subscription {sub.id}: bad digest: {err.message}")
            )
    return problems


def _cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    config, problems = load_config(settings.config)
    problems += _semantic_problems(config)
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


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    config = load_valid_config(settings)
    return asyncio.run(
        _run(
            settings,
            config,
            services=("poller", "matcher", "notifier"),
            once=args.once,
            flush=args.flush,
        )
    )


def _cmd_service(name: str) -> object:
    def handler(args: argparse.Namespace, settings: Settings) -> int:
        config = load_valid_config(settings)
        return asyncio.run(_run(settings, config, services=(name,), once=False, flush=False))

    return handler


async def _run(
    settings: Settings, config: Config, *, services: tuple[str, ...], once: bool, flush: bool
) -> int:
    from services.matcher.app import create_matcher
    from services.notifier.app import create_notifier, run_digests
    from services.poller.app import PollerApp

    runtime = await Runtime.open(settings)
    poller = PollerApp(runtime, config.feeds, settings.config) if "poller" in services else None
    matcher = create_matcher(runtime, config) if "matcher" in services else None
    notifier = create_notifier(runtime, config) if "notifier" in services else None
    try:
        await runtime.broker.start()
        if once:
            return await _run_once(runtime, poller, notifier, flush=flush)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        log.info(
            "service.started services=%s feeds=%d rules=%d",
            ",".join(services),
            len(config.feeds),
            len(matcher.rules) if matcher else 0,
        )
        jobs: list[Coroutine[Any, Any, object]] = []
        if poller is not None:
            jobs.append(poller.run(stop))
        if notifier is not None:
            jobs.append(run_digests(notifier, stop))
        jobs.append(stop.wait())
        await asyncio.gather(*jobs)
        log.info("service.stopping")
        return EXIT_OK
    finally:
        if poller is not None:
            await poller.close()
        with contextlib.suppress(Exception):
            await runtime.close()


async def _run_once(runtime: Runtime, poller: object, notifier: object, *, flush: bool) -> int:
    from services.notifier.pipeline import Notifier
    from services.poller.app import PollerApp

    assert isinstance(poller, PollerApp) and isinstance(notifier, Notifier)
    outcomes = await poller.poll_all()
    failed_feeds = [o for o in outcomes if o.error]
    for o in failed_feeds:
        print(f"wirewatch: feed {o.feed}: {o.error}", file=sys.stderr)
    await _drain(runtime)
    results = await notifier.send_due(datetime.now(UTC), force_immediate=True, flush=flush)
    failed_targets = [r for r in results if not r.ok]
    for r in failed_targets:
        print(
            f"wirewatch: delivery to {r.target} failed: {r.error}; its items stay pending",
            file=sys.stderr,
        )
    new = sum(o.new for o in outcomes)
    sent = sum(r.items for r in results if r.ok)
    print(
        f"wirewatch: polled {len(outcomes)} feeds, {new} new articles, "
        f"{sent} items delivered to {sum(r.ok for r in results)} targets",
        file=sys.stderr,
    )
    return EXIT_FAILED if failed_targets or failed_feeds else EXIT_OK


async def _drain(runtime: Runtime) -> None:
    """Wait until matcher and notifier have acked everything published so far."""
    keys = runtime.keys
    deadline = asyncio.get_running_loop().time() + DRAIN_TIMEOUT
    quiet = 0
    while quiet < 2:
        articles = await group_backlog(runtime.client, keys.articles, keys.matcher_group)
        matches = await group_backlog(runtime.client, keys.matches, keys.notifier_group)
        quiet = quiet + 1 if articles.idle and matches.idle else 0
        if asyncio.get_running_loop().time() > deadline:
            raise UserError(
                f"streams did not drain in {DRAIN_TIMEOUT:.0f}s (articles lag {articles.lag}, "
                f"pending {articles.pending}; matches lag {matches.lag}, pending {matches.pending})"
            )
        await asyncio.sleep(0.05)


def _cmd_feeds(args: argparse.Namespace, settings: Settings) -> int:
    from services.poller.report import print_feeds

    config = load_valid_config(settings)
    return asyncio.run(print_feeds(settings, config, as_json=args.json))


if __name__ == "__main__":
    raise SystemExit(main())
