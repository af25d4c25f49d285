"""`make integration UPGRADE=1`: an in-place upgrade on AWS, one minor, checked and destroyed.

Opt-in (INTEGRATION_UPGRADE=1): about an hour and $0.15. A throwaway stack like the first-`up` run's
(tests/integration/test_aws_cluster.py), but at the minor below the newest row (INTEGRATION_UPGRADE_FROM
chooses another), is brought up and given the same checks; then `kubernetesVersion` goes one minor up and
`pulumi up` runs again. After it: the workers' instance refresh succeeded (waited for, at most 45
minutes); the API server's `/version` is the new version; every node's kubelet is; the control planes
are the same instances (upgraded in place by kubeadm) and the workers all new ones; the CCM DaemonSet
runs the new release's image, rolled out; every node is still initialised with both families, the smoke
Service answers on both and the LoadBalancer Service keeps its address. Then a preview two minors away
from the new version must be refused, naming the deployed version (a skip lists the path). Whatever
happened, the cleanup of the first-`up` run; `build/integration/upgrade-summary.json` has every step.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from integration.harness import missing_prerequisites
from integration.upgrade_checks import skip_reason

pytestmark = pytest.mark.integration


def test_in_place_upgrade_on_aws() -> None:
    reason = skip_reason(os.environ, missing_prerequisites(os.environ, Path.home(), shutil.which))
    if reason:
        pytest.skip(reason)
    from integration.runner import DEFAULT_OUT  # noqa: PLC0415 - after the skip
    from integration.upgrade import SUMMARY_FILE, run_upgrade_on_aws  # noqa: PLC0415

    summary = run_upgrade_on_aws(os.environ)
    assert summary.ok, "\n".join([*summary.failures(), f"summary: {DEFAULT_OUT / SUMMARY_FILE}"])
