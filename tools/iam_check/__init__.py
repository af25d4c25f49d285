"""IAM simulation tier: what each node role may do, judged by an independent evaluator.

The stack's roles, their inline and attached managed policies and the KMS key policy come from the
program's offline render; the requests come from the CCM's recorded AWS calls per release
(`ccm_calls`), least-privilege counter-examples (`cases`) and the SSM parameter access matrix; the
decisions come from @cloud-copilot/iam-simulate (`tools/iam_sim`, run by `runner`).

    python -m tools.iam_check [--stack NAME ...]     # prints the table, exits 1 on a wrong decision
"""
