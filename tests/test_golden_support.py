"""The snapshot helper: a mismatch fails, and an update run rewrites and skips instead of passing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from golden_support import UPDATE_VARIABLE, assert_matches_golden


def test_a_matching_rendering_passes_and_a_changed_one_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(UPDATE_VARIABLE, raising=False)
    golden = tmp_path / "snapshot.yaml"
    golden.write_text("a: 1\n", encoding="utf-8")
    assert_matches_golden(golden, "a: 1\n")
    with pytest.raises(AssertionError, match="changed"):
        assert_matches_golden(golden, "a: 2\n")
    with pytest.raises(AssertionError, match="no golden file"):
        assert_matches_golden(tmp_path / "missing.yaml", "a: 1\n")


def test_an_update_run_rewrites_the_file_and_skips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(UPDATE_VARIABLE, "1")
    golden = tmp_path / "new" / "snapshot.yaml"
    with pytest.raises(pytest.skip.Exception, match=re.escape("rewritten (changed); review the diff")):
        assert_matches_golden(golden, "a: 2\n")
    assert golden.read_text(encoding="utf-8") == "a: 2\n"
    with pytest.raises(pytest.skip.Exception, match=re.escape("rewritten (unchanged)")):
        assert_matches_golden(golden, "a: 2\n")
