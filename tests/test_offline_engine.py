"""The offline engine itself, driven by a small sample program (not the project's)."""

from __future__ import annotations

import functools
import ipaddress
import json
import re
import subprocess
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_random as random
import pulumi_tls as tls
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from components.settings import ConfigError, parse_settings
from tools import output, render
from tools.offline import tlsgen
from tools.offline.capture import Graph, is_secret, is_unknown, unwrap_secrets
from tools.offline.engine import partial_graph, run_program
from tools.offline.mocks import OfflineMocks, deterministic_string
from tools.offline.stackfiles import StackFileError, list_stacks, stack_config

CERT = "tls:index/locallySignedCert:LocallySignedCert"
CA = "tls:index/selfSignedCert:SelfSignedCert"
KEY = "tls:index/privateKey:PrivateKey"
INSTANCE = "aws:ec2/instance:Instance"
AMI_PATTERN = "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*"
USER_DATA = "#cloud-config\nhostname: sample-node\n"


class SamplePki(pulumi.ComponentResource):
    """A CA and one server+client certificate signed by it."""

    def __init__(self, name: str) -> None:
        super().__init__("test:offline:SamplePki", name, None, None)
        child = pulumi.ResourceOptions(parent=self)
        self.ca_key = tls.PrivateKey(f"{name}-ca", algorithm="RSA", rsa_bits=2048, opts=child)
        self.ca_cert = tls.SelfSignedCert(
            f"{name}-ca",
            private_key_pem=self.ca_key.private_key_pem,
            is_ca_certificate=True,
            subject=tls.SelfSignedCertSubjectArgs(common_name="sample-ca", organization="sample"),
            validity_period_hours=87600,
            allowed_uses=["cert_signing", "key_encipherment", "digital_signature"],
            opts=child,
        )
        key = tls.PrivateKey(f"{name}-server", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        request = tls.CertRequest(
            f"{name}-server",
            private_key_pem=key.private_key_pem,
            subject=tls.CertRequestSubjectArgs(common_name="front-proxy-client", organization="system:masters"),
            dns_names=["kubernetes.default.svc"],
            ip_addresses=["10.96.0.1", "fd00:10:96::1"],
            opts=child,
        )
        self.server_cert = tls.LocallySignedCert(
            f"{name}-server",
            cert_request_pem=request.cert_request_pem,
            ca_cert_pem=self.ca_cert.cert_pem,
            ca_private_key_pem=self.ca_key.private_key_pem,
            validity_period_hours=8760,
            allowed_uses=["digital_signature", "key_encipherment", "server_auth", "client_auth"],
            opts=child,
        )
        self.register_outputs({"caCertPem": self.ca_cert.cert_pem})


def first_64(block: str) -> str:
    return str(next(ipaddress.ip_network(block).subnets(new_prefix=64)))


def sample_program() -> None:
    zones = aws.get_availability_zones(state="available")
    vpc = aws.ec2.Vpc(
        "sample", cidr_block="10.0.0.0/16", assign_generated_ipv6_cidr_block=True, tags={"Name": "sample"}
    )
    subnet = aws.ec2.Subnet(
        "sample-public-1",
        vpc_id=vpc.id,
        cidr_block="10.0.16.0/20",
        availability_zone=zones.names[0],
        ipv6_cidr_block=vpc.ipv6_cidr_block.apply(first_64),
        assign_ipv6_address_on_creation=True,
        map_public_ip_on_launch=True,
    )
    pki = SamplePki("sample")
    ami = aws.ec2.get_ami_output(
        owners=["099720109477"], most_recent=True, filters=[aws.ec2.GetAmiFilterArgs(name="name", values=[AMI_PATTERN])]
    )
    node = aws.ec2.Instance(
        "sample-node",
        ami=ami.id,
        instance_type="t3.medium",
        subnet_id=subnet.id,
        ipv6_address_count=1,
        user_data=USER_DATA,
        opts=pulumi.ResourceOptions(depends_on=[pki], ignore_changes=["ami"]),
    )
    aws.ssm.Parameter("sample-ca-key", name="/sample/pki/ca.key", type="SecureString", value=pki.ca_key.private_key_pem)
    token = random.RandomString("sample-token", length=16, upper=False, special=False)
    pulumi.export("caCertificate", pki.ca_cert.cert_pem)
    pulumi.export("serverCertificate", pki.server_cert.cert_pem)
    pulumi.export("bootstrapToken", pulumi.Output.secret(token.result))
    pulumi.export("clusterName", pulumi.Config().require("clusterName"))
    pulumi.export(
        "node",
        {
            "privateIp": node.private_ip,
            "ipv6": node.ipv6_addresses,
            "dns": node.private_dns,
            "publicIp": node.public_ip,
        },
    )


def settings_first_program() -> None:
    """Like the project's program: settings are parsed before anything is registered."""
    parse_settings(dict(pulumi.runtime.config.CONFIG.get()), pulumi.get_stack())
    sample_program()


@pytest.fixture(scope="module")
def up() -> Graph:
    return run_program("dev", preview=False, program=sample_program)


@pytest.fixture(scope="module")
def preview() -> Graph:
    return run_program("dev", preview=True, program=sample_program)


def cert_of(graph: Graph, type_token: str, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(graph.one(type_token, name).state["certPem"].encode())


def test_certificate_chain_verifies_with_openssl(up: Graph, tmp_path: Path) -> None:
    ca, server = tmp_path / "ca.crt", tmp_path / "server.crt"
    ca.write_text(up.one(CA, "sample-ca").state["certPem"])
    server.write_text(up.one(CERT, "sample-server").state["certPem"])
    for purpose in ("sslclient", "sslserver"):
        result = subprocess.run(
            ["openssl", "verify", "-purpose", purpose, "-CAfile", ca, server],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0 and result.stdout.strip() == f"{server}: OK", result.stdout + result.stderr
    # The check can fail: the leaf is not its own issuer.
    wrong = subprocess.run(["openssl", "verify", "-CAfile", server, server], capture_output=True, check=False)
    assert wrong.returncode != 0


def test_certificates_carry_the_requested_subject_usages_and_names(up: Graph) -> None:
    ca, server = cert_of(up, CA, "sample-ca"), cert_of(up, CERT, "sample-server")
    assert ca.subject.rfc4514_string() == "CN=sample-ca,O=sample"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign is True
    assert server.issuer == ca.subject
    assert server.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "front-proxy-client"
    assert server.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    assert list(server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ]
    usage = server.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.digital_signature, usage.key_encipherment, usage.key_cert_sign) == (True, True, False)
    assert server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["kubernetes.default.svc"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.96.0.1", "fd00:10:96::1"]
    record = up.one(CERT, "sample-server")
    assert server.not_valid_after_utc - server.not_valid_before_utc == tlsgen.dt.timedelta(hours=8760)
    assert record.state["validityStartTime"] == server.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_private_keys_are_real_and_secret(up: Graph) -> None:
    record = up.one(KEY, "sample-ca")
    assert "privateKeyPem" in record.additional_secret_outputs
    assert is_secret(record.state["privateKeyPem"]) and not is_secret(record.state["publicKeyPem"])
    key = serialization.load_pem_private_key(unwrap_secrets(record.state["privateKeyPem"]).encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert unwrap_secrets(record.state["privateKeyPem"]).startswith("-----BEGIN RSA " + "PRIVATE KEY-----")
    assert record.state["publicKeyOpenssh"].startswith("ssh-rsa ")
    assert re.fullmatch(r"SHA256:[A-Za-z0-9+/]{43}", record.state["publicKeyFingerprintSha256"])


def test_rsa_keys_are_derived_from_the_name_not_just_cached() -> None:
    def pem(name: str) -> bytes:
        key = tlsgen.derive_key(name, "RSA", 2048)
        return key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    first = pem("determinism-check")
    del tlsgen._KEY_CACHE[("determinism-check", "RSA", "2048")]
    assert pem("determinism-check") == first != pem("determinism-check-2")


@pytest.mark.parametrize(
    ("algorithm", "curve", "key_type"),
    [
        ("ECDSA", "P384", ec.EllipticCurvePrivateKey),
        ("ED25519", "", ed25519.Ed25519PrivateKey),
    ],
)
def test_other_key_algorithms(algorithm: str, curve: str, key_type: type) -> None:
    outputs = tlsgen.private_key_outputs(f"unit-{algorithm}", {"algorithm": algorithm, "ecdsaCurve": curve})
    key = serialization.load_pem_private_key(outputs["privateKeyPemPkcs8"].encode(), None)
    assert isinstance(key, key_type)
    assert outputs == tlsgen.private_key_outputs(f"unit-{algorithm}", {"algorithm": algorithm, "ecdsaCurve": curve})
    prefix = {"ECDSA": "ecdsa-sha2-nistp384 ", "ED25519": "ssh-ed25519 "}[algorithm]
    assert outputs["publicKeyOpenssh"].startswith(prefix)


def test_preview_leaves_computed_outputs_unknown(preview: Graph) -> None:
    cert = preview.one(CERT, "sample-server")
    assert "certPem" not in cert.state and cert.id is None
    assert is_unknown(preview.exports["serverCertificate"])
    subnet = preview.one("aws:ec2/subnet:Subnet", "sample-public-1")
    assert is_unknown(subnet.inputs["vpcId"]) and is_unknown(subnet.inputs["ipv6CidrBlock"])
    # Invokes and config are answered during a preview, as by the real engine.
    assert subnet.inputs["availabilityZone"] == "us-east-1a"
    assert preview.exports["clusterName"] == "dev"


def test_aws_placeholders_are_realistic(up: Graph) -> None:
    vpc = up.one("aws:ec2/vpc:Vpc", "sample")
    assert re.fullmatch(r"vpc-0[0-9a-f]{16}", vpc.id or "")
    assert vpc.state["arn"] == f"arn:aws:ec2:us-east-1:123456789012:vpc/{vpc.id}"
    block = ipaddress.IPv6Network(vpc.state["ipv6CidrBlock"])
    assert block.prefixlen == 56 and block.subnet_of(ipaddress.IPv6Network("2600:1f18::/32"))
    node = up.one(INSTANCE, "sample-node")
    private_ip = ipaddress.ip_address(node.state["privateIp"])
    assert private_ip in ipaddress.ip_network("10.0.16.0/20") and int(private_ip) & 0xFFF >= 4
    assert node.state["privateDns"] == f"ip-{str(private_ip).replace('.', '-')}.ec2.internal"
    assert ipaddress.ip_address(node.state["ipv6Addresses"][0]) in ipaddress.ip_network(first_64(str(block)))
    assert ipaddress.ip_address(node.state["publicIp"]) in ipaddress.ip_network("203.0.113.0/24")
    assert up.exports["node"]["privateIp"] == str(private_ip)
    assert re.fullmatch(r"i-0[0-9a-f]{16}", node.id or "") and re.fullmatch(r"ami-0[0-9a-f]{16}", node.inputs["ami"])
    ami = OfflineMocks().call(
        pulumi.runtime.MockCallArgs(
            "aws:ec2/getAmi:getAmi",
            {
                "owners": ["099720109477"],
                "filters": [{"name": "name", "values": [AMI_PATTERN]}],
            },
            "",
        )
    )[0]
    assert (ami["id"], ami["ownerId"], ami["architecture"]) == (node.inputs["ami"], "099720109477", "x86_64")
    assert ami["name"] == "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20250115"
    assert [invoke.args["filters"][0]["values"] for invoke in up.invokes_of("aws:ec2/getAmi:getAmi")] == [[AMI_PATTERN]]
    token = up.one("random:index/randomString:RandomString", "sample-token")
    assert re.fullmatch(r"[a-z0-9]{16}", token.state["result"]) and token.id == token.state["result"]


def test_region_comes_from_the_stack_config() -> None:
    graph = run_program("dev", preview=False, program=sample_program, overrides={"aws:region": "eu-west-1"})
    node = graph.one(INSTANCE, "sample-node")
    assert node.state["privateDns"].endswith(".eu-west-1.compute.internal")
    assert node.state["availabilityZone"] == "eu-west-1a"
    assert graph.one("aws:ec2/vpc:Vpc", "sample").state["arn"].startswith("arn:aws:ec2:eu-west-1:123456789012:vpc/")


def test_urns_follow_the_engine(up: Graph) -> None:
    prefix = "urn:pulumi:dev::k8s-dualstack-aws::"
    assert up.one("aws:ec2/vpc:Vpc", "sample").urn == f"{prefix}aws:ec2/vpc:Vpc::sample"
    assert up.one(CERT, "sample-server").urn == f"{prefix}test:offline:SamplePki${CERT}::sample-server"
    assert up.stack is not None and up.stack.urn == f"{prefix}pulumi:pulumi:Stack::k8s-dualstack-aws-dev"
    assert up.one(CERT, "sample-server").parent == up.one("test:offline:SamplePki", "sample").urn


def test_graph_relations(up: Graph) -> None:
    pki = up.one("test:offline:SamplePki", "sample")
    node, vpc = up.one(INSTANCE, "sample-node"), up.one("aws:ec2/vpc:Vpc", "sample")
    assert sorted((r.type.split(":")[-1], r.name) for r in up.children_of(pki)) == [
        ("CertRequest", "sample-server"),
        ("LocallySignedCert", "sample-server"),
        ("PrivateKey", "sample-ca"),
        ("PrivateKey", "sample-server"),
        ("SelfSignedCert", "sample-ca"),
    ]
    server = up.one(CERT, "sample-server")
    assert [r.urn for r in up.ancestors(server)] == [pki.urn, up.stack.urn if up.stack else ""]
    assert up.depends_on(node, pki)  # depends_on a component = on its custom children
    assert up.depends_on(node, vpc) and not up.depends_on(node, vpc, transitive=False)
    assert not up.depends_on(vpc, pki) and not up.depends_on(vpc, node)
    assert node.ignore_changes == ("ami",)
    assert pki.outputs["caCertPem"] == up.exports["caCertificate"]
    with pytest.raises(KeyError, match="sample-node"):
        up.one(INSTANCE, "missing")


def test_render_redacts_secrets_and_writes_certificates(up: Graph, tmp_path: Path) -> None:
    written = render.write_all(up, tmp_path)
    resources = json.loads((tmp_path / "resources.json").read_text())
    parameter = next(doc for doc in resources if doc["name"] == "sample-ca-key")
    assert parameter["inputs"]["value"] == "[secret]"
    assert parameter["propertyDependencies"]["value"] == [up.one(KEY, "sample-ca").urn]
    assert json.loads((tmp_path / "exports.json").read_text())["bootstrapToken"] == "[secret]"
    assert all("PRIVATE KEY" not in path.read_text() for path in written)
    assert sorted(path.name for path in (tmp_path / "pki").iterdir()) == ["sample-ca.crt", "sample-server.crt"]
    assert (tmp_path / "userdata" / "sample-node.yaml").read_text() == USER_DATA
    dot = (tmp_path / "graph.dot").read_text()
    node, subnet = up.one(INSTANCE, "sample-node"), up.one("aws:ec2/subnet:Subnet", "sample-public-1")
    assert f'"{node.urn}" -> "{subnet.urn}";' in dot
    assert f'"{node.parent}" -> "{node.urn}" [style=dashed, arrowhead=none];' in dot


def test_two_renders_are_byte_identical(tmp_path: Path) -> None:
    def render_into(directory: Path, preview: bool) -> dict[str, bytes]:
        render.write_all(run_program("dev", preview=preview, program=sample_program), directory)
        return {str(path.relative_to(directory)): path.read_bytes() for path in directory.rglob("*") if path.is_file()}

    first, second = render_into(tmp_path / "a", False), render_into(tmp_path / "b", False)
    assert first == second
    assert {"resources.json", "graph.dot", "exports.json", "artifacts.json", "userdata/sample-node.yaml"} <= set(first)
    assert {"pki/sample-ca.crt", "pki/sample-server.crt"} <= set(first)
    unknown = render_into(tmp_path / "preview", True)
    assert json.loads(unknown["exports.json"])["serverCertificate"] == output.UNKNOWN_TEXT
    assert not any(name.startswith("pki/") for name in unknown)


def test_program_error_propagates_with_the_partial_graph() -> None:
    def failing() -> None:
        aws.ec2.Vpc("before-failure", cidr_block="10.1.0.0/16")
        raise RuntimeError("boom after one resource")

    with pytest.raises(RuntimeError, match="boom after one resource") as caught:
        run_program("dev", preview=False, program=failing)
    graph = partial_graph(caught.value)
    assert graph is not None and [r.name for r in graph.resources] == ["before-failure"]


def test_config_error_comes_before_any_resource() -> None:
    overrides = {"kubernetesVersion": "1.99", "vpcIpv4Cidr": "10.0.0.0/33"}
    with pytest.raises(ConfigError) as caught:
        run_program("dev", preview=True, program=settings_first_program, overrides=overrides)
    assert {problem.key for problem in caught.value.problems} == {"kubernetesVersion", "vpcIpv4Cidr"}
    graph = partial_graph(caught.value)
    assert graph is not None and graph.resources == [] and graph.exports == {}


def test_runs_are_isolated_from_each_other_and_from_the_caller() -> None:
    renamed = run_program("dev", preview=True, program=sample_program, overrides={"clusterName": "other"})
    plain = run_program("dev", preview=True, program=sample_program)
    assert (renamed.exports["clusterName"], plain.exports["clusterName"]) == ("other", "dev")
    assert pulumi.runtime.settings.get_root_resource() is None
    assert pulumi.runtime.get_config("k8s-dualstack-aws:clusterName") is None
    root = run_program(
        "dev", preview=False, program=lambda: pulumi.export("root", pulumi.runtime.settings.get_root_directory())
    )
    assert root.exports == {"root": str(Path(__file__).resolve().parents[1])}


def test_stack_config_is_what_the_engine_passes() -> None:
    config = stack_config("dev", overrides={"workerMaxSize": 3, "aws:region": None, "natGateway": "true"})
    assert config["k8s-dualstack-aws:adminCidrs"] == '["192.0.2.0/24","2001:db8:100::/48"]'
    assert (config["k8s-dualstack-aws:workerMaxSize"], config["k8s-dualstack-aws:natGateway"]) == ("3", "true")
    assert config["k8s-dualstack-aws:smokeWorkload"] == "true" and "aws:region" not in config
    assert {"dev", "k8s-1-21", "k8s-1-22", "k8s-1-35"} <= set(list_stacks())
    with pytest.raises(StackFileError, match=r"no stack file Pulumi\.nope\.yaml"):
        stack_config("nope")


def test_deterministic_string_honours_classes_and_minimums() -> None:
    text = deterministic_string("x", {"length": 20, "minUpper": 3, "minNumeric": 5, "special": False})
    assert len(text) == 20 and text == deterministic_string(
        "x", {"length": 20, "minUpper": 3, "minNumeric": 5, "special": False}
    )
    assert sum(c.isupper() for c in text) >= 3 and sum(c.isdigit() for c in text) >= 5 and text.isalnum()


def test_render_cli_writes_files_and_fails_on_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(render, "run_program", functools.partial(run_program, program=sample_program))
    assert render.main(["--stack", "dev", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "     1  aws:ec2/vpc:Vpc" in out and render.PLACEHOLDER_NOTE in out
    assert "release: Kubernetes 1.22" in out
    assert (tmp_path / "dev" / "resources.json").is_file()
    monkeypatch.setattr(
        render,
        "run_program",
        functools.partial(run_program, program=settings_first_program, overrides={"kubernetesVersion": "1.99"}),
    )
    assert render.main(["--stack", "dev", "--out", str(tmp_path)]) == 1
    assert "k8s-dualstack-aws:kubernetesVersion = '1.99'" in capsys.readouterr().err
