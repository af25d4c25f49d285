"""One measured program evaluation, run by `tools.bench` in a fresh interpreter.

    python -m tools.bench.child --stack dev --mode preview [--overrides '{"workerDesiredCapacity": 10}']

prints one JSON object: resources registered, seconds spent importing the offline engine and
running the program, CPU seconds the mock spent deriving RSA keys (up mode only; the real
pulumi-tls provider makes keys in Go, outside the program) and the SDK submodules the program
loaded (for the "SDK modules" floor). Wall time and peak RSS are measured by the parent.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

SDK_PACKAGES = ("pulumi_aws", "pulumi_kubernetes", "pulumi_tls", "pulumi_random")


class KeyTimer:
    """Wraps `tlsgen.derive_key` and sums the CPU time of the calling threads inside it."""

    def __init__(self) -> None:
        self.cpu_seconds = 0.0
        self.calls = 0
        self._lock = threading.Lock()

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()  # CPU of this thread only: waiting on the key lock is not counted
            try:
                return function(*args, **kwargs)
            finally:
                with self._lock:
                    self.cpu_seconds += time.thread_time() - start
                    self.calls += 1

        return timed


def sdk_modules() -> list[str]:
    return sorted(name for name in sys.modules if name.split(".")[0] in SDK_PACKAGES and "." in name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--mode", choices=("preview", "up"), required=True)
    parser.add_argument("--overrides", default="{}", help="JSON object of config overrides")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    from tools.offline import tlsgen  # noqa: PLC0415 - importing is what is measured
    from tools.offline.engine import run_program  # noqa: PLC0415

    timer = KeyTimer()
    tlsgen.derive_key = timer.wrap(tlsgen.derive_key)
    imported = time.perf_counter()
    graph = run_program(args.stack, preview=args.mode == "preview", overrides=json.loads(args.overrides))
    finished = time.perf_counter()
    print(
        json.dumps(
            {
                "resources": len(graph.resources),
                "custom_resources": sum(record.custom for record in graph.resources),
                "import_seconds": imported - started,
                "program_seconds": finished - imported,
                "key_cpu_seconds": timer.cpu_seconds,
                "key_calls": timer.calls,
                "sdk_modules": sdk_modules(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
