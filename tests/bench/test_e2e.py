"""The benchmark's reader: which timer events a burst counts."""

from bench.e2e import DueTimers


def test_counts_only_the_due_complaints_timer_events() -> None:
    timers = DueTimers({"timer:M-0000001"})
    assert timers.note("timer:M-0000001:response:2026-03-02T01:00:00+00:00", 1.0, 12.0)
    assert timers.note("timer:M-0000001:response:2026-03-03T01:00:00+00:00", 2.0, 30.0)
    # Another complaint's timer: a timer event still, not one of the burst's.
    assert timers.note("timer:M-00000010:response:2026-03-02T01:00:00+00:00", 3.0, 5.0)
    assert timers.note("timer:M-0000002", 4.0, 5.0)
    burst = timers.arrivals
    assert (burst.count, burst.first, burst.last, burst.behind_ms) == (2, 1.0, 2.0, [12.0, 30.0])


def test_a_commands_event_is_left_to_the_commands_reader() -> None:
    timers = DueTimers({"timer:M-0000001"})
    assert not timers.note("cmd-M-0000001-verify", 1.0, 1.0)
    assert not timers.note("", 1.0, 1.0)
    assert timers.arrivals.count == 0
