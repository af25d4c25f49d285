"""The user data encoding (components/render/user_data_encoding.py): a gzip member that any inflater
reads back exactly, whose bytes depend on the input alone, and the guard on what EC2 receives."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import re
import subprocess
import sys
import zlib

import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from components.nodes import worker_pool_label
from components.render.user_data_encoding import (
    EC2_USER_DATA_LIMIT_BYTES,
    UserDataTooLarge,
    decode_user_data,
    deflate,
    deterministic_gzip,
    encode_user_data,
    received_bytes,
)

CLOUD_CONFIG = "#cloud-config\n" + "".join(
    f"- path: /etc/kubernetes/file-{n}.conf\n  owner: root:root\n" for n in range(40)
)

# Shapes a greedy matcher gets wrong first: the 258 maximum (its own code), 257 (code 284 with
# extra bits 30), overlapping matches (distance 1), distances at and beyond the 32 KiB window.
EDGES = [
    b"",
    b"a",
    b"ab",
    b"abc",
    b"a" * 258,
    b"a" * 259,
    b"a" * 260,
    b"xy" * 100_000,
    bytes(range(256)) * 3,
    os.urandom(40_000),
    os.urandom(32_768) + b"the same line\n" * 2 + os.urandom(1_000) + b"the same line\n",
    b"0123456789" + os.urandom(32_758) + b"0123456789",  # a match exactly 32768 back
    b"0123456789" + os.urandom(32_759) + b"0123456789",  # one byte too far
    CLOUD_CONFIG.encode(),
]


@pytest.mark.parametrize("data", EDGES, ids=lambda data: f"{len(data)}-bytes")
def test_every_inflater_reads_back_exactly_the_input(data: bytes) -> None:
    compressed = deterministic_gzip(data)
    assert gzip.decompress(compressed) == data
    assert zlib.decompress(compressed, wbits=31) == data
    assert zlib.decompress(deflate(data), wbits=-15) == data
    with gzip.GzipFile(fileobj=io.BytesIO(compressed)) as member:
        assert member.read() == data
        assert member.mtime == 0
        assert member.name == ""  # no file name stored


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=3000),
        st.lists(st.sampled_from([b"kube", b"let", b" ", b"\n", b"- name: ", b"${NODE_IPV6}", b"\xff"])).map(b"".join),
    )
)
def test_round_trip_of_arbitrary_bytes(data: bytes) -> None:
    assert zlib.decompress(deterministic_gzip(data), wbits=31) == data


def test_the_header_carries_no_time_no_name_and_no_os() -> None:
    header = deterministic_gzip(b"#cloud-config\n")[:10]
    # ID1 ID2, CM deflate, FLG none, MTIME 0, XFL 0, OS 255 (unknown): nothing of the machine.
    assert header == bytes.fromhex("1f8b 0800 00000000 00ff".replace(" ", ""))


def test_the_bytes_are_pinned_and_do_not_depend_on_the_zlib_python_links() -> None:
    # A change here changes every node's user data (and replaces every worker): only on purpose.
    compressed = deterministic_gzip(CLOUD_CONFIG.encode())
    assert hashlib.sha256(compressed).hexdigest() == (
        "3c5a5e1d82dc636464645c6713a554a64c2033261513e6d3bf3dcf9bbd9a99a7"
    ), hashlib.sha256(compressed).hexdigest()
    assert len(compressed) < len(CLOUD_CONFIG) / 4


def test_another_interpreter_with_another_hash_seed_writes_the_same_bytes() -> None:
    code = (
        "import sys; from components.render.user_data_encoding import encode_user_data; "
        "sys.stdout.write(encode_user_data(sys.stdin.read(), 'n'))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            input=CLOUD_CONFIG,
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert outputs == {encode_user_data(CLOUD_CONFIG, "n")}


def test_encode_and_decode_are_inverse_and_the_size_is_what_ec2_receives() -> None:
    encoded = encode_user_data(CLOUD_CONFIG, "dev-workers-0")
    assert decode_user_data(encoded) == CLOUD_CONFIG
    assert received_bytes(encoded) == base64.b64decode(encoded) == deterministic_gzip(CLOUD_CONFIG.encode())
    # Plain base64 of text (a launch template's user data) decodes too.
    assert decode_user_data(base64.b64encode(b"#!/bin/bash\n").decode()) == "#!/bin/bash\n"


def test_user_data_over_the_limit_fails_naming_the_node_the_size_and_the_limit() -> None:
    incompressible = base64.b64encode(os.urandom(15_000)).decode()  # ~20 KB of text, ~17 KB gzipped
    with pytest.raises(UserDataTooLarge) as raised:
        encode_user_data("#cloud-config\nbootcmd: [" + incompressible + "]\n", node="big-control-plane-node")
    message = str(raised.value)
    size = len(deterministic_gzip(("#cloud-config\nbootcmd: [" + incompressible + "]\n").encode()))
    assert size > EC2_USER_DATA_LIMIT_BYTES
    assert "big-control-plane-node" in message
    assert f"{size} bytes as EC2 receives it" in message
    assert f"EC2 accepts at most {EC2_USER_DATA_LIMIT_BYTES} bytes" in message


def test_a_worker_pool_error_names_the_launch_template_every_worker_boots_from() -> None:
    label = worker_pool_label("dev-workers")
    assert label == "dev-workers (the launch template of every worker in Auto Scaling group dev-workers)"
    with pytest.raises(UserDataTooLarge, match=re.escape(label)):
        encode_user_data("#cloud-config\nbootcmd: [" + base64.b64encode(os.urandom(15_000)).decode() + "]\n", label)
