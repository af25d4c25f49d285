"""End to end on AWS (`make integration`): a throwaway stack of the newest release, `pulumi up` with the
Automation API, the checks a person would run, then `pulumi destroy`. Skipped without the pulumi CLI,
kubectl or AWS credentials."""
