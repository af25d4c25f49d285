"""What EC2 receives of each node's user data: the gzip-compressed cloud-config, with at least 25 %
headroom below EC2's 16 KB for every shipped stack and for the largest configuration the settings
allow; a render over the limit fails naming the node; cloud-init reads the compressed bytes back
to the same cloud-config, and its schema accepts that."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, RenderGraph

from components.render.user_data_encoding import (
    EC2_USER_DATA_LIMIT_BYTES,
    GZIP_MAGIC,
    decode_user_data,
    received_bytes,
)
from components.versions import RELEASES
from tools.offline.capture import Graph, ResourceRecord
from tools.offline.stackfiles import list_stacks
from tools.render import write_userdata

INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
HEADROOM_LIMIT = EC2_USER_DATA_LIMIT_BYTES * 3 // 4
"""At least 25 % of EC2's limit stays free: 12288 bytes."""

# The largest user data the settings allow: the longest cluster name (it is in every SSM path),
# arm64, the newest release (v1beta4 lists, both --node-ip addresses), IPv6 first, the longest
# region name and IPv6 ranges written out in full, and five control planes behind the load balancer
# (the first names every one in its certificate, the others list four etcd peers and carry the
# stale-member script).
LONGEST_CLUSTER_NAME = "a-cluster-name-of-32-characters0"
WORST_CASE = {
    "controlPlaneCount": 5,
    "apiEndpoint": "nlb",
    "availabilityZones": [f"ap-southeast-2{zone}" for zone in "abcde"],
    "clusterName": LONGEST_CLUSTER_NAME,
    "kubernetesVersion": RELEASES[-1].minor,
    "architecture": "arm64",
    "controlPlaneInstanceType": "t4g.medium",
    "workerInstanceType": "t4g.medium",
    "primaryIpFamily": "ipv6",
    "aws:region": "ap-southeast-2",
    "podIpv6Cidr": "fd12:3456:789a:bc00::/56",
    "serviceIpv6Cidr": "fd12:3456:789b:bcde:f012:3456:7890:0/112",
}


def encoded_user_data(node: ResourceRecord) -> str:
    """What a control plane's instance or the workers' launch template sends (gzip, then base64)."""
    return str(node.inputs["userDataBase64" if node.type == INSTANCE else "userData"])


def nodes(graph: Graph) -> list[ResourceRecord]:
    return graph.by_type(INSTANCE) + graph.by_type(LAUNCH_TEMPLATE)


def user_data_sizes(graph: Graph) -> dict[str, int]:
    return {node.name: len(received_bytes(encoded_user_data(node))) for node in nodes(graph)}


@pytest.fixture(scope="module")
def worst_case(render_graph: RenderGraph) -> Graph:
    return render_graph("k8s-1-35", overrides=WORST_CASE)


def test_the_worst_case_is_the_longest_the_settings_allow(worst_case: Graph) -> None:
    assert len(LONGEST_CLUSTER_NAME) == 32
    assert RELEASES[-1] == max(RELEASES, key=lambda release: release.version)
    names = {node.name for node in nodes(worst_case)}
    control_planes = {f"{LONGEST_CLUSTER_NAME}-control-plane-node", f"{LONGEST_CLUSTER_NAME}-control-plane-node-4"}
    assert control_planes | {f"{LONGEST_CLUSTER_NAME}-workers"} <= names
    text = decode_user_data(
        worst_case.one(INSTANCE, f"{LONGEST_CLUSTER_NAME}-control-plane-node").inputs["userDataBase64"]
    )
    assert "/arm64/" in text and f"/k8s-dualstack-aws/{LONGEST_CLUSTER_NAME}/" in text
    joining = decode_user_data(
        worst_case.one(INSTANCE, f"{LONGEST_CLUSTER_NAME}-control-plane-node-4").inputs["userDataBase64"]
    )
    (hosts,) = re.findall(r"readonly ETCD_MEMBER_HOSTS=(\S+)", joining)
    assert "controlPlane:" in joining and len(hosts.strip("'").split(",")) == 4


def test_the_worst_case_leaves_a_quarter_of_ec2s_limit_free(worst_case: Graph) -> None:
    sizes = user_data_sizes(worst_case)
    assert sizes and all(size <= HEADROOM_LIMIT for size in sizes.values()), sizes
    # Uncompressed, the control plane alone would be close to the limit: the compression is the headroom.
    text = decode_user_data(
        worst_case.one(INSTANCE, f"{LONGEST_CLUSTER_NAME}-control-plane-node").inputs["userDataBase64"]
    )
    assert len(text.encode()) > HEADROOM_LIMIT


@pytest.mark.parametrize("stack", list_stacks())
def test_every_shipped_stack_leaves_a_quarter_of_ec2s_limit_free(render_graph: RenderGraph, stack: str) -> None:
    graph = render_graph(stack)
    sizes = user_data_sizes(graph)
    assert sizes and all(size <= HEADROOM_LIMIT for size in sizes.values()), sizes
    for node in nodes(graph):
        assert received_bytes(encoded_user_data(node)).startswith(GZIP_MAGIC), node.name


