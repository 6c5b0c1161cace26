"""CONTRACT §4 (SLA clocks, warnings, breaches, escalation, auto-close, pause) end to end.

Each test runs the real engine (``EngineRuntime``) on the real Kafka broker and a fresh
PostgreSQL database, with its own topic prefix and consumer group, and a fake clock that
stands in for the wall clock: the watermark of a caught-up partition. Every instant
asserted below is a literal, computed by hand from the 2026 Indonesian calendar
(Asia/Makassar, UTC+8):

    April 2026            Mo Tu We Th Fr Sa Su
                                  1  2 [3] 4  5     [3] Good Friday (Wafat Yesus Kristus)
                           6  7  8  9 10 11 12
                          13 14 15 16 17 18 19
                          20 21 22 23 24 25 26
                          27 28 29 30
    May 2026: [1] Hari Buruh (Fri), [14] Kenaikan (Thu), [15] cuti bersama (Fri).

Default limits: follow_up 5 working days, auto_close 10, resolution 60 calendar days;
warning at start + 0.8 x (deadline - start); escalation level 2 at the end of the 2nd
working day after the deadline, level 3 at the end of the 5th.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from psycopg import sql
from sqlalchemy.engine import make_url

from engine.errors import PolicyError
from engine.metrics import REGISTRY
from engine.settings import Settings
from engine.status import complaint_status
from laporflow.demo_data import DemoRecord, generate
from laporflow.runtime import EngineRuntime, refresh_gauges
from producers.kafka_io import ensure_topics
from workflows.wire import command_doc

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

WITA = timezone(timedelta(hours=8))
EIGHT_HOURS = timedelta(hours=8)
SLA = {"role": "system", "id": "sla"}
AUTO_CLOSE = {"role": "system", "id": "auto_close"}
ADMIN = ("admin", "diskominfo-hsu")
SKPD = ("skpd", "dinkes-hsu")
CITIZEN = ("complainant", "pelapor-1")
SETTLE_TIMEOUT_S = 30.0


def wita(text: str) -> datetime:
    """A literal local (WITA, +08:00) instant, e.g. ``wita("2026-04-13 23:59:59")``."""
    return datetime.fromisoformat(text).replace(tzinfo=WITA)


def iso(text: str) -> str:
    return wita(text).isoformat()


# --------------------------------------------------------------------------- helpers


class FakeClock:
    """The engine's wall clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        assert now >= self.now, "the fake wall clock never goes back"
        self.now = now


def command(
    ctype: str,
    complaint_id: str,
    issued_at: str,
    actor: tuple[str, str],
    payload: dict[str, Any],
) -> dict[str, Any]:
    """A command exactly as CONTRACT §2 (issued_at given as local WITA wall time)."""
    return command_doc(
        ctype,
        complaint_id,
        iso(issued_at),
        role=actor[0],
        actor_id=actor[1],
        payload=payload,
        command_id=f"c-{uuid.uuid4().hex}",
    )


def submit(complaint_id: str, at: str, category: str = "kesehatan") -> dict[str, Any]:
    return command(
        "submit",
        complaint_id,
        at,
        CITIZEN,
        {
            "title": "Puskesmas tutup di jam pelayanan",
            "body": "Puskesmas Amuntai Selatan tutup pukul 10 pagi, pasien disuruh pulang.",
            "category": category,
            "classification": "pengaduan",
            "channel": "web",
            "region": "HSU",
            "anonymous": False,
            "confidential": False,
            "complainant": {"name": "Siti", "phone": "+6281200000000", "email": "s@example.id"},
        },
    )


def dispatched(complaint_id: str, submit_at: str, at: str, skpd: str) -> list[dict[str, Any]]:
    """submit, verify and dispatch (verify and dispatch at the same instant ``at``)."""
    return [
        submit(complaint_id, submit_at),
        command("verify", complaint_id, at, ADMIN, {"note": "lengkap"}),
        command("dispatch", complaint_id, at, ADMIN, {"skpd": skpd}),
    ]


def follow_up(complaint_id: str, at: str) -> dict[str, Any]:
    return command("follow_up", complaint_id, at, SKPD, {"note": "Sudah ditindaklanjuti."})


def sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


def sla_counters() -> dict[str, float]:
    """The DINKES follow_up breach counter and the DINKES escalation counters."""
    counters = {
        "breaches": sample("laporflow_sla_breaches_total", skpd="DINKES", clock="follow_up")
    }
    for level in ("1", "2", "3"):
        counters[f"level{level}"] = sample(
            "laporflow_escalations_total", skpd="DINKES", level=level
        )
    return counters


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in after}


