"""FastStream's own log records go through our handler: JSON off a TTY, secrets redacted."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator

import pytest

from services.common.broker import make_broker
from services.common.logging import configure_logging

pytestmark = pytest.mark.integration
SECRET_URL = "https://bot:tok3n-s3cret@hooks.example.org/services/T000/B000/XXXXsecretpath"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_broker_errors_are_json_and_redacted(
    redis_url: str, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure_logging("INFO", json_output=True)
    stream = f"t-{uuid.uuid4().hex[:10]}:logs"
    broker = make_broker(redis_url)
    failed = asyncio.Event()

    async def handle(message: dict[str, object]) -> None:
        failed.set()
        raise RuntimeError(f"target refused: {SECRET_URL}")

    broker.subscriber(stream=stream)(handle)
    await broker.start()
    err = ""
    try:
        await broker.publish({"n": 1}, stream=stream)
        await asyncio.wait_for(failed.wait(), 10)
        for _ in range(100):  # the error is logged right after the handler raises
            err += capsys.readouterr().err
            if '"wirewatch.broker"' in err:
                break
            await asyncio.sleep(0.05)
    finally:
        await broker.stop()
    err += capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in lines)
    from_broker = [r for r in lines if r["logger"] == "wirewatch.broker"]
    assert from_broker, f"no FastStream record reached our handler: {err}"
    assert any(r["level"] == "error" for r in from_broker)
    assert "tok3n" not in err and "secretpath" not in err
