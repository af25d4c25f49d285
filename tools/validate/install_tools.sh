#!/usr/bin/env bash
# Installs the validators of `make validate` that are not Python packages, each only when missing:
# from Debian's archive shellcheck and cloud-init; actionlint, built from the Go module proxy.
set -euo pipefail
cd "$(dirname "$0")/../.."

ACTIONLINT_MODULE=github.com/rhysd/actionlint/cmd/actionlint
ACTIONLINT_VERSION=v1.7.12
BIN_DIR="$(realpath -m "${1:-.venv/tools/bin}")"  # the validate venv's tools/bin

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

if ! "${BIN_DIR}/actionlint" -version 2>/dev/null | grep -qx "${ACTIONLINT_VERSION}"; then
  command -v go >/dev/null || { echo "install_tools: actionlint is built with go, which is missing" >&2; exit 1; }
  echo "install_tools: go install ${ACTIONLINT_MODULE}@${ACTIONLINT_VERSION}"
  mkdir -p "${BIN_DIR}"
  GOBIN="${BIN_DIR}" go install "${ACTIONLINT_MODULE}@${ACTIONLINT_VERSION}"
fi