@dataclass
class Engine:
    """One engine under test, with its producer and fake clock."""

    settings: Settings
    runtime: EngineRuntime
    clock: FakeClock
    producer: KafkaProducer
    produced: int = 0

    @property
    def topics(self) -> Any:
        return self.settings.topics

    def send(self, *commands: dict[str, Any]) -> None:
        for doc in commands:
            self.send_raw(doc["complaint_id"].encode(), json.dumps(doc).encode())
        self.producer.flush()

    def send_raw(self, key: bytes, value: bytes) -> None:
        self.producer.send(self.topics.commands, key=key, value=value)
        self.produced += 1

    def consume(self) -> None:
        """Poll until every record produced so far has been applied (no extra sweep)."""
        consumer = self.runtime.consumer
        give_up = time.monotonic() + SETTLE_TIMEOUT_S
        while consumer.stats.records < self.produced:
            assert time.monotonic() < give_up, (
                f"consumed {consumer.stats.records} of {self.produced} records"
            )
            consumer.poll_once()
        assert consumer.stats.records == self.produced

    def settle(self, sweeps: int = 2) -> None:
        """Consume everything produced, then let caught-up partitions sweep, then relay."""
        consumer = self.runtime.consumer
        self.consume()
        give_up = time.monotonic() + SETTLE_TIMEOUT_S
        done = 0
        while done < sweeps:
            assert time.monotonic() < give_up, "the caught-up partitions never swept"
            if consumer.poll_once() is not None:
                done += 1
            assert consumer.stats.records == self.produced
        self.runtime.relay.drain()

    def events(self) -> list[dict[str, Any]]:
        """Every record on lapor.events (read from the start), as parsed JSON."""
        reader = KafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=5000,
        )
        try:
            parts = [TopicPartition(self.topics.events, p) for p in range(self.settings.partitions)]
            reader.assign(parts)
            reader.seek_to_beginning(*parts)
            expected = sum(reader.end_offsets(parts).values())
            out: list[dict[str, Any]] = []
            if expected:
                for record in reader:
                    event = json.loads(record.value)
                    assert record.key == event["complaint_id"].encode()
                    out.append(event)
                    if len(out) == expected:
                        break
            assert len(out) == expected
        finally:
            reader.close()
        return out

    def timeline(self, complaint_id: str) -> list[dict[str, Any]]:
        """The complaint's sequenced events from Kafka in seq order, checked against the DB."""
        events = [e for e in self.events() if e["complaint_id"] == complaint_id]
        sequenced = sorted((e for e in events if e["seq"] is not None), key=lambda e: e["seq"])
        assert [e["seq"] for e in sequenced] == list(range(1, len(sequenced) + 1))
        stored = [e for e in self.runtime.store.history(complaint_id) if e.seq is not None]
        assert [e.event_id for e in stored] == [e["event_id"] for e in sequenced]
        return sequenced

    def status(self, complaint_id: str) -> dict[str, Any]:
        status = complaint_status(self.runtime.store, complaint_id, self.runtime.policy)
        assert status is not None
        return status


def brief(event: dict[str, Any]) -> tuple[Any, ...]:
    """(type, occurred_at as an aware datetime, actor) of an event."""
    occurred = datetime.fromisoformat(event["occurred_at"])
    return (event["type"], occurred, event["actor"])


def assert_local(event: dict[str, Any]) -> None:
    """Timer events are stamped in the region's local time, +08:00."""
    assert datetime.fromisoformat(event["occurred_at"]).utcoffset() == EIGHT_HOURS, event


def _create_database(postgres_url: str) -> tuple[str, Callable[[], None]]:
    server = make_url(postgres_url)
    conninfo = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop() -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    url = server.set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False), drop


def _settings(kafka_bootstrap: str, database_url: str, partitions: int, **extra: Any) -> Settings:
    tag = uuid.uuid4().hex[:12]
    return Settings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=f"sla-{tag}.",
        group_id=f"sla-{tag}",
        partitions=partitions,
        **extra,
    )


EngineFactory = Callable[..., Engine]


