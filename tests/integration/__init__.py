"""End to end on AWS (`make integration`): a throwaway stack of the newest release, `pulumi up` with the
Automation API, the checks a person would run, then `pulumi destroy`; opt-in (`make integration
UPGRADE=1`), an in-place upgrade by one minor, checked the same way. Skipped without the pulumi CLI,
kubectl or AWS credentials."""
