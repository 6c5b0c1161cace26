"""Unit tests of the outbox relay's loop (no broker: only when it claims is tested).

Publishing itself is tested against the real broker in tests/integration/.
"""

from __future__ import annotations

import threading

from producers.relay import OutboxRelay


class CountingRelay(OutboxRelay):
    """A relay whose claims are counted; the second claim stops the loop."""

    def __init__(
        self, stop: threading.Event, claimed: threading.Event, wake: threading.Event
    ) -> None:
        self.calls = 0
        self.stop = stop
        self.claimed = claimed
        self.wake = wake
        self._last_prune = float("inf")  # never prune: no store here
        self.prune_interval_s = float("inf")

    def publish_pending(self) -> int:
        self.calls += 1
        self.claimed.set()
        if self.calls == 2:
            self.stop.set()
            self.wake.set()  # ends the idle wait that follows this claim
        return 0

    def drain_quietly(self) -> None:
        """Nothing to drain."""


def test_an_idle_relay_claims_again_as_soon_as_it_is_woken() -> None:
    stop, claimed, wake = threading.Event(), threading.Event(), threading.Event()
    relay = CountingRelay(stop, claimed, wake)
    runner = threading.Thread(
        target=relay.run, args=(stop,), kwargs={"idle_wait_s": 3600.0, "wake": wake}
    )
    runner.start()
    assert claimed.wait(30), "the relay never claimed"
    wake.set()  # a batch was stored: without the wake it would sleep an hour
    runner.join(30)
    assert not runner.is_alive(), "the woken relay did not claim again"
    assert relay.calls == 2


def test_a_wake_before_the_wait_is_not_lost() -> None:
    stop, claimed, wake = threading.Event(), threading.Event(), threading.Event()
    wake.set()  # stored while the relay was claiming: its wait returns at once
    relay = CountingRelay(stop, claimed, wake)
    relay.run(stop, idle_wait_s=3600.0, wake=wake)
    assert relay.calls == 2
