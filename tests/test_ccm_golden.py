"""The CCM's cloud config and manifests of four releases, as reviewed snapshots in tests/golden/ccm/.

1.21 (no NodeIPFamilies, `master` label), 1.22 (first NodeIPFamilies), 1.29 (Region, dual
--node-ip era) and 1.35 (IPv6 primary). The inputs are fixed plain values; the CA "certificates"
are short test strings, not keys. Refresh with UPDATE_GOLDEN=1 and review the diff; the checks
below hold the snapshots themselves to the facts, so a careless refresh fails too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from golden_support import GOLDEN_DIR, assert_matches_golden

from components import versions
from components.release_facts import Since
from components.render.ccm_manifests import CcmSettings, ccm_manifests
from components.render.cloud_config import render_cloud_config
from components.render.yaml_dump import dump_yaml
from components.settings import IpFamily
from components.versions import release_for
from policies.rbac_eval import Request, ServiceAccount, allowed

GOLDEN = GOLDEN_DIR / "ccm"
CLUSTER = "golden"
REGION = "eu-west-1"
ZONE = "eu-west-1a"
CLUSTER_CA = "-----BEGIN CERTIFICATE-----\nZ29sZGVuLWNsdXN0ZXItY2E=\n-----END CERTIFICATE-----\n"
FRONT_PROXY_CA = "-----BEGIN CERTIFICATE-----\nZ29sZGVuLWZyb250LXByb3h5LWNh\n-----END CERTIFICATE-----\n"
V4_FIRST = (IpFamily.IPV4, IpFamily.IPV6)
V6_FIRST = (IpFamily.IPV6, IpFamily.IPV4)
CASES = {"1.21": V4_FIRST, "1.22": V4_FIRST, "1.29": V4_FIRST, "1.35": V6_FIRST}


def cloud_config(minor: str) -> str:
    return render_cloud_config(
        release_for(minor), cluster_name=CLUSTER, zone=ZONE, region=REGION, ip_families=CASES[minor]
    )


def objects(minor: str) -> list[dict[str, Any]]:
    release = release_for(minor)
    settings = CcmSettings(
        release=release, image=release.ccm_image, cluster_name=CLUSTER, cloud_config=cloud_config(minor)
    )
    return ccm_manifests(settings, CLUSTER_CA, FRONT_PROXY_CA)


def manifests(minor: str) -> str:
    return dump_yaml(*objects(minor))


SNAPSHOTS: dict[str, Callable[[str], str]] = {"cloud-config-{}.conf": cloud_config, "manifests-{}.yaml": manifests}


def minor_number(minor: str) -> int:
    return int(minor.split(".")[1])


@pytest.mark.parametrize("minor", sorted(CASES))
@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_rendering_matches_reviewed_snapshot(minor: str, name: str) -> None:
    assert_matches_golden(GOLDEN / name.format(minor), SNAPSHOTS[name](minor))


# --- the snapshots state the facts -------------------------------------------------------------


def snapshot_objects(minor: str) -> dict[str, dict[str, Any]]:
    documents = list(yaml.safe_load_all((GOLDEN / f"manifests-{minor}.yaml").read_text(encoding="utf-8")))
    return {f"{doc['kind']}/{doc['metadata']['name']}": doc for doc in documents}


@pytest.mark.parametrize("minor", sorted(CASES))
def test_the_cloud_config_snapshot_has_the_keys_of_its_release(minor: str) -> None:
    lines = (GOLDEN / f"cloud-config-{minor}.conf").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "[Global]"
    entries = [tuple(part.strip() for part in line.split("=", 1)) for line in lines[1:]]
    expected = [("Zone", ZONE)]
    if minor_number(minor) >= 28:  # Region from CCM 1.28
        expected.append(("Region", REGION))
    expected.append(("KubernetesClusterID", CLUSTER))
    if minor != "1.21":  # NodeIPFamilies from CCM 1.22: one line per family, primary first
        expected += [("NodeIPFamilies", family.value) for family in CASES[minor]]
    assert entries == expected


@pytest.mark.parametrize("minor", sorted(CASES))
def test_the_manifest_snapshot_places_the_release_image_on_the_control_plane(minor: str) -> None:
    objects = snapshot_objects(minor)
    pod = objects["DaemonSet/aws-cloud-controller-manager"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    repository, tag = container["image"].rsplit(":", 1)
    assert repository == "registry.k8s.io/provider-aws/cloud-controller-manager"
    assert tag.startswith(f"v{minor}."), "the CCM of the cluster's own minor"
    role = "master" if minor_number(minor) < 24 else "control-plane"
    assert pod["spec"]["nodeSelector"] == {f"node-role.kubernetes.io/{role}": ""}
    assert f"node-role.kubernetes.io/{role}" in [t["key"] for t in pod["spec"]["tolerations"]]
    assert f"--cluster-name={CLUSTER}" in container["args"]
    config = objects["ConfigMap/aws-cloud-config"]["data"]["cloud.conf"]
    assert config == (GOLDEN / f"cloud-config-{minor}.conf").read_text(encoding="utf-8")
    assert pod["metadata"]["annotations"]["checksum/cloud-config"] == hashlib.sha256(config.encode()).hexdigest()
    assert objects["Secret/aws-ccm-client-ca"]["stringData"] == {"ca.crt": CLUSTER_CA}
    assert objects["Secret/aws-ccm-requestheader-ca"]["stringData"] == {"front-proxy-ca.crt": FRONT_PROXY_CA}


@pytest.mark.parametrize("minor", sorted(CASES))
def test_the_manifest_snapshot_grants_secrets_only_if_the_release_reads_them(minor: str) -> None:
    granting = [
        key
        for key, doc in snapshot_objects(minor).items()
        if doc["kind"] in ("Role", "ClusterRole") and any("secrets" in rule["resources"] for rule in doc["rules"])
    ]
    assert granting == (["Role/cloud-controller-manager:secrets"] if release_for(minor).ccm_reads_secrets else [])


def test_a_release_that_reads_secrets_may_read_them_in_kube_system_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # No row of the matrix reads Secrets; a future one that does gets a kube-system Role.
    ccm = ServiceAccount("kube-system", "cloud-controller-manager")
    monkeypatch.setattr(versions, "CCM_READS_SECRETS", (Since("service-account token Secrets", "1.22", "1.23"),))
    assert release_for("1.22").ccm_reads_secrets and not release_for("1.21").ccm_reads_secrets
    for verb in ("get", "list", "watch"):
        assert allowed(objects("1.22"), ccm, Request(verb, "secrets", namespace="kube-system"))
        assert not allowed(objects("1.22"), ccm, Request(verb, "secrets", namespace="default"))
        assert not allowed(objects("1.21"), ccm, Request(verb, "secrets", namespace="kube-system"))
    assert not allowed(objects("1.22"), ccm, Request("create", "secrets", namespace="kube-system"))
