"""ApiServerReady: a gate that waits until the API server answers /readyz; ApiServerVersion: until it
reports the stack's Kubernetes version on /version.

Every Kubernetes object depends on it (through the Kubernetes provider), so nothing is sent
to a cluster that is still booting. It is a Pulumi dynamic resource: `create` polls during
`pulumi up`; a preview only plans it, so previewing a new stack never needs the cluster.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi.dynamic

DEFAULT_TIMEOUT_SECONDS = 1200
POLL_INTERVAL_SECONDS = 10.0
VERSION_ANSWERS_IN_A_ROW = 6
VERSION_POLL_INTERVAL_SECONDS = 3.0
"""Six answers 3 s apart: behind the load balancer, every control plane answers some of them."""


class ApiServerNotReadyError(Exception):
    pass


def probe_readyz(endpoint: str, ca_cert_pem: str, timeout: float = 5.0) -> str | None:
    """None when `<endpoint>/readyz` answers 200 over TLS verified by the cluster CA, else why not."""
    context = ssl.create_default_context(cadata=ca_cert_pem)
    try:
        with urllib.request.urlopen(f"{endpoint}/readyz", context=context, timeout=timeout) as response:
            body = response.read(256).decode(errors="replace").strip()
            return None if response.status == 200 else f"HTTP {response.status}: {body}"
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}: {error.read(256).decode(errors='replace').strip()}"
    except (urllib.error.URLError, OSError, ssl.SSLError) as error:
        return f"{type(error).__name__}: {getattr(error, 'reason', error)}"


def probe_version(endpoint: str, ca_cert_pem: str, expected: str, timeout: float = 5.0) -> str | None:
    """None when `<endpoint>/version` reports `expected` (a gitVersion such as v1.23.17), else what it said."""
    context = ssl.create_default_context(cadata=ca_cert_pem)
    try:
        with urllib.request.urlopen(f"{endpoint}/version", context=context, timeout=timeout) as response:
            reported = json.loads(response.read(4096)).get("gitVersion")
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}: {error.read(256).decode(errors='replace').strip()}"
    except (urllib.error.URLError, OSError, ssl.SSLError, ValueError) as error:
        return f"{type(error).__name__}: {getattr(error, 'reason', error)}"
    return None if reported == expected else f"reports {reported}, not {expected}"


def poll(
    probe: Callable[[], str | None], waited_for: str, timeout_seconds: float, interval: float, in_a_row: int = 1
) -> int:
    """Probe until it has answered None `in_a_row` times in a row; return the number of probes, or raise
    ApiServerNotReadyError naming what was waited for and the last answer."""
    deadline = time.monotonic() + timeout_seconds
    attempts = streak = 0
    last_problem = "none"
    while True:
        attempts += 1
        problem = probe()
        streak = streak + 1 if problem is None else 0
        last_problem = problem or last_problem
        if streak >= in_a_row:
            return attempts
        if time.monotonic() + interval > deadline:
            raise ApiServerNotReadyError(
                f"{waited_for} within {timeout_seconds:g}s ({attempts} attempts; last problem: {last_problem}). "
                "Check the control planes' /var/log/k8s-bootstrap.log and /var/log/k8s-upgrade.log through "
                "Session Manager, and that adminCidrs includes your address."
            )
        time.sleep(interval)


def wait_until_ready(
    endpoint: str, ca_cert_pem: str, timeout_seconds: float, interval: float = POLL_INTERVAL_SECONDS
) -> int:
    """Poll until ready; return the number of probes, or raise naming the endpoint."""
    return poll(
        lambda: probe_readyz(endpoint, ca_cert_pem),
        f"the API server at {endpoint} did not answer /readyz",
        timeout_seconds,
        interval,
    )


def wait_until_version(
    endpoint: str,
    ca_cert_pem: str,
    expected: str,
    timeout_seconds: float,
    interval: float = VERSION_POLL_INTERVAL_SECONDS,
) -> int:
    """Poll until /version reports `expected` VERSION_ANSWERS_IN_A_ROW times (behind a load balancer
    each answer may come from another control plane)."""
    return poll(
        lambda: probe_version(endpoint, ca_cert_pem, expected),
        f"the API server at {endpoint} did not report {expected} {VERSION_ANSWERS_IN_A_ROW} times in a row",
        timeout_seconds,
        interval,
        in_a_row=VERSION_ANSWERS_IN_A_ROW,
    )


def _replaced_on(keys: tuple[str, ...], olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
    """A gate waits again (is replaced) when what it waits for changes; nothing else is a change."""
    changed = [key for key in keys if olds.get(key) != news.get(key)]
    return pulumi.dynamic.DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=False)


class _ReadyzProvider(pulumi.dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        attempts = wait_until_ready(props["endpoint"], props["caCertPem"], float(props["timeoutSeconds"]))
        return pulumi.dynamic.CreateResult(id_=props["endpoint"], outs={**props, "attempts": attempts})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        return _replaced_on(("endpoint", "caCertPem"), olds, news)


class ApiServerReady(pulumi.dynamic.Resource):
    endpoint: pulumi.Output[str]
    """The endpoint that answered; depend on it to wait for the API server."""

    def __init__(
        self,
        name: str,
        endpoint: pulumi.Input[str],
        ca_cert_pem: pulumi.Input[str],
        timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            _ReadyzProvider(),
            name,
            {"endpoint": endpoint, "caCertPem": ca_cert_pem, "timeoutSeconds": timeout_seconds, "attempts": None},
            opts,
        )


class _VersionProvider(pulumi.dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        attempts = wait_until_version(
            props["endpoint"], props["caCertPem"], props["expectedVersion"], float(props["timeoutSeconds"])
        )
        return pulumi.dynamic.CreateResult(id_=props["expectedVersion"], outs={**props, "attempts": attempts})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        return _replaced_on(("endpoint", "caCertPem", "expectedVersion"), olds, news)


class ApiServerVersion(pulumi.dynamic.Resource):
    """A gate that waits until the API server reports `expected_version` on /version: what follows an
    upgrade of the control planes (the CCM, Cilium, the workers) starts only once it runs there."""

    expected_version: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        endpoint: pulumi.Input[str],
        ca_cert_pem: pulumi.Input[str],
        *,
        expected_version: str,
        timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            _VersionProvider(),
            name,
            {
                "endpoint": endpoint,
                "caCertPem": ca_cert_pem,
                "expectedVersion": expected_version,
                "timeoutSeconds": timeout_seconds,
                "attempts": None,
            },
            opts,
        )