def test_a_render_over_the_limit_fails_naming_the_node_the_size_and_the_limit(tmp_path: Path) -> None:
    # In a process of its own: a failed program leaves the engine's pending registrations behind.
    lowered = (
        "import sys; from components.render import user_data_encoding; "
        "user_data_encoding.EC2_USER_DATA_LIMIT_BYTES = 1000; "
        "from tools.render import main; sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", lowered, "--stack", "k8s-1-35", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    message = re.search(r"user data of (k8s-1-35-\S+)(?: \(.*?\))? is (\d+) bytes as EC2 receives it .*", result.stderr)
    assert message, result.stderr[-3000:]
    assert message[1] in ("k8s-1-35-control-plane-node", "k8s-1-35-workers"), message[0]
    assert int(message[2]) > 1000 and message[0].endswith("EC2 accepts at most 1000 bytes"), message[0]
    assert "render failed for: k8s-1-35" in result.stderr


def test_the_render_writes_the_decoded_cloud_config_and_the_size_ec2_receives(
    render_graph: RenderGraph, tmp_path: Path
) -> None:
    graph = render_graph("k8s-1-35")
    written = {path.name for path in write_userdata(graph, tmp_path)}
    assert written == {"k8s-1-35-control-plane-node.yaml", "k8s-1-35-workers.yaml", "sizes.json"}
    template = graph.one(LAUNCH_TEMPLATE, "k8s-1-35-workers")
    workers = (tmp_path / "userdata" / "k8s-1-35-workers.yaml").read_text()
    assert workers == decode_user_data(template.inputs["userData"])
    node = graph.one(INSTANCE, "k8s-1-35-control-plane-node")
    text = (tmp_path / "userdata" / "k8s-1-35-control-plane-node.yaml").read_text()
    assert text == decode_user_data(node.inputs["userDataBase64"]) and text.startswith("#cloud-config\n")
    sizes = json.loads((tmp_path / "userdata" / "sizes.json").read_text())
    assert sizes["k8s-1-35-control-plane-node"] == {
        "receivedBytes": len(received_bytes(node.inputs["userDataBase64"])),
        "limitBytes": EC2_USER_DATA_LIMIT_BYTES,
        "headroomPercent": round(100 * (1 - sizes["k8s-1-35-control-plane-node"]["receivedBytes"] / 16384), 1),
        "cloudConfigBytes": len(text.encode()),
        "encoding": "gzip+base64",
    }


# -- cloud-init reads it ------------------------------------------------------------------------

# Runs in cloud-init's own interpreter: its reader of user data (the path of every datasource's
# user data, EC2's included) and what it makes of the bytes.
_READ_WITH_CLOUD_INIT = """
import json, sys
from cloudinit import helpers, user_data, util
blob = open(sys.argv[1], "rb").read()
message = user_data.UserDataProcessor(helpers.Paths({})).process(blob)
parts = [
    [part.get_content_type(), part.get_payload(decode=True).decode("utf-8")]
    for part in message.walk()
    if part.get_content_maintype() != "multipart"
]
print(json.dumps({"decomp_gzip": util.decomp_gzip(blob, quiet=False), "parts": parts}))
"""


def cloud_init_python() -> tuple[str, str]:
    """cloud-init's executable and the interpreter of its entry point (skips when missing)."""
    cloud_init = shutil.which("cloud-init")
    if cloud_init is None:
        pytest.skip("cloud-init is not installed (make validate installs it: tools/validate/install_tools.sh)")
    first_line = Path(cloud_init).read_text(errors="replace").split("\n", 1)[0]
    interpreter = first_line[2:].split()[0] if first_line.startswith("#!") else ""
    probe = subprocess.run([interpreter, "-c", "import cloudinit.user_data"], capture_output=True, check=False)
    if not interpreter or probe.returncode != 0:
        pytest.skip(f"cloud-init at {cloud_init} is not a Python entry point whose interpreter imports cloudinit")
    return cloud_init, interpreter


@pytest.mark.parametrize(
    ("type_token", "role"),
    [(INSTANCE, "control-plane-node"), (INSTANCE, "control-plane-node-1"), (LAUNCH_TEMPLATE, "workers")],
    ids=["init", "join-control-plane", "workers"],
)
def test_cloud_init_reads_the_compressed_user_data_and_its_schema_accepts_it(
    worst_case: Graph, tmp_path: Path, type_token: str, role: str
) -> None:
    cloud_init, interpreter = cloud_init_python()
    encoded = encoded_user_data(worst_case.one(type_token, f"{LONGEST_CLUSTER_NAME}-{role}"))
    blob = tmp_path / "user-data.gz"
    blob.write_bytes(received_bytes(encoded))  # what the instance metadata service hands cloud-init
    read = subprocess.run(
        [interpreter, "-c", _READ_WITH_CLOUD_INIT, str(blob)], capture_output=True, text=True, check=False
    )
    assert read.returncode == 0, read.stderr
    seen = json.loads(read.stdout)
    assert seen["decomp_gzip"] == decode_user_data(encoded)
    ((content_type, text),) = seen["parts"]
    assert content_type == "text/cloud-config", "cloud-init takes the decompressed document for a cloud-config"
    assert text == decode_user_data(encoded)
    # cloud-init's schema, on the text as cloud-init itself extracted it.
    extracted = tmp_path / "user-data"
    extracted.write_text(text)
    result = subprocess.run(
        [cloud_init, "schema", "--config-file", str(extracted)], capture_output=True, text=True, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Valid cloud-config" in output or "Valid schema" in output, output
    assert "deprecat" not in output.lower(), output
