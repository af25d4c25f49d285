"""The readiness gate against a real TLS server on loopback."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components.readiness import (
    VERSION_ANSWERS_IN_A_ROW,
    ApiServerNotReadyError,
    probe_readyz,
    probe_version,
    wait_until_ready,
    wait_until_version,
)


@dataclass
class Pki:
    ca_pem: str
    cert_pem: bytes
    key_pem: bytes


def _pki(common_name: str) -> Pki:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return Pki(
        ca_pem=ca.public_bytes(serialization.Encoding.PEM).decode(),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


class _Handler(http.server.BaseHTTPRequestHandler):
    ready = True
    probes: ClassVar[list[str]] = []
    """The path of every request the server answered, in order."""
    versions: ClassVar[list[str]] = []
    """What /version answers, one gitVersion per request in turn (an API server behind a load balancer)."""

    def do_GET(self) -> None:
        self.probes.append(self.path)
        if self.path == "/version":
            git_version = self.versions[(len([p for p in self.probes if p == "/version"]) - 1) % len(self.versions)]
            status, body = 200, json.dumps({"major": "1", "gitVersion": git_version}).encode()
        else:
            status, body = (200, b"ok") if self.ready and self.path == "/readyz" else (500, b"[-]etcd failed")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[tuple[str, Pki, type[_Handler]]]:
    pki = _pki("test-ca")
    (tmp_path / "tls.crt").write_bytes(pki.cert_pem)
    (tmp_path / "tls.key").write_bytes(pki.key_pem)
    handler = type("Handler", (_Handler,), {"ready": True, "probes": [], "versions": ["v1.23.17"]})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", pki, handler
    finally:
        server.shutdown()
        server.server_close()


def test_ready_server_passes_the_gate(api_server: tuple[str, Pki, type[_Handler]]) -> None:
    endpoint, pki, handler = api_server
    assert probe_readyz(endpoint, pki.ca_pem) is None
    handler.probes.clear()
    assert wait_until_ready(endpoint, pki.ca_pem, timeout_seconds=5, interval=0.1) == 1
    assert handler.probes == ["/readyz"]


def test_unready_server_times_out_naming_the_endpoint(api_server: tuple[str, Pki, type[_Handler]]) -> None:
    endpoint, pki, handler = api_server
    handler.ready = False
    timeout, interval = 1.0, 0.2
    started = time.monotonic()
    with pytest.raises(ApiServerNotReadyError) as caught:
        wait_until_ready(endpoint, pki.ca_pem, timeout_seconds=timeout, interval=interval)
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert endpoint in message and "HTTP 500" in message and "etcd failed" in message
    # It kept probing, one probe per interval, and gave up at the deadline.
    probes = handler.probes
    assert set(probes) == {"/readyz"}, probes
    assert 2 <= len(probes) <= timeout / interval + 1, probes
    assert f"({len(probes)} attempts;" in message, message
    assert elapsed < timeout + interval + 2, elapsed


def test_a_server_with_another_ca_is_not_trusted(api_server: tuple[str, Pki, type[_Handler]]) -> None:
    endpoint, _, _ = api_server
    problem = probe_readyz(endpoint, _pki("impostor-ca").ca_pem)
    assert problem is not None and "CERTIFICATE_VERIFY_FAILED" in problem


def test_nothing_listening_is_reported() -> None:
    problem = probe_readyz("https://127.0.0.1:9", _pki("ca").ca_pem, timeout=1)
    assert problem is not None and "refused" in problem.lower()


def test_the_version_gate_passes_once_every_answer_reports_the_version(
    api_server: tuple[str, Pki, type[_Handler]],
) -> None:
    endpoint, pki, handler = api_server
    assert probe_version(endpoint, pki.ca_pem, "v1.23.17") is None
    handler.probes.clear()
    assert wait_until_version(endpoint, pki.ca_pem, "v1.23.17", timeout_seconds=5, interval=0.01) == (
        VERSION_ANSWERS_IN_A_ROW
    )
    assert handler.probes == ["/version"] * VERSION_ANSWERS_IN_A_ROW


def test_the_version_gate_waits_while_one_api_server_still_runs_the_old_version(
    api_server: tuple[str, Pki, type[_Handler]],
) -> None:
    endpoint, pki, handler = api_server
    # Three control planes behind the load balancer; the third is not upgraded yet.
    handler.versions = ["v1.23.17", "v1.23.17", "v1.22.17"]
    assert probe_version(endpoint, pki.ca_pem, "v1.23.17") is None
    with pytest.raises(ApiServerNotReadyError) as caught:
        wait_until_version(endpoint, pki.ca_pem, "v1.23.17", timeout_seconds=0.5, interval=0.05)
    message = str(caught.value)
    assert "did not report v1.23.17" in message and "reports v1.22.17, not v1.23.17" in message, message
