"""Entry point the Pulumi CLI runs (`pulumi preview --policy-pack policies`): build the pack, nothing else.

The CLI runs this directory as a script (`runpy.run_path`), which puts `policies/` itself on
sys.path. The rules are a package, `policies.*`, imported exactly as the tests import them: so
the repository root replaces this directory on sys.path (no rule module can shadow a library).
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(entry for entry in sys.path if Path(entry or ".").resolve() != HERE)]

from pulumi_policy import PolicyPack  # noqa: E402 - needs the sys.path above

from policies.pack import DESCRIPTION, PACK_NAME, POLICIES  # noqa: E402

PolicyPack(name=PACK_NAME, policies=list(POLICIES), description=DESCRIPTION)
