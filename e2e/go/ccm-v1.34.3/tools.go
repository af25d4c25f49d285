//go:build tools

// Package tools pins the packages of the upstream main package that e2e/build.py builds
// (a main package cannot be imported), so `go mod tidy` keeps go.sum complete for it.
package tools

import (
	_ "k8s.io/cloud-provider-aws/pkg/controllers/tagging"
	_ "k8s.io/cloud-provider-aws/pkg/providers/v1"
	_ "k8s.io/cloud-provider/app"
	_ "k8s.io/cloud-provider/names"
	_ "k8s.io/cloud-provider/options"
	_ "k8s.io/component-base/cli/flag"
	_ "k8s.io/component-base/logs"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
)
