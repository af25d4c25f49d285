"""engine/judge.py: the engine tier's checks on change summaries, steps, read-backs and state files."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pulumi.automation import OpType

from engine import judge
from engine.judge import CONFIG_MAP, DAEMON_SET, Step


def _resource(type_: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"type": type_, "urn": f"urn:pulumi:engine::p::{type_}::{name}", **extra}


STATE = [
    _resource("pulumi:pulumi:Stack", "p-engine"),
    _resource("pulumi:providers:pulumi-python", "default"),
    _resource("pulumi:providers:kubernetes", "k8s"),
    _resource("pulumi-python:dynamic:Resource", "api-ready"),
    _resource(
        CONFIG_MAP,
        "cm",
        outputs={"kind": "ConfigMap", "metadata": {"name": "aws-cloud-config", "namespace": "kube-system"}},
    ),
    _resource(DAEMON_SET, "ds", outputs={"kind": "DaemonSet", "metadata": {"name": "ccm", "namespace": "kube-system"}}),
    _resource("kubernetes:core/v1:Namespace", "ns", outputs={"kind": "Namespace", "metadata": {"name": "smoke"}}),
]


def test_counts_uses_the_operation_names_of_the_sdk_enum_keys() -> None:
    assert judge.counts({OpType.SAME: 18, OpType.UPDATE: 2}) == {"same": 18, "update": 2}


def test_default_providers_are_not_counted_like_the_engine_summary() -> None:
    # The engine registers `default` providers itself and leaves them out of its summaries.
    assert len(judge.counted(STATE)) == len(STATE) - 1
    assert all(not r["urn"].endswith("::default") for r in judge.counted(STATE))


def test_first_up_passes_when_everything_counted_was_created() -> None:
    assert judge.judge_first_up({"create": 6}, STATE, expected_objects=3) == []


@pytest.mark.parametrize(
    ("summary", "expected_objects", "fragment"),
    [
        ({"create": 5, "same": 1}, 3, "did not only create"),
        ({"create": 5}, 3, "created 5 resources, the state holds 6"),
        ({"create": 6}, 4, "3 Kubernetes objects, the components render 4"),
    ],
)
def test_first_up_fails_on_other_operations_or_counts(
    summary: dict[str, int], expected_objects: int, fragment: str
) -> None:
    problems = judge.judge_first_up(summary, STATE, expected_objects)
    assert any(fragment in problem for problem in problems), problems


def test_first_up_fails_when_an_object_skips_its_await() -> None:
    skipping = [
        *STATE[:-1],
        _resource(
            "kubernetes:core/v1:Namespace",
            "ns",
            inputs={"metadata": {"annotations": {"pulumi.com/skipAwait": "true"}}},
            outputs={"kind": "Namespace", "metadata": {"name": "smoke"}},
        ),
    ]
    assert any("skipped" in problem for problem in judge.judge_first_up({"create": 6}, skipping, 3))


def test_no_change_needs_every_resource_same() -> None:
    assert judge.judge_no_change({"same": 6}, [Step("same", CONFIG_MAP, "u::cm")], 6) == []
    assert judge.judge_no_change({"same": 5, "update": 1}, [Step("update", CONFIG_MAP, "u::cm")], 6)
    assert judge.judge_no_change({"same": 5}, [], 6)  # a resource missing from the preview


def test_in_place_update_accepts_exactly_the_config_map_and_the_daemonset() -> None:
    steps = [Step("update", CONFIG_MAP, "u::cm"), Step("update", DAEMON_SET, "u::ds"), Step("same", "x", "u::x")]
    assert judge.judge_in_place_update({"same": 18, "update": 2}, steps) == []


def test_in_place_update_rejects_the_config_map_replacement_seen_with_the_default_provider() -> None:
    # What the real engine previewed before ConfigMaps were mutable: delete-before-replace of the ConfigMap.
    steps = [
        Step("replace", CONFIG_MAP, "u::cm"),
        Step("delete-replaced", CONFIG_MAP, "u::cm"),
        Step("create-replacement", CONFIG_MAP, "u::cm"),
        Step("update", DAEMON_SET, "u::ds"),
    ]
    problems = judge.judge_in_place_update({"replace": 1, "same": 18, "update": 1}, steps)
    assert any("not only updates" in p for p in problems)
    assert any("replacements planned" in p for p in problems)


def test_in_place_update_rejects_an_update_of_another_kind() -> None:
    steps = [Step("update", CONFIG_MAP, "u::cm"), Step("update", "kubernetes:core/v1:Service", "u::svc")]
    assert any("updated types" in p for p in judge.judge_in_place_update({"update": 2}, steps))


def test_destroy_needs_every_resource_deleted_and_nothing_left() -> None:
    assert judge.judge_destroy({"delete": 6}, 6, []) == []
    assert judge.judge_destroy({"delete": 5}, 6, [])
    assert judge.judge_destroy({"delete": 6}, 6, ["Namespace smoke"])


def test_rollout_checksum_is_new_and_the_sha256_of_the_config_read_back() -> None:
    config = "[Global]\nZone = us-east-1b\n"
    digest = hashlib.sha256(config.encode()).hexdigest()
    assert judge.judge_rollout("old", digest, config) == []
    assert any("did not change" in p for p in judge.judge_rollout(digest, digest, config))
    assert any("not the SHA-256" in p for p in judge.judge_rollout("old", "f" * 64, config))
    assert any("no checksum" in p for p in judge.judge_rollout("old", None, config))


def test_state_objects_and_their_api_paths() -> None:
    objects = judge.state_objects(STATE)
    assert objects == [
        ("ConfigMap", "aws-cloud-config", "kube-system"),
        ("DaemonSet", "ccm", "kube-system"),
        ("Namespace", "smoke", None),
    ]
    paths = [judge.object_path(*o) for o in objects]
    assert paths == [
        "/api/v1/namespaces/kube-system/configmaps/aws-cloud-config",
        "/apis/apps/v1/namespaces/kube-system/daemonsets/ccm",
        "/api/v1/namespaces/smoke",
    ]
    with pytest.raises(KeyError, match="CustomThing"):
        judge.object_path("CustomThing", "x", None)


@pytest.fixture(scope="module")
def key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_the_secret_scan_finds_the_key_however_a_state_file_holds_it(tmp_path: Path, key_pem: str) -> None:
    needles = judge.secret_needles(key_pem)
    body = "".join(line for line in key_pem.splitlines() if not line.startswith("-----"))
    as_json = tmp_path / "stack.json"
    as_json.write_text(json.dumps({"kubeconfig": key_pem}))  # newlines escaped as \n
    as_kubeconfig = tmp_path / "kubeconfig.json"
    as_kubeconfig.write_text(json.dumps({"client-key-data": base64.b64encode(key_pem.encode()).decode()}))
    body_only = tmp_path / "body.txt"
    body_only.write_text(body[100:400])  # a fragment of the body, no label: whole body lines
    clean = tmp_path / "clean.json"
    clean.write_text(json.dumps({"ciphertext": judge.SECRET_SIGNATURE, "v1:abc": "x"}))
    found = judge.find_in_files([as_json, as_kubeconfig, body_only, clean], needles)
    assert f"{as_json}: PEM label" in found
    assert f"{as_json}: key body" in found
    assert f"{as_kubeconfig}: client-key-data" in found
    assert any(item.startswith(f"{body_only}: key body line") for item in found)
    assert not any(item.startswith(str(clean)) for item in found)
