"""python -m tools.iam_check [--stack NAME ...]: the IAM simulation tier over the stacks' renders.

Prints per stack the decisions right / total by category and every wrong decision with its role,
action, resource and the simulator's explanation; exits 1 on any wrong decision.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tools.iam_check.judge import judge_stack, report_text
from tools.offline.stackfiles import list_stacks


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.iam_check", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--stack", action="append", help="only this stack (repeatable; default: every stack)")
    args = parser.parse_args(argv)
    reports = [judge_stack(stack) for stack in args.stack or list_stacks()]
    print(report_text(reports))
    return 1 if any(report.wrong for report in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
