"""wirewatch services as local processes, the way the compose file starts them: start one, find
its health port in its log, ask `/readyz` and `/metrics`, stop it with SIGTERM.

Waits are bounded and fail with what the process logged, never a bare timeout.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client.parser import text_string_to_metric_families

T = TypeVar("T")
START_TIMEOUT = 45.0


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, why: Callable[[], str]) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` and `why()` if not."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s\n{why()}")
        time.sleep(0.1)


class ServiceProcess:
    """One `wirewatch <service>` subprocess with its stdout/stderr in files."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self._out = cwd / f"{name}.stdout"
        self._err = cwd / f"{name}.stderr"
        with self._out.open("wb") as out, self._err.open("wb") as err:
            self.proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err)
        self._port: int | None = None

    def stderr(self) -> str:
        return self._err.read_text(encoding="utf-8", errors="replace")

    def stdout(self) -> str:
        return self._out.read_text(encoding="utf-8", errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        """Every stderr line parsed as JSON (it is not a TTY, so every line must be JSON)."""
        records = []
        for line in self.stderr().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError as exc:
                raise AssertionError(f"{self.name}: log line is not JSON: {line!r}") from exc
        return records

    def describe(self) -> str:
        code = self.proc.poll()
        state = "running" if code is None else f"exited {code}"
        return f"--- {self.name} ({state}) stderr:\n{self.stderr()[-4000:]}"

    @property
    def port(self) -> int:
        """The health port it bound (WIREWATCH_HTTP_PORT=0), read from its `health.listening` log."""
        if self._port is None:

            def find() -> int | None:
                if self.proc.poll() is not None:
                    raise AssertionError(f"{self.name} exited early\n{self.describe()}")
                for line in self.stderr().splitlines():
                    if "health.listening" in line:
                        message = json.loads(line)["message"]
                        return int(message.rsplit("port=", 1)[1].split()[0])
                return None

            self._port = wait_for(f"{self.name} health port", find, START_TIMEOUT, self.describe)
        return self._port

    def get(self, path: str) -> tuple[int, str]:
        """(status, body) of GET http://127.0.0.1:PORT/path; (0, reason) if it does not answer."""
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError as exc:
            return 0, str(exc)

    def wait_ready(self) -> None:
        wait_for(
            f"{self.name} /readyz 200",
            lambda: self.get("/readyz")[0] == 200,
            START_TIMEOUT,
            lambda: f"last /readyz: {self.get('/readyz')}\n{self.describe()}",
        )

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of `/metrics`: (name, sorted labels) -> value."""
        status, body = self.get("/metrics")
        assert status == 200, f"{self.name} /metrics answered {status}: {body}"
        samples = {}
        for family in text_string_to_metric_families(body):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return samples

    def metric(self, name: str, **labels: str) -> float:
        """One sample's value, 0.0 when it has not been observed yet."""
        return self.metrics().get((name, tuple(sorted(labels.items()))), 0.0)

    def terminate(self, timeout: float) -> int:
        """SIGTERM, then wait up to `timeout` for the exit code (kill -9 and fail if it hangs)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"{self.name} did not exit within {timeout:.0f}s of SIGTERM\n{self.describe()}"
            ) from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
