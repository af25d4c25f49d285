"""ApiServerReady: a gate that waits until the API server answers /readyz.

Every Kubernetes object depends on it (through the Kubernetes provider), so nothing is sent
to a cluster that is still booting. It is a Pulumi dynamic resource: `create` polls during
`pulumi up`; a preview only plans it, so previewing a new stack never needs the cluster.
"""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from typing import Any

import pulumi
import pulumi.dynamic

DEFAULT_TIMEOUT_SECONDS = 1200
POLL_INTERVAL_SECONDS = 10.0


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


def wait_until_ready(
    endpoint: str, ca_cert_pem: str, timeout_seconds: float, interval: float = POLL_INTERVAL_SECONDS
) -> int:
    """Poll until ready; return the number of probes, or raise naming the endpoint."""
    deadline = time.monotonic() + timeout_seconds
    attempts = 0
    while True:
        attempts += 1
        problem = probe_readyz(endpoint, ca_cert_pem)
        if problem is None:
            return attempts
        if time.monotonic() + interval > deadline:
            raise ApiServerNotReadyError(
                f"the API server at {endpoint} did not answer /readyz within {timeout_seconds:.0f}s "
                f"({attempts} attempts; last: {problem}). Check the control plane's "
                "/var/log/k8s-bootstrap.log through Session Manager, and that adminCidrs includes your address."
            )
        time.sleep(interval)


class _ReadyzProvider(pulumi.dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        attempts = wait_until_ready(props["endpoint"], props["caCertPem"], float(props["timeoutSeconds"]))
        return pulumi.dynamic.CreateResult(id_=props["endpoint"], outs={**props, "attempts": attempts})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        changed = [key for key in ("endpoint", "caCertPem") if olds.get(key) != news.get(key)]
        return pulumi.dynamic.DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=False)


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
