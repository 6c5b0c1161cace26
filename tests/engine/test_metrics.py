"""Counting one committed batch (engine/metrics.py ``record_batch``)."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from engine.metrics import BatchReport, Metrics, record_batch
from workflows.model import Actor, Event

T0 = datetime(2026, 4, 6, 1, 0, tzinfo=UTC)


def stopping(n: int, clock: str, skpd: str, seconds: float) -> Event:
    """An event that stopped ``clock`` after ``seconds``."""
    return Event(
        event_id=f"e-{n}",
        type="complaint.followed_up",
        complaint_id=f"C-{n}",
        seq=4,
        occurred_at=T0,
        recorded_at=T0,
        state="followed_up",
        previous_state="dispatched",
        region="HSU",
        skpd=skpd,
        causation_id=f"c-{n}",
        actor=Actor(role="skpd", id="s-1"),
        payload={"clocks_stopped": [{"clock": clock, "seconds": seconds}]},
    )


def test_repeated_transitions_and_stops_in_one_batch_are_each_counted() -> None:
    metrics = Metrics(CollectorRegistry())
    record_batch(
        BatchReport(
            transitions=[("dispatched", "followed_up")] * 3 + [("verified", "dispatched")],
            events=[
                stopping(1, "follow_up", "PUPR", 60.0),
                stopping(2, "follow_up", "PUPR", 120.0),
                stopping(3, "follow_up", "DINKES", 30.0),
            ],
        ),
        metrics,
    )

    def sample(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    transitions = "laporflow_transitions_total"
    assert sample(transitions, from_state="dispatched", to_state="followed_up") == 3
    assert sample(transitions, from_state="verified", to_state="dispatched") == 1
    stage = "laporflow_stage_duration_seconds"
    assert sample(f"{stage}_count", clock="follow_up", skpd="PUPR") == 2
    assert sample(f"{stage}_sum", clock="follow_up", skpd="PUPR") == 180.0
    assert sample(f"{stage}_count", clock="follow_up", skpd="DINKES") == 1