@pytest.fixture
def make_engine(
    kafka_bootstrap: str, pg_database_url: str, postgres_url: str
) -> Iterator[EngineFactory]:
    """Build engines: the first on ``pg_database_url``, any further on a database of its own."""
    engines: list[Engine] = []
    drops: list[Callable[[], None]] = []

    def build(
        now: datetime, *, partitions: int = 1, policy: str | None = None, **extra: Any
    ) -> Engine:
        if engines:
            url, drop = _create_database(postgres_url)
            drops.append(drop)
        else:
            url = pg_database_url
        settings = _settings(kafka_bootstrap, url, partitions, policy=policy, **extra)
        clock = FakeClock(now)
        runtime = EngineRuntime(settings, clock=clock, serve_http=False)
        # Sweep on every idle poll instead of once a second, and poll briefly: only
        # the pace changes, not what is decided.
        runtime.consumer.sweep_interval_s = 0.0
        runtime.consumer.poll_timeout_ms = 200
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        engine = Engine(settings, runtime, clock, producer)
        engines.append(engine)
        return engine

    try:
        yield build
    finally:
        for engine in engines:
            engine.producer.close()
            engine.runtime.shutdown()
        for drop in drops:
            drop()


# --------------------------------------------------------------------------- scenarios


def test_late_skpd_warns_breaches_and_escalates_on_event_time(make_engine: EngineFactory) -> None:
    cid = "HSU-2026-000101"
    e: Engine = make_engine(wita("2026-04-06 12:00:00"))
    before = sla_counters()

    # Mon 2026-04-06: submitted 09:00, verified and dispatched to DINKES at 10:00.
    e.send(*dispatched(cid, "2026-04-06 09:00:00", "2026-04-06 10:00:00", "DINKES"))
    e.settle()
    assert [ev["type"] for ev in e.timeline(cid)] == [
        "complaint.submitted",
        "complaint.verified",
        "complaint.dispatched",
    ]
    # follow_up deadline: 5th working day after Mon 04-06 = 7, 8, 9, 10, 13 -> Mon 04-13.
    clock = e.status(cid)["clocks"]["follow_up"]
    assert clock["deadline"] == "2026-04-13T23:59:59+08:00"
    assert clock["breached"] is False

    # The wall clock jumps to Thu 2026-04-30; no new command.
    e.clock.set(wita("2026-04-30 08:00:00"))
    e.settle()
    timeline = e.timeline(cid)
    # warning = 04-06 10:00 + 0.8 x (7 d 13:59:59 = 655199 s) = + 524159.2 s
    #         = + 6 d 01:35:59.2 = Sun 2026-04-12 11:35:59.2
    # level 2 = end of the 2nd working day after Mon 04-13 (14, 15)         = Wed 04-15
    # level 3 = end of the 5th working day after Mon 04-13 (14..17, 20)     = Mon 04-20
    assert [brief(ev) for ev in timeline[3:]] == [
        ("complaint.sla_warning", wita("2026-04-12 11:35:59.200000"), SLA),
        ("complaint.sla_breached", wita("2026-04-13 23:59:59"), SLA),
        ("complaint.escalated", wita("2026-04-13 23:59:59"), SLA),
        ("complaint.escalated", wita("2026-04-15 23:59:59"), SLA),
        ("complaint.escalated", wita("2026-04-20 23:59:59"), SLA),
    ]
    assert len(timeline) == 8
    for ev in timeline[3:]:
        assert_local(ev)
        assert ev["payload"]["clock"] == "follow_up"
        assert ev["skpd"] == "DINKES"
        assert ev["state"] == "dispatched"
    escalations = [(ev["payload"]["level"], ev["payload"]["target"]) for ev in timeline[5:]]
    assert escalations == [(1, "kepala_skpd"), (2, "sekda"), (3, "koordinator_provinsi")]
    # Recorded when noticed (the fake wall clock), but occurred when due.
    assert {datetime.fromisoformat(ev["recorded_at"]) for ev in timeline[3:]} == {
        wita("2026-04-30 08:00:00")
    }

    assert delta(before, sla_counters()) == {
        "breaches": 1.0,
        "level1": 1.0,
        "level2": 1.0,
        "level3": 1.0,
    }
    status = e.status(cid)
    assert status["state"] == "dispatched"
    assert status["escalation_level"] == 3
    clock = status["clocks"]["follow_up"]
    assert clock["breached"] is True
    assert clock["breached_at"] == "2026-04-13T23:59:59+08:00"
    assert clock["stopped"] is False
    refresh_gauges(e.runtime.store, e.clock())
    assert sample("laporflow_sla_breached", skpd="DINKES", clock="follow_up") == 1.0

    # The SKPD finally follows up on Thu 04-30 09:00.
    e.clock.set(wita("2026-04-30 10:00:00"))
    e.send(follow_up(cid, "2026-04-30 09:00:00"))
    e.settle()
    timeline = e.timeline(cid)
    assert len(timeline) == 9
    assert brief(timeline[8]) == (
        "complaint.followed_up",
        wita("2026-04-30 09:00:00"),
        {"role": "skpd", "id": "dinkes-hsu"},
    )
    status = e.status(cid)
    assert status["state"] == "followed_up"
    clock = status["clocks"]["follow_up"]
    assert (clock["stopped"], clock["stopped_at"], clock["breached"]) == (
        True,
        "2026-04-30T09:00:00+08:00",
        True,
    )
    # A stopped clock ends its escalation.
    assert status["escalation_level"] == 0
    # auto_close: 10th working day after Thu 04-30, skipping Fri 05-01 (Hari Buruh),
    # Thu 05-14 and Fri 05-15: 4..8, 11..13, 18, 19 -> Tue 2026-05-19.
    assert status["clocks"]["auto_close"]["deadline"] == "2026-05-19T23:59:59+08:00"
    refresh_gauges(e.runtime.store, e.clock())
    assert sample("laporflow_sla_breached", skpd="DINKES", clock="follow_up") == 0.0
    # Nothing more was breached or escalated by the follow-up.
    assert delta(before, sla_counters()) == {
        "breaches": 1.0,
        "level1": 1.0,
        "level2": 1.0,
        "level3": 1.0,
    }


