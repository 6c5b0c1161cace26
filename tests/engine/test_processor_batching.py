"""Property: the events of a run never depend on how its records were split into polls.

CONTRACT §4 "Time integrity": the same records consumed with batch sizes 1, 7 and 1000
give the same events (type, seq, occurred_at) for every complaint. The streams below
hold several complaints on one or two partitions, with lifecycles that start, pause,
stop and breach clocks, commands that arrive out of time order, rejected commands,
re-sent records, and gaps long enough to cross deadlines, escalations and auto-closes.
The 7-record run also caps the sweep at one complaint, so a partition's backlog of due
timers outlives its batch; it is drained at the end, at the final watermark, as the
engine's next polls would.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.processor import Processor
from engine.store import Store
from workflows.complaint import COMPLAINT_WORKFLOW
from workflows.definition import NEW
from workflows.policy import Policy
from workflows.wire import command_bytes

TOPIC = "lapor.commands"
POLICY = Policy.default()
#: The engine's clock: after every generated stamp, so none is out of range.
NOW = datetime(2030, 1, 1, tzinfo=UTC)
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 WITA, before Nyepi and Lebaran
COMMANDS = sorted(COMPLAINT_WORKFLOW.commands)
GAPS_HOURS = (-30, 1, 5, 20, 50, 100, 170, 250, 340)
PAYLOADS: dict[str, dict[str, Any]] = {
    "submit": {
        "title": "Jalan rusak",
        "body": "Berlubang",
        "category": "infrastruktur",
        "classification": "pengaduan",
        "channel": "web",
        "region": "HSU",
        "complainant": {"name": "Budi Santoso"},
    },
    "verify": {},
    "archive": {"reason": "tidak lengkap"},
    "dispatch": {"skpd": "DINKES"},
    "return": {"reason": "bukan wewenang"},
    "follow_up": {"note": "ditangani"},
    "reply": {"note": "belum selesai"},
    "resolve": {},
    "reopen": {"reason": "muncul lagi"},
    "defer": {"reason": "menunggu anggaran"},
    "resume": {},
}


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def _value(n: int, kind: str, cid: str, at: datetime) -> bytes:
    spec = COMPLAINT_WORKFLOW.spec(kind)
    assert spec is not None
    role = sorted(spec.roles)[0]
    return command_bytes(
        kind, cid, at, role=role, actor_id="x", payload=PAYLOADS[kind], command_id=f"c-{cid}-{n}"
    )


@st.composite
def lifecycle(draw: st.DrawFn, cid: str) -> list[bytes]:
    """A walk through the workflow (mostly allowed commands), with some noise."""
    state = NEW
    at = START + timedelta(hours=draw(st.integers(0, 72)))
    values: list[bytes] = []
    for n in range(draw(st.integers(2, 9))):
        allowed = [c for c in COMMANDS if COMPLAINT_WORKFLOW.allows(state, c)]
        if allowed and draw(st.integers(0, 9)) < 8:
            kind = draw(st.sampled_from(allowed))
            state = COMPLAINT_WORKFLOW.destination(state, kind)
        else:
            kind = draw(st.sampled_from(COMMANDS))  # most likely rejected
        if n:
            at += timedelta(hours=draw(st.sampled_from(GAPS_HOURS)))
        values.append(_value(n, kind, cid, at))
        if values and draw(st.integers(0, 9)) == 0:
            values.append(draw(st.sampled_from(values)))  # a re-sent record
    return values


@st.composite
def streams(draw: st.DrawFn) -> list[Rec]:
    """Records of 2-4 complaints on 1-2 partitions, interleaved at random."""
    partitions = draw(st.integers(1, 2))
    queues = []
    for i in range(draw(st.integers(2, 4))):
        cid = f"HSU-{i}"
        queues.append((cid, draw(st.integers(0, partitions - 1)), draw(lifecycle(cid))))
    records: list[Rec] = []
    offsets = dict.fromkeys(range(partitions), 0)
    while any(values for _, _, values in queues):
        cid, partition, values = draw(st.sampled_from([q for q in queues if q[2]]))
        records.append(Rec(TOPIC, partition, offsets[partition], cid.encode(), values.pop(0)))
        offsets[partition] += 1
    return records


#: Memory-backed when the machine has it: these runs commit once per record.
_TMP = "/dev/shm" if Path("/dev/shm").is_dir() else None


def _run(template: Path, records: list[Rec], batch: int, sweep_limit: int) -> dict[str, Any]:
    """Consume ``records`` in polls of ``batch`` records; every complaint's events."""
    with tempfile.TemporaryDirectory(dir=_TMP) as tmp:
        db = Path(tmp) / "run.db"
        shutil.copy(template, db)
        store = Store(f"sqlite:///{db}")
        try:
            proc = Processor(store, policy=POLICY, clock=lambda: NOW, sweep_limit=sweep_limit)
            for start in range(0, len(records), batch):
                proc.process(records[start : start + batch])
            # A capped sweep leaves a backlog of due timers (the engine's next polls fire
            # it). Drain it at each partition's final watermark, without moving it.
            for partition, progress in store.progress(
                TOPIC, {r.partition for r in records}
            ).items():
                watermark = progress.watermark
                if watermark is None:
                    continue  # nothing applied there: no clock runs
                drain = Processor(
                    store, policy=POLICY, clock=lambda w=watermark: w, sweep_limit=sweep_limit
                )
                while drain.sweep([partition], topic=TOPIC).events:
                    pass
            out: dict[str, Any] = {}
            for cid in sorted({(r.key or b"").decode() for r in records}):
                history = store.history(cid)
                out[cid] = (
                    [(e.type, e.seq, e.occurred_at) for e in history if e.seq is not None],
                    sorted(
                        (e.occurred_at, e.payload["command_id"], e.payload["reason"])
                        for e in history
                        if e.seq is None
                    ),
                )
            return out
        finally:
            store.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated empty database, copied for every run (a migration costs ~100 ms)."""
    path = tmp_path_factory.mktemp("batching") / "template.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    store.close()
    return path


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(records=streams())
def test_events_do_not_depend_on_the_split_into_polls(template: Path, records: list[Rec]) -> None:
    whole = _run(template, records, 1000, 2000)
    assert _run(template, records, 1, 2000) == whole
    assert _run(template, records, 7, 1) == whole


def test_the_generator_reaches_timers_and_rejections(template: Path) -> None:
    """The property is only worth something if its streams breach and reject."""
    seen: set[str] = set()

    @settings(max_examples=30, deadline=None, database=None)
    @given(records=streams())
    def collect(records: list[Rec]) -> None:
        for events, rejections in _run(template, records, 1000, 2000).values():
            seen.update(kind for kind, _, _ in events)
            if rejections:
                seen.add("command.rejected")

    collect()
    assert {
        "complaint.sla_breached",
        "complaint.escalated",
        "complaint.deferred",
        "command.rejected",
    } <= seen
