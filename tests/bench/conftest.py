"""Benchmarks run on the event loop the services run on (`services/common/event_loop.py`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
import uvloop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], Any]]:
    """uvloop for every async benchmark here: measuring on the stock loop would not be what
    `wirewatch run` does."""
    return {"uvloop": uvloop.new_event_loop}
