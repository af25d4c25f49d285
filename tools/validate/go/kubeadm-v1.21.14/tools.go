//go:build tools
// +build tools

// Package tools pins kubeadm's packages (a main package cannot be imported), so `go mod tidy`
// keeps go.sum complete for the kubeadm that tools/validate/kubeadm_build.py builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kubeadm/app"
)
