"""The comparison of two trees' decide() runs each tree's own code, and says when it cannot."""

from pathlib import Path

import pytest

from bench.decide_versus import REPO, decide_us


def test_a_tree_is_timed_with_its_own_code() -> None:
    assert 0 < decide_us(REPO, complaints=20) < 100_000


def test_a_tree_without_the_core_is_refused_with_its_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="the timing failed") as refused:
        decide_us(tmp_path, complaints=20)
    assert "ModuleNotFoundError" in str(refused.value)
