"""Child processes of the harness: loopback ports, logs to files, bounded waits, always stopped.

Every process is started in its own session and remembered; `stop_all` (registered with atexit
and run on SIGTERM/SIGINT) ends each one by its own process-group id, never by name.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
_RUNNING: list[Process] = []


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Process:
    def __init__(self, name: str, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as output:
            self._popen = subprocess.Popen(
                self.argv,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )
        _RUNNING.append(self)

    @property
    def pid(self) -> int:
        return self._popen.pid

    def exited(self) -> int | None:
        return self._popen.poll()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, grace: float = 10) -> int | None:
        if self._popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._popen.pid, signal.SIGTERM)
            try:
                self._popen.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._popen.pid, signal.SIGKILL)
                self._popen.wait(grace)
        if self in _RUNNING:
            _RUNNING.remove(self)
        return self._popen.returncode


def stop_all() -> None:
    for process in reversed(list(_RUNNING)):
        process.stop()


def _on_signal(signum: int, _frame: object) -> None:
    stop_all()
    raise SystemExit(128 + signum)


atexit.register(stop_all)
signal.signal(signal.SIGTERM, _on_signal)


class WaitTimeout(TimeoutError):
    pass


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.5, alive: Process | None = None
) -> T:
    """Call `probe` until it returns something other than None (exceptions count as None)."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        if alive is not None and alive.exited() is not None:
            raise WaitTimeout(f"{alive.name} exited with {alive.exited()} while waiting for {what}; log {alive.log}")
        try:
            result = probe()
        except Exception as error:
            last_error = error
            result = None
        if result is not None:
            return result
        time.sleep(interval)
    raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error})")
