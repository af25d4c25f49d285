"""openssl over every certificate the render wrote (pki/<name>.crt): each chain verifies with
`openssl verify -x509_strict`, the chains are the ones the cluster needs, and every validity
period is the configured one.

- cluster CA (`<cluster>-ca`)              -> admin client and any API-facing certificate
- front-proxy CA (`<cluster>-front-proxy-ca`) -> front-proxy-client (CN front-proxy-client, clientAuth)
- etcd CA (`<cluster>-etcd-ca`)            -> its certificates
- the CCM's CA Secrets hold exactly those CAs, and the requestheader one verifies front-proxy-client.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.pki import FRONT_PROXY_CLIENT_CN
from components.render.ccm_manifests import (
    CLIENT_CA_FILE,
    CLIENT_CA_SECRET,
    NAMESPACE,
    REQUESTHEADER_CA_FILE,
    REQUESTHEADER_CA_SECRET,
)
from components.settings import parse_settings
from tools.offline.stackfiles import stack_config
from tools.validate.common import Finding, ToolResult, executable, relative, run

SELF_SIGNED = "tls:index/selfSignedCert:SelfSignedCert"
LOCALLY_SIGNED = "tls:index/locallySignedCert:LocallySignedCert"
PURPOSES = {"client_auth": "sslclient", "server_auth": "sslserver"}
CLIENT_AUTH = "TLS Web Client Authentication"


@dataclass(frozen=True)
class Certificate:
    name: str
    path: Path
    inputs: dict[str, Any]
    self_signed: bool


Report = Callable[[Certificate | Path, str], None]
"""Records a finding about a certificate or a file."""


def certificates(stack_dir: Path) -> dict[str, Certificate]:
    documents = json.loads((stack_dir / "resources.json").read_text(encoding="utf-8"))
    found = {}
    for doc in documents:
        if doc["type"] in (SELF_SIGNED, LOCALLY_SIGNED):
            path = stack_dir / "pki" / f"{doc['name']}.crt"
            found[doc["name"]] = Certificate(doc["name"], path, doc["inputs"], doc["type"] == SELF_SIGNED)
    return found


def version() -> str:
    return run([executable("openssl"), "version"]).stdout.strip()


def _x509(path: Path, *options: str) -> str:
    return run([executable("openssl"), "x509", "-in", str(path), "-noout", *options]).stdout


def _verify(ca: Path, leaf: Path, purpose: str | None = None) -> str | None:
    """None when `leaf` verifies against `ca`, else openssl's complaint."""
    argv = [executable("openssl"), "verify", "-x509_strict", "-CAfile", str(ca)]
    completed = run([*argv, *(["-purpose", purpose] if purpose else []), str(leaf)])
    return None if completed.returncode == 0 else (completed.stdout + completed.stderr).strip()


def _validity_hours(path: Path) -> float:
    fields = dict(line.split("=", 1) for line in _x509(path, "-startdate", "-enddate").splitlines() if "=" in line)
    parse = lambda text: dt.datetime.strptime(text.strip(), "%b %d %H:%M:%S %Y %Z")  # noqa: E731
    return (parse(fields["notAfter"]) - parse(fields["notBefore"])).total_seconds() / 3600


def issuer_of(cert: Certificate, all_certs: dict[str, Certificate]) -> Certificate | None:
    """The CA whose certificate the program passed as `caCertPem`."""
    wanted = str(cert.inputs.get("caCertPem", "")).strip()
    return next(
        (
            ca
            for ca in all_certs.values()
            if ca.self_signed and ca.path.exists() and ca.path.read_text(encoding="utf-8").strip() == wanted
        ),
        None,
    )


def _secret_bundle(stack_dir: Path, secret: str, key: str, directory: Path) -> Path | None:
    manifest = stack_dir / "manifests" / f"secret-{NAMESPACE}-{secret}.yaml"
    if not manifest.exists():
        return None
    bundle = directory / f"{secret}.pem"
    bundle.write_text(str(yaml.safe_load(manifest.read_text(encoding="utf-8"))["stringData"][key]), encoding="utf-8")
    return bundle


