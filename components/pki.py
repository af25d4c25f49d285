"""ClusterPki: the cluster's CAs, front-proxy-client, service-account keys, admin client
certificate and the kubeadm bootstrap token - made by pulumi-tls / pulumi-random.

Private keys and the token go into SSM SecureString parameters below the cluster's path,
encrypted with the cluster's own KMS key (components/secrets_key.py), which the nodes read at
boot with their instance role; they never enter user data.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random
import pulumi_tls as tls

from components.pki_layout import CONTROL_PLANE_FILES, bootstrap_token_parameter
from components.tags import cluster_tags

RSA_BITS = 2048
CA_USES = ["cert_signing", "crl_signing", "digital_signature", "key_encipherment"]
CLIENT_USES = ["client_auth", "digital_signature", "key_encipherment"]
FRONT_PROXY_CLIENT_CN = "front-proxy-client"
ADMIN_CN = "kubernetes-admin"
ADMIN_GROUP = "system:masters"


@dataclass(frozen=True)
class ClusterPkiArgs:
    cluster_name: str
    ssm_prefix: str
    ca_validity_hours: int
    cert_validity_hours: int
    key_id: pulumi.Input[str]
    """The cluster key (its ARN) every SecureString parameter is encrypted with: its policy, not
    the account default `aws/ssm` key's, decides which role decrypts which parameter."""


@dataclass(frozen=True)
class KeyPair:
    key: tls.PrivateKey
    cert_pem: pulumi.Output[str]


