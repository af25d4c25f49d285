"""A loopback stand-in for the EC2 instance metadata service of the instance the CCM runs on.

It answers IMDSv2 (PUT /latest/api/token, then GETs with the token header) and IMDSv1 for the
paths the CCM reads about its own instance: instance-id (it then describes that instance through
EC2), placement, the local hostname and the interfaces' VPC (the CCM's fallback for its VPC).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "e2e-imds-token"


@dataclass(frozen=True)
class InstanceIdentity:
    instance_id: str
    availability_zone: str
    region: str
    private_dns_name: str
    private_ipv4: str
    mac: str
    vpc_id: str
    subnet_id: str

    def paths(self) -> dict[str, str]:
        interface = f"/latest/meta-data/network/interfaces/macs/{self.mac}/"
        return {
            "/latest/meta-data/instance-id": self.instance_id,
            "/latest/meta-data/placement/availability-zone": self.availability_zone,
            "/latest/meta-data/placement/region": self.region,
            "/latest/meta-data/local-hostname": self.private_dns_name,
            "/latest/meta-data/hostname": self.private_dns_name,
            "/latest/meta-data/local-ipv4": self.private_ipv4,
            "/latest/meta-data/mac": self.mac,
            "/latest/meta-data/network/interfaces/macs/": f"{self.mac}/",
            interface + "vpc-id": self.vpc_id,
            interface + "subnet-id": self.subnet_id,
            "/latest/dynamic/instance-identity/document": json.dumps(
                {
                    "instanceId": self.instance_id,
                    "availabilityZone": self.availability_zone,
                    "region": self.region,
                    "privateIp": self.private_ipv4,
                }
            ),
        }


class MetadataServer:
    def __init__(self, identity: InstanceIdentity) -> None:
        answers = identity.paths()
        self.requests: list[str] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                if status == 200 and self.path == "/latest/api/token":
                    self.send_header("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self) -> None:
                requests.append(f"PUT {self.path}")
                if self.path == "/latest/api/token":
                    self._send(200, TOKEN)
                else:
                    self._send(404, "not found")

            def do_GET(self) -> None:
                requests.append(f"GET {self.path}")
                token = self.headers.get("X-aws-ec2-metadata-token")
                if token is not None and token != TOKEN:
                    self._send(401, "bad token")
                elif self.path in answers:
                    self._send(200, answers[self.path])
                else:
                    self._send(404, "not found")

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> MetadataServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
