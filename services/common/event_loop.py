"""Which asyncio event loop the services run on: uvloop when it is installed.

The poller's budget at 10,000 feeds is ~100 µs of CPU per poll, and on the stock loop the
loop alone (selector, handles, futures) costs more than that for a kept-alive HTTP exchange
plus its Redis round trips; uvloop (libuv, the loop of uvicorn's `standard` extra) does the
same work ~5x cheaper. Everything here is plain asyncio, so the stock loop still works where
uvloop has no build (Windows), and the test suite runs on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run"]

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`, on uvloop when available."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
