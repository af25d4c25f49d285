"""The engine tier: the real Pulumi engine applies the project's cluster-side components."""
