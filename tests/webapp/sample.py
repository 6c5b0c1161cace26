"""Sample data for the admin page: the demo generator's traffic, applied without Kafka.

The demo gives every SKPD one liaison officer; here two SKPDs rotate theirs, so the
page has liaison changes to show: PUPR hands over once (mid-February), DINKES swaps
between two officers on every answer from March on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from engine.processor import Processor
from engine.store import Store
from laporflow.demo_data import WITA, generate
from workflows.policy import Policy

#: A target above what the sample region receives in some months.
SAMPLE_POLICY = Policy.model_validate({"targets": {"HSU": {"complaints_per_month": 90}}})


@dataclass(frozen=True)
class _Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def _rotate(value: bytes, dinkes_turn: list[int]) -> bytes:
    command = json.loads(value)
    if command.get("type") != "follow_up":
        return value
    at = datetime.fromisoformat(command["issued_at"])
    actor = command["actor"]
    if actor["id"] == "penghubung-pupr" and at >= datetime(2026, 2, 16, tzinfo=WITA):
        actor["id"] = "penghubung-pupr-2"
    elif actor["id"] == "penghubung-dinkes" and at >= datetime(2026, 3, 2, tzinfo=WITA):
        dinkes_turn[0] += 1
        actor["id"] = "penghubung-dinkes" + ("-b" if dinkes_turn[0] % 2 else "")
    return json.dumps(command).encode()


#: Commands up to this instant are applied ...
SNAPSHOT = datetime(2026, 3, 20, 12, 0, tzinfo=WITA)
#: ... and the engine's clock then stands two weeks later, as if the SKPDs had gone
#: quiet: complaints still in flight are past their deadlines and escalating.
NOW = datetime(2026, 4, 2, 12, 0, tzinfo=WITA)


def fill(store: Store, complaints: int = 300, seed: int = 2026) -> None:
    """Apply a generated season of ``complaints``, up to :data:`SNAPSHOT`, to ``store``."""
    _, generated = generate(complaints=complaints, seed=seed)
    records = [r for r in generated if r.issued_at <= SNAPSHOT]
    turn = [0]
    recs = [
        _Rec(
            "lapor.commands",
            0,
            offset,
            r.key,
            _rotate(r.value, turn) if r.kind == "lifecycle" else r.value,
        )
        for offset, r in enumerate(records)
    ]
    processor = Processor(store, policy=SAMPLE_POLICY, clock=lambda: NOW)
    for start in range(0, len(recs), 500):
        last = start + 500 >= len(recs)
        processor.process(recs[start : start + 500], caught_up=[0] if last else [])
