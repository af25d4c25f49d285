"""A kubeconfig with embedded certificates: a pure function."""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

from components.render.yaml_dump import dump_yaml


def render_kubeconfig(  # noqa: PLR0917 - positional, as the program's Output.all(...).apply passes them
    cluster_name: str,
    server: str,
    ca_cert_pem: str,
    client_cert_pem: str,
    client_key_pem: str,
    user: str = "admin",
) -> str:
    """kubeconfig for `user` at `server` (`https://host:port`), everything inline as base64."""
    _check_server(server)
    context = f"{user}@{cluster_name}"
    return dump_yaml(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": cluster_name, "cluster": {"server": server, "certificate-authority-data": _b64(ca_cert_pem)}}
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": _b64(client_cert_pem),
                        "client-key-data": _b64(client_key_pem),
                    },
                }
            ],
            "contexts": [{"name": context, "context": {"cluster": cluster_name, "user": user}}],
            "current-context": context,
            "preferences": {},
        }
    )


def _check_server(server: str) -> None:
    parts = urlsplit(server)
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        valid = False
    else:
        valid = parts.scheme == "https" and bool(parts.hostname) and parts.path in ("", "/")
    if not valid:
        raise ValueError(f"server must be https://host[:port], got {server!r}")


def _b64(pem: str) -> str:
    return base64.b64encode(pem.encode()).decode()
