"""Hot reload of the rules: watch the config folder; on a change, load, check, then swap or keep.

The folder is polled once a second for the names, sizes and modification times of its `*.yaml`
files: portable (any file system, bind mounts and network shares included, where inotify is
not), and cheap next to matching. A change is acted on once the folder has been quiet for a
moment (editors write a file in several steps). A config with any error is rejected whole: the
problems are logged as `wirewatch check` prints them, `wirewatch_config_reload_errors` counts
the rejection, and the last good rules stay live (DESIGN §1, §5). A good one replaces the live
rule set in one assignment (`MatcherService.swap_rules`), so each batch sees one set or the
other. Loading, checking and indexing run in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from services.common.config import Problem, load_config
from services.common.config.check import check_config
from services.common.metrics import CONFIG_RELOAD_ERRORS
from services.matcher.query import Query
from services.matcher.rules import RuleSet, compile_rules
from services.matcher.service import MatcherService

__all__ = ["folder_state", "load_rule_set", "watch_rules"]

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
QUIET_SECONDS = 0.3  # a change counts once the folder has looked the same for this long

FolderState = frozenset[tuple[str, int, int]]


def folder_state(folder: Path) -> FolderState:
    """Name, size and modification time (ns) of each `*.yaml` file: equal states, equal config."""
    state = set()
    try:
        for path in folder.glob("*.yaml"):
            with contextlib.suppress(OSError):  # deleted between listing and stat
                info = path.stat()
                state.add((path.name, info.st_size, info.st_mtime_ns))
    except OSError:
        return frozenset()
    return frozenset(state)


def load_rule_set(folder: Path) -> tuple[RuleSet | None, list[Problem]]:
    """The folder's rules, indexed and ready to swap in; None (and the problems) if it has errors."""
    config, problems = load_config(folder)
    parsed: dict[str, Query] = {}
    problems += check_config(config, parsed=parsed)
    if any(problem.severity == "error" for problem in problems):
        return None, problems
    rules, _ = compile_rules(config, parsed=parsed)
    return RuleSet(rules), problems


async def watch_rules(
    service: MatcherService,
    settings_config_dir: Path,
    stop: asyncio.Event,
    *,
    poll_seconds: float = POLL_SECONDS,
) -> None:
    """Keep `service`'s rules in step with the folder until `stop` is set."""
    folder = settings_config_dir
    state = folder_state(folder)
    log.info("rules.watching folder=%s rules=%d", folder, len(service.rule_set))
    while not await _stopped(stop, poll_seconds):
        current = folder_state(folder)
        if current == state:
            continue
        current = await _settled(folder, current, stop)
        state = current
        await reload_once(service, folder)


async def reload_once(service: MatcherService, folder: Path) -> bool:
    """Load and check the folder now; swap the rules in if it is good. True when swapped."""
    rule_set, problems = await asyncio.to_thread(load_rule_set, folder)
    if rule_set is None:
        errors = [problem for problem in problems if problem.severity == "error"]
        CONFIG_RELOAD_ERRORS.inc()
        log.error(
            "rules.reload_rejected folder=%s errors=%d live_rules=%d",
            folder,
            len(errors),
            len(service.rule_set),
        )
        for problem in errors:
            log.error("rules.problem %s", problem)
        return False
    service.swap_rules(rule_set)
    log.info("rules.reloaded folder=%s rules=%d", folder, len(rule_set))
    return True


async def _settled(folder: Path, state: FolderState, stop: asyncio.Event) -> FolderState:
    """Wait until the folder stops changing (an editor's save is often several writes)."""
    while not await _stopped(stop, QUIET_SECONDS):
        later = folder_state(folder)
        if later == state:
            break
        state = later
    return state


async def _stopped(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`; True as soon as `stop` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
