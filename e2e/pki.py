"""The cluster's PKI as the control plane would hold it, taken from the program's graph.

Certificates and private keys come from the pulumi-tls resources the program registered (the
mock engine makes real, deterministic keys). Like kubeadm on the control-plane node, the harness
signs the API server's serving and kubelet-client certificates with the cluster CA; nothing else
is made here.
Files are written with kubeadm's names (`/etc/kubernetes/pki/<name>`) into a private directory.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tools.offline.capture import Graph, unwrap_secrets

PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
SELF_SIGNED = "tls:index/selfSignedCert:SelfSignedCert"
LOCALLY_SIGNED = "tls:index/locallySignedCert:LocallySignedCert"


@dataclass(frozen=True)
class ControlPlanePki:
    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name


def _state(graph: Graph, type_token: str, name: str, key: str) -> str:
    value = unwrap_secrets(graph.one(type_token, name).state[key])
    if not isinstance(value, str) or not value.startswith("-----BEGIN"):
        raise ValueError(f"{type_token} {name}: {key} is not PEM")
    return value


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)


def _leaf_certificate(
    ca_cert_pem: str,
    ca_key_pem: str,
    subject: x509.Name,
    usage: x509.ObjectIdentifier | list[x509.ObjectIdentifier],
    hosts: list[str],
) -> tuple[str, str]:
    """A certificate signed by the CA, as kubeadm issues the API server's own ones (and etcd's:
    its server and peer certificates have both the server and the client usage)."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    ca_key = serialization.load_pem_private_key(ca_key_pem.encode(), password=None)
    if not isinstance(ca_key, rsa.RSAPrivateKey):
        raise TypeError("the cluster CA key is expected to be RSA")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage(usage if isinstance(usage, list) else [usage]), critical=False)
    )
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    certificate = builder.sign(ca_key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def write_control_plane_pki(graph: Graph, cluster_name: str, directory: Path) -> ControlPlanePki:
    """ca, front-proxy-ca, front-proxy-client, sa and admin files from the graph; the API server's
    serving and kubelet-client certificates signed here with the cluster CA."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    prefix = cluster_name
    ca_cert = _state(graph, SELF_SIGNED, f"{prefix}-ca", "certPem")
    ca_key = _state(graph, PRIVATE_KEY, f"{prefix}-ca", "privateKeyPem")
    files = {
        "ca.crt": ca_cert,
        "ca.key": ca_key,
        "front-proxy-ca.crt": _state(graph, SELF_SIGNED, f"{prefix}-front-proxy-ca", "certPem"),
        "front-proxy-ca.key": _state(graph, PRIVATE_KEY, f"{prefix}-front-proxy-ca", "privateKeyPem"),
        "front-proxy-client.crt": _state(graph, LOCALLY_SIGNED, f"{prefix}-front-proxy-client", "certPem"),
        "front-proxy-client.key": _state(graph, PRIVATE_KEY, f"{prefix}-front-proxy-client", "privateKeyPem"),
        "sa.key": _state(graph, PRIVATE_KEY, f"{prefix}-sa", "privateKeyPem"),
        "sa.pub": _state(graph, PRIVATE_KEY, f"{prefix}-sa", "publicKeyPem"),
        "admin.crt": _state(graph, LOCALLY_SIGNED, f"{prefix}-admin", "certPem"),
        "admin.key": _state(graph, PRIVATE_KEY, f"{prefix}-admin", "privateKeyPem"),
    }
    files["apiserver.crt"], files["apiserver.key"] = _leaf_certificate(
        ca_cert,
        ca_key,
        _name("kube-apiserver"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        ["127.0.0.1", "::1", "localhost", "kubernetes", "kubernetes.default"],
    )
    files["apiserver-kubelet-client.crt"], files["apiserver-kubelet-client.key"] = _leaf_certificate(
        ca_cert,
        ca_key,
        _name("kube-apiserver-kubelet-client", "kubeadm:cluster-admins"),
        ExtendedKeyUsageOID.CLIENT_AUTH,
        [],
    )
    for name, text in files.items():
        _write(directory / name, text)
    return ControlPlanePki(directory)