def test_follow_up_issued_before_deadline_but_read_late_does_not_breach(
    make_engine: EngineFactory,
) -> None:
    on_time, late = "HSU-2026-000201", "HSU-2026-000202"
    # The wall clock is already far past both deadlines when the engine starts reading.
    e: Engine = make_engine(wita("2026-04-30 08:00:00"), partitions=2)
    before = sla_counters()
    e.send(
        *dispatched(on_time, "2026-04-06 09:00:00", "2026-04-06 10:00:00", "DINKES"),
        *dispatched(late, "2026-04-06 09:00:00", "2026-04-06 10:00:00", "DINKES"),
        # Mon 04-13 15:00: before the 23:59:59 deadline of the same day.
        follow_up(on_time, "2026-04-13 15:00:00"),
    )
    e.settle()

    # on_time: the warning (Sun 04-12 11:35:59.2) fell due before the follow-up, the
    # breach never did. The follow-up starts auto_close: 10th working day after Mon
    # 04-13 = 14..17, 20..24, 27 -> Mon 04-27, before the wall clock (04-30): closed.
    assert [brief(ev) for ev in e.timeline(on_time)[3:]] == [
        ("complaint.sla_warning", wita("2026-04-12 11:35:59.200000"), SLA),
        (
            "complaint.followed_up",
            wita("2026-04-13 15:00:00"),
            {"role": "skpd", "id": "dinkes-hsu"},
        ),
        ("complaint.resolved", wita("2026-04-27 23:59:59"), AUTO_CLOSE),
    ]
    status = e.status(on_time)
    assert status["state"] == "resolved"
    assert status["clocks"]["follow_up"]["breached"] is False
    assert status["clocks"]["follow_up"]["stopped_at"] == "2026-04-13T15:00:00+08:00"

    # late (same clock, no follow-up): the control; it did breach and escalate.
    assert [brief(ev) for ev in e.timeline(late)[3:]] == [
        ("complaint.sla_warning", wita("2026-04-12 11:35:59.200000"), SLA),
        ("complaint.sla_breached", wita("2026-04-13 23:59:59"), SLA),
        ("complaint.escalated", wita("2026-04-13 23:59:59"), SLA),
        ("complaint.escalated", wita("2026-04-15 23:59:59"), SLA),
        ("complaint.escalated", wita("2026-04-20 23:59:59"), SLA),
    ]
    # Exactly one breach in the whole run: the late one's.
    assert delta(before, sla_counters()) == {
        "breaches": 1.0,
        "level1": 1.0,
        "level2": 1.0,
        "level3": 1.0,
    }
    assert e.runtime.consumer.stats.outcomes == {"applied": 7}


