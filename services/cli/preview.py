"""`wirewatch preview SUBSCRIPTION [--config DIR] [--html FILE]`: the digest that would go out now.

Reads the subscription's pending items and sent-ledger exactly as a send would (dedup against
what each target already has, same-story grouping, max_items, highlighting) and prints the
chat (Markdown) version to stdout; `--html FILE` writes the email version. It sends nothing and
changes no digest state. Targets are shown as `SUBSCRIPTION#N` with scheme and host only.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.cli.common import EXIT_OK, UserError, add_command, load_valid_config
from services.common import event_loop
from services.common.config import Config
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.notifier.pipeline import Notifier, TargetPlan
from services.notifier.render import digest_title, render_html, render_markdown
from services.notifier.subscriptions import Subscription


def register(sub: Any) -> None:
    parser = add_command(
        sub, "preview", "show the digest a subscription would send now (sends nothing)", _cmd
    )
    parser.add_argument("subscription", metavar="SUBSCRIPTION", help="a subscription id")
    parser.add_argument(
        "--html",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write the email (HTML) to FILE",
    )


def _cmd(args: argparse.Namespace, settings: Settings) -> int:
    config = load_valid_config(settings)
    if config.subscription(args.subscription) is None:
        known = ", ".join(sorted(s.id for s in config.subscriptions)) or "(none)"
        raise UserError(
            f"unknown subscription '{args.subscription}' in {settings.config}: "
            f"known subscriptions are {known}"
        )
    return event_loop.run(_preview(settings, config, args.subscription, args.html))


async def _preview(settings: Settings, config: Config, sub_id: str, html: Path | None) -> int:
    from services.notifier.app import build_notifier

    runtime = await Runtime.open(settings)
    try:
        notifier = build_notifier(runtime, config)
        sub = notifier.subscription(sub_id)
        assert sub is not None  # checked against the same config above
        now = datetime.now(UTC)
        items = await notifier.pending.items(sub.id)
        plans = [
            await notifier.plan_target(sub, i, items, now) for i in range(len(sub.config.notify))
        ]
        await _describe(notifier, sub, len(items), plans, now)
    finally:
        await runtime.close()
    _print_digests(plans)
    if html is not None:
        _write_html(html, plans, sub)
    return EXIT_OK


async def _describe(
    notifier: Notifier, sub: Subscription, pending: int, plans: list[TargetPlan], now: datetime
) -> None:
    """What the subscription is and where it stands, on stderr (stdout carries the digest)."""
    when = "as soon as items arrive"
    if not sub.schedule.is_immediate:
        stored = await notifier.due_times.get(sub.id)
        when = (
            f"next due {_local(stored.due, sub)}"
            if stored is not None
            else "first due time set when the notifier first runs"
        )
    _note(f"{sub.id}: digest {sub.schedule} ({when}); {pending} pending article(s)")
    for plan in plans:
        url = sub.config.notify[plan.index]
        state = f"{len(plan.todo)} article(s) to send"
        if plan.late:
            state += f", {len(plan.late)} skipped (their story was already delivered)"
        if plan.retry_at is not None:
            retry = datetime.fromtimestamp(plan.retry_at, UTC)
            state += f"; failed before, next retry {_local(max(retry, now), sub)}"
        _note(f"  {plan.name} {url.redacted()}: {state}")
    if not sub.config.notify:
        _note("  (no targets: nothing is ever sent)")


def _print_digests(plans: list[TargetPlan]) -> None:
    """One block per distinct digest, naming the targets that would get it."""
    groups: dict[frozenset[str], list[TargetPlan]] = {}
    for plan in plans:
        if plan.digest is not None:
            groups.setdefault(frozenset(i.article.id for i in plan.todo), []).append(plan)
    if not groups:
        _note("nothing to send now")
        return
    for same in groups.values():
        first = same[0]
        assert first.digest is not None
        names = ", ".join(p.name for p in same)
        print(f"===== {digest_title(first.digest)} (for {names}) =====")
        print(render_markdown(first.digest, highlight=first.highlight))
        print()


def _write_html(path: Path, plans: list[TargetPlan], sub: Subscription) -> None:
    """The email version: of the first email target with something to send, else the first."""
    candidates = [p for p in plans if p.digest is not None]
    emails = [p for p in candidates if sub.config.notify[p.index].redacted().startswith("mailto")]
    chosen = next(iter(emails or candidates), None)
    if chosen is None or chosen.digest is None:
        _note(f"nothing to send now: {path} not written")
        return
    try:
        path.write_text(render_html(chosen.digest, highlight=chosen.highlight), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from exc
    _note(f"wrote the email version (for {chosen.name}) to {path}")


def _local(moment: datetime, sub: Subscription) -> str:
    return moment.astimezone(sub.schedule.zone).strftime("%Y-%m-%d %H:%M %Z")


def _note(line: str) -> None:
    print(line, file=sys.stderr)
