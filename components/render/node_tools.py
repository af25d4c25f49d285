"""Programs a node runs besides its boot script, written to files by cloud-init (components/render/cloudinit.py):
the SSM parameter fetcher and the removal of a replaced control plane's stale etcd member."""

from __future__ import annotations

# Runs on the node's python3 (3.8 on Ubuntu 20.04). Credentials come straight from IMDSv2:
# botocore before 1.13.25 only speaks IMDSv1, which the instances' http_tokens=required
# turns off. Values are written, never printed.
FETCH_SSM_PARAMETERS = '''\
#!/usr/bin/env python3
"""Copy SSM parameters to files. Usage: fetch-ssm-parameters.py REGION MANIFEST

MANIFEST is a JSON list of {"parameter": name, "path": file, "mode": "0600"}. Every read is
retried: parameters, instance profile and role policy may still be propagating at boot.
"""
import json
import os
import sys
import time
import urllib.request

import boto3

IMDS = "http://169.254.169.254/latest"
ATTEMPTS = 90
DELAY_SECONDS = 10


def imds(path, token):
    request = urllib.request.Request(IMDS + "/meta-data/" + path, headers={"X-aws-ec2-metadata-token": token})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read().decode()


def ssm_client(region):
    request = urllib.request.Request(
        IMDS + "/api/token", method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        token = response.read().decode()
    role = imds("iam/security-credentials/", token).split()[0]
    credentials = json.loads(imds("iam/security-credentials/" + role, token))
    return boto3.client(
        "ssm",
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["Token"],
    )


def read_parameter(region, name):
    for attempt in range(1, ATTEMPTS + 1):
        try:
            result = ssm_client(region).get_parameter(Name=name, WithDecryption=True)
            return result["Parameter"]["Value"]
        except Exception as error:  # every failure is worth another try at boot
            reason = "%s: %s" % (type(error).__name__, error)
            print("fetch-ssm-parameters: %s: try %d/%d: %s" % (name, attempt, ATTEMPTS, reason), file=sys.stderr,
                  flush=True)
            time.sleep(DELAY_SECONDS)
    sys.exit("fetch-ssm-parameters: %s: unreadable after %d tries" % (name, ATTEMPTS))


def write_file(path, value, mode):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    temporary = path + ".tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value if value.endswith("\\n") else value + "\\n")
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def main(region, manifest):
    with open(manifest) as handle:
        entries = json.load(handle)
    for entry in entries:
        write_file(entry["path"], read_parameter(region, entry["parameter"]), int(entry["mode"], 8))
        print("fetch-ssm-parameters: %s -> %s (%s)" % (entry["parameter"], entry["path"], entry["mode"]), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
'''

# A control plane that replaces one (same zone, same fixed address, same IP-based name) must first
# remove the etcd member the old instance left: `kubeadm join --control-plane` adds a member for its
# peer URL, and etcd refuses a second member with a URL that is taken. Runs before every join try.
REMOVE_STALE_ETCD_MEMBER = r"""#!/bin/bash
# Removes the etcd member a replaced control plane left behind, before this node joins in its place.
# Usage: remove-stale-etcd-member.sh NODE_NAME PEER_HOST MEMBER_HOSTS
#   NODE_NAME     this node's name; the instance it replaces had the same (IP-based) one
#   PEER_HOST     this node's etcd address as a URL host: 10.0.16.10 or [2600:1f18::a]
#   MEMBER_HOSTS  the other control planes' etcd addresses as URL hosts, comma-separated (port 2379)
# Environment: ETCD_PKI, the directory of the etcd CA (default /etc/kubernetes/pki/etcd); ETCDCTL, an
# etcdctl command (default: etcdctl of ETCD_IMAGE, run by ctr in containerd's k8s.io namespace).
# A member is stale when its name is NODE_NAME or its peer URL is https://PEER_HOST:2380 (also one
# that a failed join added and never started). Exits non-zero when no member answers: retry later.
set -Eeuo pipefail
umask 077

[[ $# -eq 3 && -n "$1" && -n "$2" && -n "$3" ]] || {
  echo "usage: $0 NODE_NAME PEER_HOST MEMBER_HOSTS" >&2
  exit 2
}
readonly NODE_NAME="$1" PEER_URL="https://$2:2380"
endpoints=""
IFS=',' read -r -a member_hosts <<<"$3"
for host in "${member_hosts[@]}"; do
  endpoints="${endpoints:+${endpoints},}https://${host}:2379"
done
readonly ENDPOINTS="${endpoints}"
readonly ETCD_PKI="${ETCD_PKI:-/etc/kubernetes/pki/etcd}"
CLIENT_DIR="$(mktemp -d)"
readonly CLIENT_DIR
trap 'rm -rf "${CLIENT_DIR}"' EXIT

log() { printf 'remove-stale-etcd-member: %s\n' "$*"; }

# A client certificate for this run, signed by the etcd CA: kubeadm's etcd admits any client its CA signed.
openssl req -new -newkey rsa:2048 -nodes -subj "/CN=k8s-bootstrap-etcd-member-cleanup" \
  -keyout "${CLIENT_DIR}/client.key" -out "${CLIENT_DIR}/client.csr" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >"${CLIENT_DIR}/client.ext"
openssl x509 -req -in "${CLIENT_DIR}/client.csr" -CA "${ETCD_PKI}/ca.crt" -CAkey "${ETCD_PKI}/ca.key" \
  -set_serial "0x$(openssl rand -hex 8)" -days 1 -extfile "${CLIENT_DIR}/client.ext" \
  -out "${CLIENT_DIR}/client.crt" 2>/dev/null

etcdctl_run() {
  if [[ -n "${ETCDCTL:-}" ]]; then
    "${ETCDCTL}" "$@"
    return
  fi
  ctr --namespace k8s.io images pull "${ETCD_IMAGE:?ETCD_IMAGE or ETCDCTL must be set}" >/dev/null
  ctr --namespace k8s.io run --rm --net-host \
    --mount "type=bind,src=${ETCD_PKI},dst=${ETCD_PKI},options=rbind:ro" \
    --mount "type=bind,src=${CLIENT_DIR},dst=${CLIENT_DIR},options=rbind:ro" \
    "${ETCD_IMAGE}" "etcdctl-$$-${RANDOM}" /usr/local/bin/etcdctl "$@"
}

etcdctl_cluster() {
  etcdctl_run --endpoints="${ENDPOINTS}" --cacert="${ETCD_PKI}/ca.crt" --cert="${CLIENT_DIR}/client.crt" \
    --key="${CLIENT_DIR}/client.key" --dial-timeout=5s --command-timeout=15s "$@"
}

# `simple` lines: ID, STATUS, NAME, PEER ADDRS (comma-joined), CLIENT ADDRS, IS LEARNER; IDs in hex.
members="$(etcdctl_cluster member list --write-out=simple)"
stale="$(awk -F', ' -v name="${NODE_NAME}" -v peer="${PEER_URL}" \
  '$3 == name || index("," $4 ",", "," peer ",") { print $1 }' <<<"${members}")"
if [[ -z "${stale}" ]]; then
  log "no member named ${NODE_NAME} or at ${PEER_URL}: nothing to remove"
  exit 0
fi
while read -r id; do
  log "removing stale member ${id}: $(grep -F "${id}, " <<<"${members}")"
  etcdctl_cluster member remove "${id}"
done <<<"${stale}"
"""
