"""Fixtures shared by the fault-injection tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.harness import PrivateRedis


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A private redis-server with AOF (appendfsync always) on a free port, stopped after."""
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()
