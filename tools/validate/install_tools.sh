#!/usr/bin/env bash
# Installs the validators of `make validate` that are not Python packages, each only when missing:
# from Debian's archive shellcheck and cloud-init; actionlint, built from the Go module proxy at
# its pinned version by tools/install_actionlint.sh (shared with the workflow tests).
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
command -v shellcheck >/dev/null || missing+=(shellcheck)
command -v cloud-init >/dev/null || missing+=(cloud-init)
if ((${#missing[@]})); then
  if [[ "$(id -u)" -ne 0 ]]; then
    echo "install_tools: run as root, or: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "install_tools: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "install_tools: actionlint at $(bash tools/install_actionlint.sh)"
