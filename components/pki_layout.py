"""Where each piece of cluster PKI lives: its SSM parameter and its file on the node.

One table shared by `ClusterPki` (which writes the parameters) and the bootstrap renderers
(which fetch them at boot), so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

KUBERNETES_PKI_DIR = "/etc/kubernetes/pki"


@dataclass(frozen=True)
class NodeFile:
    """One file a node fetches from SSM at boot."""

    relative_path: str
    """Path below /etc/kubernetes/pki and below `<ssm prefix>/pki/`."""
    secret: bool
    """Private key material: a SecureString parameter and a 0600 file."""

    def parameter_name(self, ssm_prefix: str) -> str:
        return f"{ssm_prefix}/pki/{self.relative_path}"

    @property
    def node_path(self) -> str:
        return f"{KUBERNETES_PKI_DIR}/{self.relative_path}"

    @property
    def mode(self) -> str:
        return "0600" if self.secret else "0644"


# kubeadm uses CA files it finds in place instead of generating new ones, and signs every
# other control-plane certificate with them; front-proxy-client is ours so its CN and usage
# are checked before boot.
CONTROL_PLANE_FILES: tuple[NodeFile, ...] = (
    NodeFile("ca.crt", secret=False),
    NodeFile("ca.key", secret=True),
    NodeFile("front-proxy-ca.crt", secret=False),
    NodeFile("front-proxy-ca.key", secret=True),
    NodeFile("front-proxy-client.crt", secret=False),
    NodeFile("front-proxy-client.key", secret=True),
    NodeFile("etcd/ca.crt", secret=False),
    NodeFile("etcd/ca.key", secret=True),
    NodeFile("sa.pub", secret=False),
    NodeFile("sa.key", secret=True),
)


def bootstrap_token_parameter(ssm_prefix: str) -> str:
    """SecureString holding `<id>.<secret>`: the control plane creates it, workers join with it."""
    return f"{ssm_prefix}/bootstrap/token"