def check(stack: str, stack_dir: Path) -> ToolResult:
    result = ToolResult("openssl", stack)
    settings = parse_settings(stack_config(stack), stack)
    cluster = settings.cluster_name
    certs = certificates(stack_dir)

    def finding(cert: Certificate | Path, message: str) -> None:
        path = cert.path if isinstance(cert, Certificate) else cert
        result.findings.append(Finding(relative(path), message))

    for cert in certs.values():
        if not cert.path.exists():
            finding(cert, "certificate in resources.json but not rendered")
            continue
        result.checked += 1
        expected_hours = settings.pki.ca_validity_hours if cert.self_signed else settings.pki.cert_validity_hours
        _check_certificate(cert, certs, expected_hours, finding)

    _check_chains(stack_dir, certs, cluster, finding)
    _check_front_proxy_client(certs.get(f"{cluster}-front-proxy-client"), finding)
    for ca_name in (f"{cluster}-ca", f"{cluster}-front-proxy-ca", f"{cluster}-etcd-ca"):
        if ca_name not in certs:
            result.findings.append(Finding(relative(stack_dir / "pki"), f"no {ca_name} rendered"))
    issuers = {c.name: getattr(issuer_of(c, certs), "name", None) for c in certs.values() if not c.self_signed}
    signed_by_etcd = [leaf for leaf, ca in issuers.items() if ca == f"{cluster}-etcd-ca"]
    result.notes.append(
        f"etcd CA signs {len(signed_by_etcd)} rendered certificates (kubeadm issues etcd's own on "
        "the node from it); API-server certificates are issued the same way from the cluster CA"
    )
    _check_ccm_secrets(stack_dir, certs, cluster, finding)
    return result


def _check_certificate(
    cert: Certificate, certs: dict[str, Certificate], expected_hours: float, finding: Report
) -> None:
    """One rendered certificate: its validity period, its chain for each purpose, a CA's basicConstraints."""
    hours = _validity_hours(cert.path)
    if hours != expected_hours or float(cert.inputs.get("validityPeriodHours", -1)) != expected_hours:
        finding(
            cert,
            f"valid for {hours:g} h, program asked {cert.inputs.get('validityPeriodHours')}, "
            f"configured {expected_hours}",
        )
    issuer = cert if cert.self_signed else issuer_of(cert, certs)
    if issuer is None:
        finding(cert, "no rendered CA matches its caCertPem")
        return
    purposes: list[str | None] = [PURPOSES[u] for u in cert.inputs.get("allowedUses", []) if u in PURPOSES]
    for purpose in purposes or [None]:
        problem = _verify(issuer.path, cert.path, purpose)
        if problem:
            finding(cert, f"openssl verify against {issuer.name} ({purpose or 'any purpose'}): {problem}")
    if cert.self_signed and "CA:TRUE" not in _x509(cert.path, "-ext", "basicConstraints"):
        finding(cert, "a CA certificate without basicConstraints CA:TRUE")


def _check_chains(stack_dir: Path, certs: dict[str, Certificate], cluster: str, finding: Report) -> None:
    """The admin certificate comes from the cluster CA, front-proxy-client from the front-proxy CA."""
    expected_chains = {
        f"{cluster}-admin": f"{cluster}-ca",
        f"{cluster}-front-proxy-client": f"{cluster}-front-proxy-ca",
    }
    for leaf, ca in expected_chains.items():
        issuer = issuer_of(certs[leaf], certs) if leaf in certs else None
        if issuer is None or issuer.name != ca:
            finding(
                Path(stack_dir / "pki" / f"{leaf}.crt"),
                f"expected to be issued by {ca}, is by {issuer.name if issuer else 'nothing rendered'}",
            )


def _check_front_proxy_client(client: Certificate | None, finding: Report) -> None:
    """The name and usage the API server's requestheader authentication demands."""
    if not client or not client.path.exists():
        return
    subject = _x509(client.path, "-subject", "-nameopt", "RFC2253").strip().removeprefix("subject=").split(",")
    if f"CN={FRONT_PROXY_CLIENT_CN}" not in subject:
        finding(client, f"subject {subject} has no CN {FRONT_PROXY_CLIENT_CN}")
    if CLIENT_AUTH not in _x509(client.path, "-ext", "extendedKeyUsage"):
        finding(client, "no clientAuth extended key usage")


def _check_ccm_secrets(stack_dir: Path, certs: dict[str, Certificate], cluster: str, finding: Report) -> None:
    """The CCM's CA Secrets hold the program's CAs, and the requestheader CA admits front-proxy-client."""
    with tempfile.TemporaryDirectory(prefix="validate-openssl-") as temporary:
        expected = {
            (CLIENT_CA_SECRET, CLIENT_CA_FILE): f"{cluster}-ca",
            (REQUESTHEADER_CA_SECRET, REQUESTHEADER_CA_FILE): f"{cluster}-front-proxy-ca",
        }
        for (secret, key), ca_name in expected.items():
            bundle = _secret_bundle(stack_dir, secret, key, Path(temporary))
            ca = certs.get(ca_name)
            if bundle is None or ca is None or not ca.path.exists():
                continue
            if bundle.read_text(encoding="utf-8").strip() != ca.path.read_text(encoding="utf-8").strip():
                finding(ca, f"Secret {NAMESPACE}/{secret} does not hold {ca_name}")
        requestheader = _secret_bundle(stack_dir, REQUESTHEADER_CA_SECRET, REQUESTHEADER_CA_FILE, Path(temporary))
        client = certs.get(f"{cluster}-front-proxy-client")
        if requestheader and client and client.path.exists():
            problem = _verify(requestheader, client.path, "sslclient")
            if problem:
                finding(client, f"the CCM's requestheader CA does not verify it: {problem}")
