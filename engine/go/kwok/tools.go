//go:build tools

// Package tools pins the packages the upstream main package sigs.k8s.io/kwok/cmd/kwok imports (a
// main package cannot be imported), so `go mod tidy` keeps go.sum complete for it.
package tools

import (
	_ "github.com/spf13/pflag"
	_ "sigs.k8s.io/kwok/pkg/config"
	_ "sigs.k8s.io/kwok/pkg/kwok/cmd"
	_ "sigs.k8s.io/kwok/pkg/log"
	_ "sigs.k8s.io/kwok/pkg/utils/signals"
)
