"""The bounded memo (workflows/memo.py)."""

from workflows.memo import BoundedMemo


def test_a_memo_empties_itself_when_full() -> None:
    memo: BoundedMemo[int, int] = BoundedMemo(3)
    for n in range(3):
        memo.remember(n, n)
    assert dict(memo) == {0: 0, 1: 1, 2: 2}
    assert memo.remember(-1, 7) == 7
    assert dict(memo) == {-1: 7}
