// Command pulumi-resource-kubernetes serves the pulumi-kubernetes provider pinned in go.mod, as
// upstream's cmd/pulumi-resource-kubernetes/main.go does. engine/build.py writes the two embedded
// files (the module's schema.json with the version set, and its terraform-mapping.json) and sets
// pkg/version.Version to the same version with -ldflags -X.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

const providerName = "kubernetes"

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve(providerName, version.Version, pulumiSchema, terraformMapping)
}
