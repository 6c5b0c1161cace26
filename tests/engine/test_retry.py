"""The one retry loop: exponential backoff on the given errors, reset after a success."""

from __future__ import annotations

import pytest

from engine.errors import BrokerError, StoreError
from engine.retry import run_with_backoff


class FakeStop:
    """Records every wait; stops after ``steps`` calls of the step."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.stopped = False

    def is_set(self) -> bool:
        return self.stopped

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        return self.stopped


def test_backoff_doubles_up_to_the_cap_and_resets_after_a_success() -> None:
    stop = FakeStop()
    script: list[float | Exception] = [
        StoreError("down"),
        StoreError("down"),
        StoreError("down"),
        StoreError("down"),
        0.0,
        BrokerError("down"),
        0.25,
    ]
    failures: list[BaseException] = []

    def step() -> float:
        item = script.pop(0)
        if not script:
            stop.stopped = True
        if isinstance(item, Exception):
            raise item
        return item

    run_with_backoff(
        step,
        stop,
        retry_on=(StoreError, BrokerError),
        what="test",
        on_failure=failures.append,
        initial_s=0.5,
        max_s=3.0,
    )
    assert stop.waits == [0.5, 1.0, 2.0, 3.0, 0.5, 0.25]
    assert len(failures) == 5


def test_other_errors_end_the_loop() -> None:
    def step() -> float:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        run_with_backoff(step, FakeStop(), retry_on=(StoreError,), what="test")
