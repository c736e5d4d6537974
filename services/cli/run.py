"""`wirewatch run` and the single-service commands (`poller`, `matcher`, `notifier`).

`run --once` polls every feed once, lets matcher and notifier drain the streams, sends what is
due, and exits 0, or 1 when a feed or a delivery target failed (DESIGN §6 "Contract details").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.exceptions import RedisError

from services.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Handler,
    UserError,
    add_command,
    load_valid_config,
)
from services.common import event_loop
from services.common.config import Config
from services.common.health import HealthBindError, HealthServer, Probe
from services.common.redis import group_backlog
from services.common.runtime import Runtime, stop_consuming
from services.common.settings import Settings
from services.common.trim import run_trimming, trim_streams

log = logging.getLogger("wirewatch")
DRAIN_TIMEOUT = 300.0
SHUTDOWN_SECONDS = 5.0  # after SIGTERM: in-flight work gets this long (DESIGN §5: exit within 10 s)


def register(sub: Any) -> None:
    run = add_command(sub, "run", "run poller, matcher and notifier in one process", _cmd_run)
    run.add_argument("--once", action="store_true", help="poll every feed once, deliver, exit")
    run.add_argument("--flush", action="store_true", help="make every pending digest due now")
    for service in ("poller", "matcher", "notifier"):
        add_command(
            sub, service, f"run the {service} service alone (for containers)", _cmd_service(service)
        )


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    config = load_valid_config(settings)
    return event_loop.run(
        _run(
            settings,
            config,
            services=("poller", "matcher", "notifier"),
            once=args.once,
            flush=args.flush,
        )
    )


def _cmd_service(name: str) -> Handler:
    def handler(args: argparse.Namespace, settings: Settings) -> int:
        config = load_valid_config(settings)
        return event_loop.run(_run(settings, config, services=(name,), once=False, flush=False))

    return handler


async def _run(
    settings: Settings, config: Config, *, services: tuple[str, ...], once: bool, flush: bool
) -> int:
    from services.matcher.app import create_matcher
    from services.matcher.reload import watch_rules
    from services.notifier.app import create_notifier, run_digests
    from services.poller.app import PollerApp

    stop = asyncio.Event()
    health: HealthServer | None = None
    if not once:  # `--once` serves no HTTP: parallel runs must not fight over the port
        health = _bind_health(settings.http_port, settings.http_host)
        loop = asyncio.get_running_loop()  # SIGTERM during start-up still means "stop"
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    try:
        runtime = await Runtime.open(settings)
    except BaseException:
        if health is not None:
            await health.stop()
        raise
    probe = Probe(runtime.client, runtime.keys)
    poller = PollerApp(runtime, config.feeds, settings.config) if "poller" in services else None
    matcher = create_matcher(runtime, config) if "matcher" in services else None
    notifier = create_notifier(runtime, config) if "notifier" in services else None
    try:
        if health is not None:
            await health.start(probe)
        await runtime.broker.start()
        if once:
            return await _run_once(runtime, poller, notifier, flush=flush)
        probe.mark_started()
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
        if matcher is not None:  # edits to rules/ go live; a broken edit keeps the last good rules
            jobs.append(watch_rules(matcher, settings.config, stop))
        if matcher is not None or notifier is not None:  # hosts a consumer: keeps streams bounded
            jobs.append(
                run_trimming(
                    runtime.client,
                    runtime.keys,
                    stop,
                    retention=timedelta(hours=runtime.settings.stream_retention_hours),
                )
            )
        return await _serve_until_stopped(runtime, jobs, stop)
    finally:
        if poller is not None:
            await poller.close()
        if health is not None:
            await health.stop()
        with contextlib.suppress(Exception):
            await runtime.close()


def _bind_health(port: int, host: str) -> HealthServer:
    """Take the health port first: a taken port is one clear line (exit 2) before anything starts."""
    health = HealthServer(port=port, host=host)
    try:
        health.bind()
    except HealthBindError as exc:
        raise UserError(
            f"cannot serve /healthz, /readyz, /metrics on {exc.strerror} "
            f"(WIREWATCH_HTTP_PORT={port}): free the port or choose another (0 picks a free one)"
        ) from exc
    return health


async def _serve_until_stopped(
    runtime: Runtime, jobs: list[Coroutine[Any, Any, object]], stop: asyncio.Event
) -> int:
    """Run the service loops until SIGTERM/SIGINT, then stop within SHUTDOWN_SECONDS.

    On stop: consumers stop reading (an in-flight batch finishes or stays pending for a
    reclaimer), loops finish their current step; what has not finished in time is cancelled —
    nothing is lost, because everything that matters is acked or recorded in Redis only after
    it is done.
    """
    before = asyncio.all_tasks()
    tasks = [asyncio.create_task(job) for job in jobs]
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    log.info("service.stopping")
    _, late = await asyncio.wait(
        [*tasks, asyncio.create_task(stop_consuming(runtime.broker))], timeout=SHUTDOWN_SECONDS
    )
    # Also what the loops started and left running (e.g. a fetch still in flight): cancelled
    # now, before clients close under it, so it ends as "cancelled", not as a feed error.
    stragglers = asyncio.all_tasks() - before - {asyncio.current_task()}
    late |= {t for t in stragglers if not t.done()}
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    crashed = [t for t in tasks if not t.cancelled() and t.exception() is not None]
    for task in crashed:
        log.error("service.crashed", exc_info=task.exception())
    log.info("service.stopped")
    return EXIT_FAILED if crashed else EXIT_OK


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
    with contextlib.suppress(RedisError, OSError):  # bounded streams for cron-driven --once too
        await trim_streams(
            runtime.client,
            runtime.keys,
            now=datetime.now(UTC),
            retention=timedelta(hours=runtime.settings.stream_retention_hours),
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
