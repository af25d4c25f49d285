"""Components of the k8s-dualstack-aws program: one ComponentResource per concern."""
