"""Reviewed snapshots under tests/golden/: compare a rendering with its file, or rewrite the file.

    assert_matches_golden(GOLDEN_DIR / "bootstrap" / "init-1.21-ipv4-first.yaml", rendered)

With UPDATE_GOLDEN set, the file is rewritten and the test is skipped, never passed: a
rewritten snapshot is only right once someone has reviewed its diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE_VARIABLE = "UPDATE_GOLDEN"


def assert_matches_golden(path: Path, rendered: str) -> None:
    root = GOLDEN_DIR.parent.parent
    name = path.relative_to(root) if path.is_relative_to(root) else path
    if os.environ.get(UPDATE_VARIABLE):
        path.parent.mkdir(parents=True, exist_ok=True)
        unchanged = path.exists() and path.read_text(encoding="utf-8") == rendered
        path.write_text(rendered, encoding="utf-8")
        pytest.skip(f"golden file {name} rewritten ({'unchanged' if unchanged else 'changed'}); review the diff")
    assert path.exists(), f"no golden file {name}; write it with {UPDATE_VARIABLE}=1 and review it"
    assert rendered == path.read_text(encoding="utf-8"), (
        f"{name} changed; review the rendering and refresh with {UPDATE_VARIABLE}=1"
    )
