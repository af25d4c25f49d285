"""`make integration`: the first real `pulumi up` of the newest release, on AWS, checked and destroyed.

A throwaway stack (`integration-<hex>`, cluster `it-<hex>`) from the newest release's stack file, with
this machine's public IPv4 as the only admin range (INTEGRATION_ADMIN_CIDRS overrides it,
INTEGRATION_REGION / AWS_REGION the region), is brought up with the Automation API (the project's
program inline). Then what a person would check: every node Ready, initialised by the CCM with a
providerID `aws:///<zone>/i-...` and an InternalIP of each family (the stack's `verifyNodeAddresses`);
the smoke Service answering over IPv4 and IPv6 (`verifyServiceFamilies`); a `LoadBalancer` Service
getting an address. Whatever happened, that Service is deleted (the CCM removes its load balancer),
leftovers with the cluster tag are swept and the stack destroyed; `build/integration/summary.json`
says what passed, how long each step took and, if the destroy failed, the command that finishes it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from integration.harness import missing_prerequisites, skip_reason

pytestmark = pytest.mark.integration


def test_first_pulumi_up_of_the_newest_release_on_aws() -> None:
    missing = missing_prerequisites(os.environ, Path.home(), shutil.which)
    if missing:
        pytest.skip(skip_reason(missing))
    from integration.runner import DEFAULT_OUT, run_on_aws  # noqa: PLC0415 - after the skip

    summary = run_on_aws(os.environ)
    assert summary.ok, "\n".join([*summary.failures(), f"summary: {DEFAULT_OUT / 'summary.json'}"])
