"""The batch processor on SQLite, driven with in-memory records (no broker)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from engine.errors import ConcurrencyError, TopicRecreatedError
from engine.processor import Processor
from engine.store import Store
from workflows.model import ComplaintState
from workflows.policy import Policy
from workflows.wire import command_bytes

WITA = timezone(timedelta(hours=8))
TOPIC = "lapor.commands"


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def command(
    kind: str, cid: str, at: datetime, role: str, payload: dict[str, Any], n: str = ""
) -> bytes:
    return command_bytes(
        kind, cid, at, role=role, actor_id="x", payload=payload, command_id=f"c-{kind}-{cid}{n}"
    )


SUBMIT = {
    "title": "Jalan rusak",
    "body": "Berlubang",
    "category": "infrastruktur",
    "classification": "pengaduan",
    "channel": "web",
    "region": "HSU",
    "complainant": {"name": "Budi Santoso", "phone": "0812"},
}
T0 = datetime(2026, 4, 6, 9, 0, tzinfo=WITA)  # Monday


def lifecycle(cid: str, start: int = 0, partition: int = 0) -> list[Rec]:
    values = [
        command("submit", cid, T0, "complainant", SUBMIT),
        command("verify", cid, T0 + timedelta(hours=1), "admin", {}),
        command("dispatch", cid, T0 + timedelta(hours=2), "admin", {"skpd": "DINKES"}),
    ]
    return [Rec(TOPIC, partition, start + i, cid.encode(), v) for i, v in enumerate(values)]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'p.db'}")
    s.migrate()
    return s


def processor(store: Store, now: datetime = datetime(2026, 4, 6, 12, tzinfo=UTC)) -> Processor:
    return Processor(store, policy=Policy.default(), clock=lambda: now)


def test_outcomes_and_stored_rows(store: Store) -> None:
    records = lifecycle("HSU-1")
    records.append(Rec(TOPIC, 0, 3, b"HSU-1", records[1].value))  # the verify, re-sent
    records.append(Rec(TOPIC, 0, 4, b"HSU-9", command("verify", "HSU-9", T0, "admin", {})))
    records.append(Rec(TOPIC, 0, 5, b"junk", b"\x00not json"))
    result = processor(store).process(records)
    assert result.count("applied") == 3
    assert result.count("duplicate") == 1
    assert result.count("rejected") == 1
    assert result.count("invalid") == 1
    complaint = store.complaint("HSU-1")
    assert complaint is not None
    assert (complaint.state, complaint.skpd, complaint.seq) == ("dispatched", "DINKES", 3)
    dead = [r for r in store.pending_outbox(100) if r.topic == "lapor.dlq"]
    assert len(dead) == 1
    assert dead[0].value == b"\x00not json"
    assert dict(dead[0].headers) == {
        "error": b"not_json",
        "error_detail": dict(dead[0].headers)["error_detail"],
        "source_topic": TOPIC.encode(),
        "source_partition": b"0",
        "source_offset": b"5",
    }
    events = [
        json.loads(r.value or b"") for r in store.pending_outbox(100) if r.topic == "lapor.events"
    ]
    assert [e["type"] for e in events] == [
        "complaint.submitted",
        "complaint.verified",
        "complaint.dispatched",
        "command.rejected",
    ]
    assert "Budi" not in json.dumps(events)
    assert store.progress(TOPIC, [0])[0].next_offset == 6


def test_replay_after_a_crash_skips_what_was_stored(store: Store) -> None:
    records = lifecycle("HSU-1") + lifecycle("HSU-2", start=3)
    processor(store).process(records[:4])
    # The process died before committing Kafka offsets: the same records come back.
    result = processor(store).process(records)
    assert result.skipped == 4
    assert result.count("applied") == 2
    assert result.count("duplicate") == 0
    assert [e.seq for e in store.history("HSU-1")] == [1, 2, 3]


def test_two_instances_on_one_partition_cannot_both_apply(store: Store) -> None:
    records = lifecycle("HSU-1")
    first, second = processor(store), processor(store)
    # The second instance read progress before the first committed (a rebalance race).
    stale = store.progress(TOPIC, [0])
    first.process(records)
    real = store.progress
    store.progress = lambda topic, parts: stale  # type: ignore[method-assign]
    try:
        with pytest.raises(ConcurrencyError):
            second.process(records)
    finally:
        store.progress = real  # type: ignore[method-assign]
    # On its own retry it sees the stored progress and skips everything.
    assert second.process(records).skipped == 3
    assert [e.seq for e in store.history("HSU-1")] == [1, 2, 3]


def test_watermark_is_event_time_until_caught_up(store: Store) -> None:
    proc = processor(store, now=datetime(2026, 5, 1, tzinfo=UTC))
    proc.process(lifecycle("HSU-1"))
    # Event time only reached Monday 11:00: nothing is due yet.
    assert [e.type for e in store.history("HSU-1")][-1] == "complaint.dispatched"
    # Caught up: the watermark moves to the engine's clock (May 1) and everything fires.
    result = proc.sweep([0], topic=TOPIC)
    fired = [(e.type, e.payload.get("clock"), e.payload.get("level")) for e in result.events]
    assert ("complaint.sla_breached", "follow_up", None) in fired
    assert ("complaint.escalated", "follow_up", 3) in fired
    breach = next(e for e in result.events if e.type == "complaint.sla_breached")
    # Monday 04-06 + 5 working days = Monday 04-13, end of day WITA (not May 1).
    assert breach.occurred_at == datetime(2026, 4, 13, 23, 59, 59, tzinfo=WITA)
    assert proc.sweep([0], topic=TOPIC).events == []  # idempotent


def test_a_failing_command_is_dead_lettered_not_retried_forever(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.processor as module

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(module, "decide", broken)
    result = processor(store).process(lifecycle("HSU-1")[:1])
    assert result.count("invalid") == 1
    (dead,) = store.pending_outbox(10)
    assert dict(dead.headers)["error"] == b"processing_failed"
    assert store.progress(TOPIC, [0])[0].next_offset == 1


# --- time integrity (CONTRACT §4) -------------------------------------------------------


def _types(store: Store, cid: str) -> list[str]:
    return [e.type for e in store.history(cid)]


def test_only_applied_commands_move_the_watermark(store: Store) -> None:
    # The engine's clock is far ahead, so every stamp below is in range (not invalid).
    proc = processor(store, now=datetime(2028, 1, 1, tzinfo=UTC))
    proc.process(lifecycle("HSU-1"))
    dispatched = T0 + timedelta(hours=2)
    assert store.progress(TOPIC, [0])[0].watermark == dispatched
    late = T0 + timedelta(days=365)
    bogus = [
        # rejected: unknown complaint
        command("verify", "HSU-9", late, "admin", {}),
        # rejected: invalid transition on the open complaint
        command("verify", "HSU-1", late, "admin", {}, n="-again"),
        # duplicate: the applied verify's id, re-sent with another time
        json.dumps(
            {**json.loads(lifecycle("HSU-1")[1].value or b""), "issued_at": late.isoformat()}
        ).encode(),
        # invalid: no required payload fields
        command("dispatch", "HSU-1", late, "admin", {}),
    ]
    records = [Rec(TOPIC, 0, 3 + i, b"HSU-1", v) for i, v in enumerate(bogus)]
    result = proc.process(records)
    assert (result.count("rejected"), result.count("duplicate"), result.count("invalid")) == (
        2,
        1,
        1,
    )
    assert store.progress(TOPIC, [0])[0].watermark == dispatched
    # The open complaint's follow_up clock (due 04-13) was not breached by them.
    assert "complaint.sla_breached" not in _types(store, "HSU-1")
    assert "complaint.sla_warning" not in _types(store, "HSU-1")


def test_a_command_stamped_past_the_allowed_skew_is_dead_lettered(store: Store) -> None:
    now = datetime(2026, 4, 6, 12, tzinfo=UTC)
    proc = Processor(store, policy=Policy.default(), clock=lambda: now)
    records = lifecycle("HSU-1")
    records.append(
        Rec(
            TOPIC,
            0,
            3,
            b"HSU-1",
            command("follow_up", "HSU-1", now + timedelta(minutes=6), "skpd", {"note": "x"}),
        )
    )
    records.append(
        Rec(
            TOPIC,
            0,
            4,
            b"HSU-2",
            command("submit", "HSU-2", datetime(1999, 12, 31, tzinfo=UTC), "complainant", SUBMIT),
        )
    )
    result = proc.process(records)
    assert result.count("invalid") == 2
    dead = [r for r in store.pending_outbox(100) if r.topic == "lapor.dlq"]
    assert [dict(r.headers)["error"] for r in dead] == [b"issued_at_out_of_range"] * 2
    assert store.progress(TOPIC, [0])[0].watermark == T0 + timedelta(hours=2)
    # Within the skew it applies.
    ok = command("follow_up", "HSU-1", now + timedelta(minutes=4), "skpd", {"note": "x"}, n="2")
    assert proc.process([Rec(TOPIC, 0, 5, b"HSU-1", ok)]).count("applied") == 1


def _follow_up(cid: str, at: datetime) -> bytes:
    return command("follow_up", cid, at, "skpd", {"note": "ditangani"})


@pytest.mark.parametrize("polls", [1, 2])
def test_a_timer_due_between_two_commands_fires_between_them(store: Store, polls: int) -> None:
    # A and B are dispatched Monday 04-06; their follow_up clocks are due 04-13 23:59:59.
    deadline = datetime(2026, 4, 13, 23, 59, 59, tzinfo=WITA)
    records = lifecycle("HSU-A") + lifecycle("HSU-B", start=3)
    records.append(Rec(TOPIC, 0, 6, b"HSU-A", _follow_up("HSU-A", deadline + timedelta(hours=1))))
    records.append(Rec(TOPIC, 0, 7, b"HSU-B", _follow_up("HSU-B", deadline - timedelta(hours=1))))
    proc = processor(store, now=datetime(2026, 5, 1, tzinfo=UTC))
    if polls == 1:
        proc.process(records)
    else:
        proc.process(records[:7])
        proc.process(records[7:])
    # A's follow_up moved the partition's clock past B's deadline before B's arrived.
    assert _types(store, "HSU-B")[3:] == [
        "complaint.sla_warning",
        "complaint.sla_breached",
        "complaint.escalated",
        "complaint.followed_up",
    ]
    breach = store.history("HSU-B")[4]
    assert (breach.seq, breach.occurred_at) == (5, deadline)


def _skipped_total() -> float:
    from engine.metrics import REGISTRY

    value = REGISTRY.get_sample_value("laporflow_records_skipped_total", {"topic": TOPIC})
    return value or 0.0


def test_a_replay_of_every_outcome_is_skipped_and_counted(store: Store) -> None:
    same_submit = command("submit", "HSU-1", T0, "complainant", SUBMIT, n="-again")
    records = [
        *lifecycle("HSU-1"),
        Rec(TOPIC, 0, 3, b"HSU-1", same_submit),  # duplicate (same content, new id)
        Rec(TOPIC, 0, 4, b"HSU-9", command("verify", "HSU-9", T0, "admin", {})),  # rejected
        Rec(TOPIC, 0, 5, b"HSU-1", command("dispatch", "HSU-1", T0, "admin", {})),  # invalid
        Rec(TOPIC, 0, 6, b"junk", b"\x00"),  # invalid, no command id at all
    ]
    proc = processor(store)
    first = proc.process(records)
    assert (first.count("applied"), first.count("duplicate"), first.count("rejected")) == (3, 1, 1)
    before = _skipped_total()
    # The process died before committing Kafka offsets: everything comes back.
    result = proc.process(records)
    assert result.skipped == 7
    assert result.outcomes == {}
    assert _skipped_total() - before == 7
    assert [e.seq for e in store.history("HSU-1")] == [1, 2, 3]


def test_a_recreated_topic_fails_loudly_instead_of_dropping_records(store: Store) -> None:
    proc = processor(store)
    proc.process(lifecycle("HSU-1"))
    # The topic was deleted and created again: offsets start at 0 with new commands.
    fresh = lifecycle("HSU-2")[:2]
    with pytest.raises(TopicRecreatedError, match="recreated") as info:
        proc.process(fresh)
    assert "DELETE FROM partition_progress" in str(info.value)
    assert info.value.context["command_id"] == "c-submit-HSU-2"
    assert store.complaint("HSU-2") is None
    assert store.progress(TOPIC, [0])[0].next_offset == 3


def _transitions_total(source: str, dest: str) -> float:
    from engine.metrics import REGISTRY

    labels = {"from_state": source, "to_state": dest}
    return REGISTRY.get_sample_value("laporflow_transitions_total", labels) or 0.0


def test_defer_and_resume_are_not_transitions_and_an_implicit_resume_is_an_event(
    store: Store,
) -> None:
    records = lifecycle("HSU-1")[:2]  # submitted, verified
    pause = [
        command("defer", "HSU-1", T0 + timedelta(hours=2), "admin", {"reason": "anggaran"}),
        command("resume", "HSU-1", T0 + timedelta(hours=3), "admin", {}),
        command("defer", "HSU-1", T0 + timedelta(hours=4), "admin", {"reason": "x"}, n="2"),
        command("dispatch", "HSU-1", T0 + timedelta(hours=5), "admin", {"skpd": "DINKES"}),
    ]
    records += [Rec(TOPIC, 0, 2 + i, b"HSU-1", v) for i, v in enumerate(pause)]
    before = _transitions_total("verified", "verified")
    dispatched = _transitions_total("verified", "dispatched")
    assert processor(store).process(records).count("applied") == 6
    assert _transitions_total("verified", "verified") == before
    assert _transitions_total("verified", "dispatched") == dispatched + 1
    history = store.history("HSU-1")
    assert [(e.type, e.seq) for e in history] == [
        ("complaint.submitted", 1),
        ("complaint.verified", 2),
        ("complaint.deferred", 3),
        ("complaint.resumed", 4),
        ("complaint.deferred", 5),
        ("complaint.resumed", 6),
        ("complaint.dispatched", 7),
    ]


# --- policy changes reach running clocks (CONTRACT §4) -------------------------------------

HOLIDAY = Policy.model_validate({"holidays": {"add": ["2026-04-08"]}})


def test_a_policy_change_reschedules_running_clocks_once(store: Store) -> None:
    # HSU-3 was dispatched two weeks earlier: its follow_up clock is breached by the time
    # HSU-1 and HSU-2 are dispatched (Monday 04-06, due 04-13 under the default policy).
    early = [
        Rec(TOPIC, 0, r.offset, r.key, (r.value or b"").replace(b"2026-04-06", b"2026-03-23"))
        for r in lifecycle("HSU-3")
    ]
    records = early + lifecycle("HSU-1", start=3) + lifecycle("HSU-2", start=6)
    processor(store).process(records)
    # Every running clock was started under the default policy and is stamped so: a
    # restart under it has nothing to read, under another policy it reads them all.
    assert store.running_clocks(None, 100, stale_for=Policy.default().fingerprint) == []
    assert len(store.running_clocks(None, 100, stale_for=HOLIDAY.fingerprint)) == 3
    before = {cid: store.complaint(cid) for cid in ("HSU-1", "HSU-2", "HSU-3")}
    assert before["HSU-3"] is not None
    assert before["HSU-3"].clocks["follow_up"].breached_at is not None
    now = datetime(2026, 4, 7, 1, tzinfo=UTC)
    reshed = Processor(store, policy=HOLIDAY, clock=lambda: now)
    assert reshed.reschedule_running_clocks(page_size=1) == 2
    for cid in ("HSU-1", "HSU-2"):
        event = store.history(cid)[-1]
        assert (event.type, event.seq) == ("complaint.sla_rescheduled", 4)
        assert event.payload["old_deadline"] == "2026-04-13T23:59:59+08:00"
        assert event.payload["deadline"] == "2026-04-14T23:59:59+08:00"
        after = store.complaint(cid)
        assert after is not None
        assert after.clocks["follow_up"].deadline == datetime(2026, 4, 14, 23, 59, 59, tzinfo=WITA)
    assert store.complaint("HSU-3") == before["HSU-3"]  # the breach stays
    published = [r for r in store.pending_outbox(100) if b"sla_rescheduled" in (r.value or b"")]
    assert len(published) == 2
    # Once: a second start under the same policy writes nothing, and reads nothing.
    assert store.running_clocks(None, 100, stale_for=HOLIDAY.fingerprint) == []
    assert reshed.reschedule_running_clocks() == 0
    assert len(store.history("HSU-1")) == 4
    # The stored next firing instant moved too: 04-14 00:30 breaches nothing any more.
    swept = Processor(
        store, policy=HOLIDAY, clock=lambda: datetime(2026, 4, 13, 16, 30, tzinfo=UTC)
    )
    fired = swept.sweep([0], topic=TOPIC)
    assert not [e for e in fired.events if e.type == "complaint.sla_breached"]


def _limited_run(store: Store, sweep_limit: int) -> dict[str, list[tuple[str, int | None]]]:
    deadline = datetime(2026, 4, 13, 23, 59, 59, tzinfo=WITA)
    proc = Processor(
        store,
        policy=Policy.default(),
        clock=lambda: datetime(2026, 5, 1, tzinfo=UTC),
        sweep_limit=sweep_limit,
    )
    # HSU-3 is dispatched half an hour later: its warning is due last of the three.
    third = [
        Rec(r.topic, r.partition, r.offset, r.key, (r.value or b"").replace(b"T11:00", b"T11:30"))
        for r in lifecycle("HSU-3", start=6)
    ]
    proc.process(lifecycle("HSU-1") + lifecycle("HSU-2", start=3) + third)
    # A new complaint stamped after the three deadlines moves the watermark past them;
    # the sweep of this batch fires at most ``sweep_limit`` stored complaints.
    late = deadline + timedelta(hours=1)
    submit = command("submit", "HSU-4", late, "complainant", SUBMIT)
    proc.process([Rec(TOPIC, 0, 9, b"HSU-4", submit)])
    breached = sum(
        "complaint.sla_breached" in _types(store, cid) for cid in ("HSU-1", "HSU-2", "HSU-3")
    )
    assert breached == min(sweep_limit, 3)
    # HSU-3's follow_up, stamped before its deadline, arrives after that: its timers
    # due before the watermark fire first, though no sweep reached it.
    early = _follow_up("HSU-3", deadline - timedelta(hours=1))
    proc.process([Rec(TOPIC, 0, 10, b"HSU-3", early)])
    while proc.sweep([0], topic=TOPIC).events:  # caught up: the backlog fires, page by page
        pass
    return {
        cid: [(e.type, e.seq) for e in store.history(cid)] for cid in ("HSU-1", "HSU-2", "HSU-3")
    }


def test_a_sweep_at_its_limit_says_more_is_due_and_a_pending_sweep_fires_it(
    store: Store,
) -> None:
    # Three complaints of partition 0 overdue, a limit of 2: the batch fires two and
    # names the partition; a sweep of the pending partition (not caught up, at its
    # stored watermark) fires the third, and then nothing is left.
    proc = Processor(store, policy=Policy.default(), clock=lambda: datetime(2026, 5, 1, tzinfo=UTC))
    proc.process(lifecycle("HSU-1") + lifecycle("HSU-2", start=3) + lifecycle("HSU-3", start=6))
    proc.sweep_limit = 2
    late = datetime(2026, 4, 14, 0, 59, 59, tzinfo=WITA)
    first = proc.process(
        [Rec(TOPIC, 0, 9, b"HSU-4", command("submit", "HSU-4", late, "complainant", SUBMIT))]
    )
    assert first.more_due == {0}

    def breached() -> int:
        return sum(
            "complaint.sla_breached" in _types(store, cid) for cid in ("HSU-1", "HSU-2", "HSU-3")
        )

    assert breached() == 2
    rest = proc.sweep([], topic=TOPIC, pending=[0])
    assert breached() == 3
    assert rest.more_due == set()
    assert proc.sweep([], topic=TOPIC, pending=[0]).events == []


def test_the_sweep_limit_is_shared_among_the_swept_partitions(store: Store) -> None:
    proc = Processor(store, policy=Policy.default(), sweep_limit=4)
    asked: list[tuple[list[int], int]] = []
    original = store.due

    def due(until: dict[int, datetime], limit: int) -> dict[int, list[ComplaintState]]:
        asked.append((sorted(until), limit))
        return original(until, limit)

    store.due = due  # type: ignore[method-assign]
    proc.sweep([0, 1, 2], topic=TOPIC)
    assert asked == [([0, 1, 2], 2)]  # 4 / 3, rounded up; one query for the three


def test_a_batch_takes_one_connection_for_its_reads_and_its_write(
    store: Store,
) -> None:
    # Each checkout pings the server and each return rolls back: during a timer flood,
    # a checkout per read (progress, processed ids, complaints, each partition's due
    # timers) was 18 % of the loop's time. The write shares the reads' connection and
    # commits their transaction (docs/perf.md section 48).
    proc = processor(store)
    proc.process(lifecycle("HSU-1") + lifecycle("HSU-2", partition=1))
    checkouts: list[object] = []
    event.listen(store.engine, "checkout", lambda *args: checkouts.append(args))
    commands = [
        Rec(TOPIC, 0, 3, b"HSU-1", command("verify", "HSU-1", T0, "admin", {}, "x")),
        Rec(TOPIC, 1, 3, b"HSU-2", command("verify", "HSU-2", T0, "admin", {}, "x")),
    ]
    result = proc.process(commands, caught_up=[0, 1, 2])  # three partitions swept
    assert result.outcomes
    assert len(checkouts) == 1


def test_the_sweep_limit_never_changes_the_events(tmp_path: Path) -> None:
    stores = []
    for name in ("limited", "unlimited"):
        s = Store(f"sqlite:///{tmp_path / name}.db")
        s.migrate()
        stores.append(s)
    limited, unlimited = _limited_run(stores[0], 1), _limited_run(stores[1], 2000)
    assert limited == unlimited
    assert [t for t, _ in limited["HSU-3"][3:7]] == [
        "complaint.sla_warning",
        "complaint.sla_breached",
        "complaint.escalated",
        "complaint.followed_up",
    ]
