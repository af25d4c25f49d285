"""A moto server on loopback for the AWS replay: its own process group, bounded start, always stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SERVER_START_SECONDS = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _server_command(port: int) -> list[str]:
    script = Path(sys.executable).with_name("moto_server")
    launcher = [str(script)] if script.exists() else [sys.executable, "-m", "moto.server"]
    return [*launcher, "-H", "127.0.0.1", "-p", str(port)]


@contextmanager
def moto_server(log: Path | None = None, timeout: float = SERVER_START_SECONDS) -> Iterator[str]:
    """A `moto_server` on 127.0.0.1 and a free port, for the `with` block; yields its URL.

    It runs in its own process group and is stopped (TERM, then KILL) by that group's id on exit;
    no AWS-managed IAM policy is loaded (the program attaches none)."""
    port = free_port()
    env = dict(os.environ)
    with contextlib.ExitStack() as stack:
        output = stack.enter_context(log.open("wb")) if log else subprocess.DEVNULL
        process = subprocess.Popen(
            _server_command(port),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        stack.callback(_stop, process)
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(process, url, timeout)
        yield url


def _wait_until_up(process: subprocess.Popen[bytes], url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode} before answering")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise TimeoutError(f"moto_server did not answer at {url} within {timeout:.0f}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
