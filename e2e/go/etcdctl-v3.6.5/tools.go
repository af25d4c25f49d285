//go:build tools

// Package tools pins the package of the upstream main package that e2e/build.py builds
// (a main package cannot be imported), so `go mod tidy` keeps go.sum complete for it.
package tools

import (
	_ "go.etcd.io/etcd/etcdctl/v3/ctlv3"
)