class ClusterPki(pulumi.ComponentResource):
    cluster_ca_cert_pem: pulumi.Output[str]
    """Cluster CA (CN kubernetes): signs the API server, kubelet and admin certificates."""
    front_proxy_ca_cert_pem: pulumi.Output[str]
    """Front-proxy CA: the aggregation layer's requestheader-client-ca-file."""
    front_proxy_client_cert_pem: pulumi.Output[str]
    etcd_ca_cert_pem: pulumi.Output[str]
    admin_cert_pem: pulumi.Output[str]
    admin_key_pem: pulumi.Output[str]
    """Secret: the admin client key for the kubeconfig."""
    bootstrap_token: pulumi.Output[str]
    """Secret: `<id>.<secret>` kubeadm bootstrap token."""
    parameters: list[aws.ssm.Parameter]
    """Everything the control plane fetches at boot; it depends on these."""
    bootstrap_token_parameter: aws.ssm.Parameter
    """The one parameter a worker reads at boot."""

    def __init__(self, name: str, args: ClusterPkiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("k8sdualstack:pki:ClusterPki", name, None, opts)
        self._name = name
        self._args = args

        cluster_ca = self._ca("ca", "kubernetes")
        front_proxy_ca = self._ca("front-proxy-ca", "front-proxy-ca")
        etcd_ca = self._ca("etcd-ca", "etcd-ca")
        front_proxy_client = self._client_cert("front-proxy-client", front_proxy_ca, FRONT_PROXY_CLIENT_CN)
        admin = self._client_cert("admin", cluster_ca, ADMIN_CN, ADMIN_GROUP)
        service_account = self._key("sa")

        self.cluster_ca_cert_pem = cluster_ca.cert_pem
        self.front_proxy_ca_cert_pem = front_proxy_ca.cert_pem
        self.front_proxy_client_cert_pem = front_proxy_client.cert_pem
        self.etcd_ca_cert_pem = etcd_ca.cert_pem
        self.admin_cert_pem = admin.cert_pem
        self.admin_key_pem = pulumi.Output.secret(admin.key.private_key_pem)

        material: dict[str, pulumi.Output[str]] = {
            "ca.crt": cluster_ca.cert_pem,
            "ca.key": cluster_ca.key.private_key_pem,
            "front-proxy-ca.crt": front_proxy_ca.cert_pem,
            "front-proxy-ca.key": front_proxy_ca.key.private_key_pem,
            "front-proxy-client.crt": front_proxy_client.cert_pem,
            "front-proxy-client.key": front_proxy_client.key.private_key_pem,
            "etcd/ca.crt": etcd_ca.cert_pem,
            "etcd/ca.key": etcd_ca.key.private_key_pem,
            "sa.pub": service_account.public_key_pem,
            "sa.key": service_account.private_key_pem,
        }
        self.parameters = [
            self._parameter(
                node_file.parameter_name(args.ssm_prefix), material[node_file.relative_path], secret=node_file.secret
            )
            for node_file in CONTROL_PLANE_FILES
        ]
        self.bootstrap_token = self._bootstrap_token()
        self.bootstrap_token_parameter = self._parameter(
            bootstrap_token_parameter(args.ssm_prefix), self.bootstrap_token, secret=True
        )
        self.parameters.append(self.bootstrap_token_parameter)

        self.register_outputs(
            {
                "clusterCaCertPem": self.cluster_ca_cert_pem,
                "frontProxyCaCertPem": self.front_proxy_ca_cert_pem,
                "etcdCaCertPem": self.etcd_ca_cert_pem,
                "parameterNames": [parameter.name for parameter in self.parameters],
            }
        )

    def _opts(self, parent: pulumi.Resource | None = None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent or self)

    def _key(self, purpose: str) -> tls.PrivateKey:
        return tls.PrivateKey(f"{self._name}-{purpose}", algorithm="RSA", rsa_bits=RSA_BITS, opts=self._opts())

    def _ca(self, purpose: str, common_name: str) -> KeyPair:
        key = self._key(purpose)
        cert = tls.SelfSignedCert(
            f"{self._name}-{purpose}",
            private_key_pem=key.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(common_name=common_name),
            is_ca_certificate=True,
            validity_period_hours=self._args.ca_validity_hours,
            allowed_uses=CA_USES,
            opts=self._opts(key),
        )
        return KeyPair(key, cert.cert_pem)

    def _client_cert(self, purpose: str, ca: KeyPair, common_name: str, group: str | None = None) -> KeyPair:
        key = self._key(purpose)
        request = tls.CertRequest(
            f"{self._name}-{purpose}",
            private_key_pem=key.private_key_pem,
            subject=tls.CertRequestSubjectArgs(common_name=common_name, organization=group),
            opts=self._opts(key),
        )
        cert = tls.LocallySignedCert(
            f"{self._name}-{purpose}",
            cert_request_pem=request.cert_request_pem,
            ca_private_key_pem=ca.key.private_key_pem,
            ca_cert_pem=ca.cert_pem,
            validity_period_hours=self._args.cert_validity_hours,
            allowed_uses=CLIENT_USES,
            opts=self._opts(key),
        )
        return KeyPair(key, cert.cert_pem)

    def _bootstrap_token(self) -> pulumi.Output[str]:
        # kubeadm's format: [a-z0-9]{6}.[a-z0-9]{16}
        token_id, token_secret = (
            random.RandomString(
                f"{self._name}-bootstrap-token-{part}",
                length=length,
                upper=False,
                special=False,
                lower=True,
                numeric=True,
                opts=self._opts(),
            )
            for part, length in (("id", 6), ("secret", 16))
        )
        return pulumi.Output.secret(pulumi.Output.concat(token_id.result, ".", token_secret.result))

    def _parameter(self, parameter_name: str, value: pulumi.Input[str], *, secret: bool) -> aws.ssm.Parameter:
        suffix = parameter_name.removeprefix(self._args.ssm_prefix)
        logical = f"{self._name}{suffix}".replace("/", "-").replace(".", "-")
        return aws.ssm.Parameter(
            logical,
            name=parameter_name,
            type="SecureString" if secret else "String",
            value=pulumi.Output.secret(value) if secret else value,
            key_id=self._args.key_id if secret else None,
            tags=cluster_tags(self._args.cluster_name, parameter_name),
            opts=self._opts(),
        )
