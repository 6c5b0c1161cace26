"""The benchmark's reader (which timer events a burst counts), how a measure is rounded, and
the order of its repeated cost measures."""

import pytest

from bench import e2e
from bench.e2e import DueTimers, judged, verdicts


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


def test_a_measure_is_rounded_toward_missing_its_target() -> None:
    # A ratio of 0.34994 is not 0.35: rounded to the nearest it would print as met.
    assert judged("ratio", 0.34994, 3) == 0.349
    assert verdicts({"ratio": judged("ratio", 0.34994, 3)}) == {"ratio": "NOT met"}
    assert judged("ratio", 0.35, 3) == 0.35
    assert verdicts({"ratio": judged("ratio", 0.35, 3)}) == {"ratio": "met"}
    # A maximum rounds up: 250.04 ms is over 250.
    assert judged("latency_ms_p99", 250.04, 1) == 250.1
    assert verdicts({"latency_ms_p99": judged("latency_ms_p99", 250.04, 1)}) == {
        "latency_ms_p99": "NOT met"
    }
    assert judged("latency_ms_p99", 250.0, 1) == 250.0
    assert judged("timer_burst_s", 2.4111, 2) == 2.42
    assert judged("engine_transitions_per_s", 5831.87, 1) == 5831.8


def test_cost_rounds_alternate_which_database_goes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    timed: list[tuple[str, str]] = []

    def fake_cost(url: str, label: str, complaints: int) -> float:
        timed.append((url, label))
        return float(len(timed))

    monkeypatch.setattr(e2e, "us_per_transition", fake_cost)
    costs = e2e.cost_rounds({"10k": "small-db", "1m": "big-db"}, "t", 3)
    assert [url for url, _ in timed] == [
        *("small-db", "big-db"),
        *("big-db", "small-db"),
        *("small-db", "big-db"),
    ]
    assert costs == {"10k": [1.0, 4.0, 5.0], "1m": [2.0, 3.0, 6.0]}
    # Every run applies fresh complaints: no label twice.
    assert len({label for _, label in timed}) == 6