def test_follow_up_waiting_behind_a_stale_high_watermark_does_not_breach(
    make_engine: EngineFactory,
) -> None:
    """Scenario 2 when the late feed arrives in bursts: the follow-up (issued Mon 04-13
    15:00, before the 23:59:59 deadline) is already in the partition when the engine
    polls at 04-30, yet the engine treats the partition as caught up and breaches."""
    cid, other = "HSU-2026-000211", "HSU-2026-000212"
    e: Engine = make_engine(wita("2026-04-06 12:00:00"))
    e.send(*dispatched(cid, "2026-04-06 09:00:00", "2026-04-06 10:00:00", "DINKES"))
    e.settle()
    # Mon 04-13 14:00: another complaint comes in and is read at once.
    e.clock.set(wita("2026-04-13 14:00:00"))
    e.send(submit(other, "2026-04-13 14:00:00"))
    e.consume()  # leaves the consumer's next fetch waiting at the broker
    # 14:30 and 15:00: two more commands, in two bursts; the engine is not polling.
    e.send(command("verify", other, "2026-04-13 14:30:00", ADMIN, {"note": "lengkap"}))
    time.sleep(0.3)  # the waiting fetch returns with the verify only
    e.send(follow_up(cid, "2026-04-13 15:00:00"))
    # The engine polls again on Thu 04-30: both commands are waiting in the partition.
    e.clock.set(wita("2026-04-30 08:00:00"))
    e.settle()

    # As in scenario 2: the warning (Sun 04-12 11:35:59.2) fired before the follow-up,
    # no breach, and auto_close resolved it on Mon 04-27 (10th working day after 04-13).
    assert [brief(ev) for ev in e.timeline(cid)[3:]] == [
        ("complaint.sla_warning", wita("2026-04-12 11:35:59.200000"), SLA),
        ("complaint.followed_up", wita("2026-04-13 15:00:00"), {"role": "skpd", "id": SKPD[1]}),
        ("complaint.resolved", wita("2026-04-27 23:59:59"), AUTO_CLOSE),
    ]
    assert e.status(cid)["clocks"]["follow_up"]["breached"] is False


def test_auto_close_resolves_on_the_tenth_working_day(make_engine: EngineFactory) -> None:
    cid = "HSU-2026-000301"
    e: Engine = make_engine(wita("2026-04-08 15:00:00"))
    e.send(
        *dispatched(cid, "2026-04-06 09:00:00", "2026-04-06 10:00:00", "DINKES"),
        follow_up(cid, "2026-04-08 14:00:00"),
    )
    e.settle()
    # auto_close: 10th working day after Wed 04-08 = 9, 10, 13..17, 20..22 -> Wed 04-22.
    status = e.status(cid)
    assert status["state"] == "followed_up"
    assert status["clocks"]["auto_close"]["deadline"] == "2026-04-22T23:59:59+08:00"
    assert len(e.timeline(cid)) == 4

    # At exactly the deadline it is still on time ...
    e.clock.set(wita("2026-04-22 23:59:59"))
    e.settle()
    assert len(e.timeline(cid)) == 4
    assert e.status(cid)["state"] == "followed_up"
    # ... one second later it is past, and the system resolves it as of the deadline.
    e.clock.set(wita("2026-04-23 00:00:00"))
    e.settle()
    timeline = e.timeline(cid)
    assert len(timeline) == 5
    resolved = timeline[4]
    assert brief(resolved) == ("complaint.resolved", wita("2026-04-22 23:59:59"), AUTO_CLOSE)
    assert_local(resolved)
    assert (resolved["state"], resolved["previous_state"]) == ("resolved", "followed_up")
    status = e.status(cid)
    assert status["state"] == "resolved"
    assert status["clocks"]["auto_close"]["stopped_at"] == "2026-04-22T23:59:59+08:00"
    assert status["clocks"]["resolution"]["stopped_at"] == "2026-04-22T23:59:59+08:00"

    # The complainant replies afterwards: the complaint is closed.
    e.clock.set(wita("2026-05-04 10:00:00"))
    e.send(command("reply", cid, "2026-05-04 09:00:00", CITIZEN, {"note": "Belum beres"}))
    e.settle()
    rejected = [ev for ev in e.events() if ev["type"] == "command.rejected"]
    assert len(rejected) == 1
    assert rejected[0]["seq"] is None
    assert rejected[0]["complaint_id"] == cid
    assert rejected[0]["payload"]["command_type"] == "reply"
    assert rejected[0]["payload"]["reason"] == "invalid_transition"
    assert e.status(cid)["state"] == "resolved"
    assert len(e.timeline(cid)) == 5
    assert e.runtime.consumer.stats.outcomes == {"applied": 4, "rejected": 1}


def test_defer_and_resume_shift_the_deadline_by_the_paused_working_days(
    make_engine: EngineFactory,
) -> None:
    cid = "HSU-2026-000401"
    e: Engine = make_engine(wita("2026-04-07 12:00:00"))
    e.send(
        *dispatched(cid, "2026-04-06 09:00:00", "2026-04-06 10:00:00", "DINKES"),
        command("defer", cid, "2026-04-07 09:00:00", ADMIN, {"reason": "menunggu data BPJS"}),
    )
    e.settle()
    status = e.status(cid)
    assert status["deferred"] is True
    assert status["clocks"]["follow_up"]["paused"] is True
    assert status["clocks"]["follow_up"]["deadline"] == "2026-04-13T23:59:59+08:00"

    e.clock.set(wita("2026-04-09 12:00:00"))
    e.send(command("resume", cid, "2026-04-09 09:00:00", ADMIN, {"note": "data lengkap"}))
    e.settle()
    status = e.status(cid)
    assert status["deferred"] is False
    clock = status["clocks"]["follow_up"]
    # Paused from Tue 04-07 to Thu 04-09: working days after 04-07 up to and including
    # 04-09 = 8, 9 -> 2. Mon 04-13 + 2 working days = Wed 04-15.
    assert (clock["deadline"], clock["paused"]) == ("2026-04-15T23:59:59+08:00", False)
    # The warning is recomputed: 04-06 10:00 + 0.8 x (9 d 13:59:59 = 827999 s)
    # = + 662399.2 s = + 7 d 15:59:59.2 = Tue 04-14 01:59:59.2.
    assert clock["warning_at"] == "2026-04-14T01:59:59.200000+08:00"
    # resolution (60 calendar days from Mon 04-06 = Fri 06-05) moves 2 calendar days.
    assert status["clocks"]["resolution"]["deadline"] == "2026-06-07T23:59:59+08:00"
    timeline = e.timeline(cid)
    assert [brief(ev) for ev in timeline[3:]] == [
        ("complaint.deferred", wita("2026-04-07 09:00:00"), {"role": "admin", "id": ADMIN[1]}),
        ("complaint.resumed", wita("2026-04-09 09:00:00"), {"role": "admin", "id": ADMIN[1]}),
    ]
    assert [ev["state"] for ev in timeline[3:]] == ["dispatched", "dispatched"]

    # Thu 04-16 noon: the shifted warning and deadline have passed, the old ones never fired.
    e.clock.set(wita("2026-04-16 12:00:00"))
    e.settle()
    timeline = e.timeline(cid)
    assert [brief(ev) for ev in timeline[5:]] == [
        ("complaint.sla_warning", wita("2026-04-14 01:59:59.200000"), SLA),
        ("complaint.sla_breached", wita("2026-04-15 23:59:59"), SLA),
        ("complaint.escalated", wita("2026-04-15 23:59:59"), SLA),
    ]
    assert timeline[7]["payload"]["level"] == 1


def _sla_facts(events: list[dict[str, Any]]) -> set[tuple[str, str, datetime, str]]:
    facts = set()
    for ev in events:
        timer = ev["type"] in (
            "complaint.sla_warning",
            "complaint.sla_breached",
            "complaint.escalated",
        )
        closed = ev["type"] == "complaint.resolved" and ev["actor"]["role"] == "system"
        if timer or closed:
            payload = json.dumps(ev["payload"], sort_keys=True)
            facts.add(
                (ev["complaint_id"], ev["type"], datetime.fromisoformat(ev["occurred_at"]), payload)
            )
    return facts


def _sequences(events: list[dict[str, Any]]) -> dict[str, list[tuple[int, str, datetime]]]:
    out: dict[str, list[tuple[int, str, datetime]]] = {}
    for ev in sorted((e for e in events if e["seq"] is not None), key=lambda e: e["seq"]):
        out.setdefault(ev["complaint_id"], []).append(
            (ev["seq"], ev["type"], datetime.fromisoformat(ev["occurred_at"]))
        )
    return out


def _live_clock_trailing(live: Engine, part: list[DemoRecord]) -> None:
    """The chunk arrives; the wall clock reaches its last issued_at once it is read."""
    for r in part:
        live.send_raw(r.key, r.value)
    live.producer.flush()
    live.consume()  # the clock is still at (or before) the chunk's first command
    live.clock.set(max(live.clock(), part[-1].issued_at))
    live.settle()


def _live_clock_ahead(live: Engine, part: list[DemoRecord]) -> None:
    """The chunk trickles in: its first command is read at its own time; the rest arrive
    in two bursts, and only then, before they are read, the clock moves to the chunk's
    last issued_at (as the brief's live mode: clock forward, then poll)."""
    first, second, rest = part[0], part[1], part[2:]
    live.clock.set(max(live.clock(), first.issued_at))
    live.send_raw(first.key, first.value)
    live.producer.flush()
    live.consume()  # its poll leaves the next fetch waiting at the broker
    live.send_raw(second.key, second.value)
    live.producer.flush()
    time.sleep(0.3)  # that fetch returns with `second` and the high watermark of now
    for r in rest:
        live.send_raw(r.key, r.value)
    live.producer.flush()
    live.clock.set(max(live.clock(), part[-1].issued_at))
    live.settle()


@pytest.mark.parametrize(
    "feed",
    [
        pytest.param(_live_clock_trailing, id="clock-trails-feed"),
        pytest.param(_live_clock_ahead, id="clock-ahead-of-unread-feed"),
    ],
)
def test_backfill_gives_the_same_sla_events_as_live(
    make_engine: EngineFactory, feed: Callable[[Engine, list[DemoRecord]], None]
) -> None:
    _, records = generate(seed=11, complaints=40, start=date(2026, 1, 5), days=20)
    final = wita("2026-04-30 08:00:00")  # past every deadline and escalation of the data

    # (a) live: the wall clock follows the feed, chunk by chunk. When it trails the feed
    # it is up to days behind the commands it reads: allow that much future skew, or
    # they would be invalid (issued_at_out_of_range), which is not what this compares.
    live: Engine = make_engine(
        records[0].issued_at, partitions=2, max_future_skew=timedelta(days=366)
    )
    chunk = 30
    for start in range(0, len(records), chunk):
        feed(live, records[start : start + chunk])
    live.clock.set(final)
    live.settle()

    # (b) backfill: everything at once, the wall clock already at the end.
    backfill: Engine = make_engine(final, partitions=2)
    for r in records:
        backfill.send_raw(r.key, r.value)
    backfill.producer.flush()
    backfill.settle()

    live_events, backfill_events = live.events(), backfill.events()
    live_facts, backfill_facts = _sla_facts(live_events), _sla_facts(backfill_events)
    kinds = Counter(t for _, t, _, _ in live_facts)
    auto_closed = sum(
        1 for e in live_events if e["type"] == "complaint.resolved" and e["actor"] == AUTO_CLOSE
    )
    assert kinds["complaint.sla_breached"] >= 1
    assert kinds["complaint.escalated"] >= 1
    assert auto_closed >= 1

    # The live run really was live: its timers fired while the feed was still coming,
    # noticed at several different chunk clocks (recorded_at); the backfill noticed all
    # of its own at the one final clock.
    def noticed(events: list[dict[str, Any]]) -> set[datetime]:
        return {
            datetime.fromisoformat(e["recorded_at"])
            for e in events
            if e["actor"]["role"] == "system"
        }

    assert len(noticed(live_events)) >= 3, sorted(noticed(live_events))
    assert noticed(backfill_events) == {final}
    assert sorted(live_facts - backfill_facts) == []
    assert sorted(backfill_facts - live_facts) == []
    assert live_facts == backfill_facts
    # Beyond the SLA events: every complaint's whole history is the same too.
    assert _sequences(live_events) == _sequences(backfill_events)
    assert live.runtime.consumer.stats.outcomes == backfill.runtime.consumer.stats.outcomes


def test_policy_override_per_skpd(make_engine: EngineFactory, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text('skpd: {"HSU/DINKES": {clocks: {follow_up: 2}}}\n', encoding="utf-8")
    dinkes, dinsos = "HSU-2026-000601", "HSU-2026-000602"
    e: Engine = make_engine(wita("2026-04-06 12:00:00"), partitions=2, policy=str(policy))
    e.send(
        *dispatched(dinkes, "2026-04-06 09:00:00", "2026-04-06 10:00:00", "DINKES"),
        *dispatched(dinsos, "2026-04-06 09:00:00", "2026-04-06 10:00:00", "DINSOS"),
    )
    e.settle()
    # DINKES: 2 working days after Mon 04-06 -> Wed 04-08; DINSOS keeps 5 -> Mon 04-13.
    assert e.status(dinkes)["clocks"]["follow_up"]["deadline"] == "2026-04-08T23:59:59+08:00"
    assert e.status(dinkes)["clocks"]["follow_up"]["limit_days"] == 2
    assert e.status(dinsos)["clocks"]["follow_up"]["deadline"] == "2026-04-13T23:59:59+08:00"

    e.clock.set(wita("2026-04-09 12:00:00"))
    e.settle()
    # warning = 04-06 10:00 + 0.8 x (2 d 13:59:59 = 223199 s) = + 2 d 01:35:59.2.
    assert [brief(ev) for ev in e.timeline(dinkes)[3:]] == [
        ("complaint.sla_warning", wita("2026-04-08 11:35:59.200000"), SLA),
        ("complaint.sla_breached", wita("2026-04-08 23:59:59"), SLA),
        ("complaint.escalated", wita("2026-04-08 23:59:59"), SLA),
    ]
    # DINSOS's warning (Sun 04-12 11:35:59.2) is still ahead.
    assert len(e.timeline(dinsos)) == 3


def test_invalid_policy_file_stops_the_engine_before_consuming(
    kafka_bootstrap: str, pg_database_url: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text('skpd: {"HSU/DINKES": {clokcs: {follow_up: 2}}}\n', encoding="utf-8")
    settings = _settings(kafka_bootstrap, pg_database_url, 1, policy=str(policy))
    ensure_topics(kafka_bootstrap, settings.topics.all(), settings.partitions)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        doc = submit("HSU-2026-000701", "2026-04-06 09:00:00")
        producer.send(
            settings.topics.commands, key=b"HSU-2026-000701", value=json.dumps(doc).encode()
        )
        producer.flush()
    finally:
        producer.close()

    with pytest.raises(PolicyError) as raised:
        EngineRuntime(settings, clock=FakeClock(wita("2026-04-30 08:00:00")), serve_http=False)
    assert "unknown key 'skpd.HSU/DINKES.clokcs'" in str(raised.value)

    # Nothing was consumed: no offsets committed for the group, no schema created.
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        assert admin.list_group_offsets(settings.group_id) == {settings.group_id: {}}
        assert settings.group_id not in {g["group_id"] for g in admin.list_groups()}
    finally:
        admin.close()
    url = make_url(pg_database_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)


def test_a_policy_change_reaches_running_clocks_at_the_next_start(
    make_engine: EngineFactory, tmp_path: Path
) -> None:
    running, breached = "HSU-2026-000701", "HSU-2026-000702"
    e: Engine = make_engine(wita("2026-04-06 12:00:00"))
    e.send(
        *dispatched(breached, "2026-03-23 09:00:00", "2026-03-23 10:00:00", "DINKES"),
        *dispatched(running, "2026-04-06 09:00:00", "2026-04-06 10:00:00", "DINKES"),
    )
    e.settle()
    assert e.status(running)["clocks"]["follow_up"]["deadline"] == "2026-04-13T23:59:59+08:00"
    assert e.status(breached)["clocks"]["follow_up"]["breached"]
    # The operator adds a regional holiday on Wednesday 04-08 and restarts the engine.
    policy = tmp_path / "policy.yaml"
    policy.write_text('holidays: {add: ["2026-04-08"]}\n', encoding="utf-8")
    e.runtime.shutdown()
    settings = e.settings.model_copy(update={"policy": str(policy)})
    e.runtime = EngineRuntime(settings, clock=e.clock, serve_http=False)
    assert e.runtime.rescheduled == 1
    # The relay publishes the partitions its consumer owns: join the group first.
    give_up = time.monotonic() + SETTLE_TIMEOUT_S
    while not e.runtime.consumer.owned_partitions:
        assert time.monotonic() < give_up, "the restarted engine never got its partitions"
        e.runtime.consumer.poll_once()
    e.runtime.relay.drain()
    assert e.status(running)["clocks"]["follow_up"]["deadline"] == "2026-04-14T23:59:59+08:00"
    last = e.timeline(running)[-1]
    assert (last["type"], last["seq"]) == ("complaint.sla_rescheduled", 4)
    assert last["payload"]["old_deadline"] == "2026-04-13T23:59:59+08:00"
    assert last["payload"]["deadline"] == "2026-04-14T23:59:59+08:00"
    assert e.timeline(breached)[-1]["type"] != "complaint.sla_rescheduled"
    # A second start under the same policy reschedules nothing.
    e.runtime.shutdown()
    e.runtime = EngineRuntime(settings, clock=e.clock, serve_http=False)
    assert e.runtime.rescheduled == 0
