"""The per-SKPD KPI report (CONTRACT §6 ``report``) over a hand-computable history.

The history is applied with the real :class:`~engine.processor.Processor` on SQLite,
with in-memory records (no broker) and a fixed engine clock. Default policy: 5 working
days to follow up, escalation at the breach and at the end of the 2nd and 5th working
day after it. April 2026 in WITA (Asia/Makassar): Good Friday 04-03 is a holiday, 04-06
to 04-30 has only weekends off.

Every dispatch happens at 07:30 WITA, which is still the previous day in UTC: the report
must count days in the region's local time, never in UTC.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from engine.processor import Processor
from engine.report import SkpdRow, build_report
from engine.store import Store
from workflows.policy import Policy

WITA = timezone(timedelta(hours=8))
TOPIC = "lapor.commands"

#: The engine's fixed clock: Tuesday 2026-04-21 noon WITA. Everything up to D4's level 3
#: escalation (04-20 23:59:59) has fired; no auto-close yet (D1's would be 04-21 23:59:59).
NOW = datetime(2026, 4, 21, 12, 0, tzinfo=WITA)


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Cmd:
    at: datetime
    kind: str
    cid: str
    role: str
    payload: dict[str, Any]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A WITA instant in April 2026."""
    return datetime(2026, 4, day, hour, minute, tzinfo=WITA)


def submit_payload(region: str) -> dict[str, Any]:
    return {
        "title": "Puskesmas tutup",
        "body": "Tidak ada petugas",
        "category": "kesehatan",
        "classification": "pengaduan",
        "channel": "web",
        "region": region,
        "complainant": {"name": "Siti Aminah", "phone": "0813"},
    }


def dispatched(cid: str, skpd: str, day: int = 6, region: str = "HSU") -> list[Cmd]:
    """Submit, verify and dispatch on one day: the dispatch at 07:30 WITA (23:30 UTC before)."""
    return [
        Cmd(at(day, 7, 0), "submit", cid, "complainant", submit_payload(region)),
        Cmd(at(day, 7, 15), "verify", cid, "admin", {}),
        Cmd(at(day, 7, 30), "dispatch", cid, "admin", {"skpd": skpd}),
    ]


def follow_up(cid: str, day: int, hour: int = 10) -> Cmd:
    return Cmd(at(day, hour), "follow_up", cid, "skpd", {"note": "Sudah ditindaklanjuti"})


def to_records(commands: list[Cmd]) -> list[Rec]:
    """One partition, in issued_at order, each command with a unique id."""
    ordered = sorted(commands, key=lambda c: c.at)
    records = []
    for offset, c in enumerate(ordered):
        value = json.dumps(
            {
                "command_id": f"c-{offset}-{c.kind}-{c.cid}",
                "type": c.kind,
                "complaint_id": c.cid,
                "issued_at": c.at.isoformat(),
                "actor": {"role": c.role, "id": "x"},
                "payload": c.payload,
            }
        ).encode()
        records.append(Rec(TOPIC, 0, offset, c.cid.encode(), value))
    return records


def apply(store: Store, commands: list[Cmd], now: datetime = NOW) -> None:
    """Apply the commands, then let the caught-up partition's timers fire up to ``now``."""
    result = Processor(store, policy=Policy.default(), clock=lambda: now).process(
        to_records(commands), caught_up=[0]
    )
    assert result.count("applied") == len(commands), result.outcomes


def history() -> list[Cmd]:
    """The hand-computable history (see the module docstring and each line)."""
    return [
        # DINKES, HSU: four dispatched Mon 04-06 07:30 WITA.
        *dispatched("HSU-D1", "DINKES"),
        follow_up("HSU-D1", 7),  # Tue 04-07: 1 working day
        *dispatched("HSU-D2", "DINKES"),
        follow_up("HSU-D2", 8),  # Wed 04-08: 2 working days
        *dispatched("HSU-D3", "DINKES"),
        # Due Mon 04-13 23:59:59: breached + escalated (level 1) before this follow-up,
        # which then stops the clock. Tue 04-14: 6 working days (7, 8, 9, 10, 13, 14).
        follow_up("HSU-D3", 14),
        # Never followed up: breached 04-13 23:59:59 (level 1), level 2 at the end of
        # Wed 04-15, level 3 at the end of Mon 04-20; still open at NOW.
        *dispatched("HSU-D4", "DINKES"),
        # PUPR, HSU: one answered after 3 working days and resolved, one returned.
        *dispatched("HSU-P1", "PUPR"),
        follow_up("HSU-P1", 9),  # Thu 04-09: 3 working days
        # Resolved Fri 04-10 07:00 WITA, which is Thu 04-09 in UTC.
        Cmd(at(10, 7), "resolve", "HSU-P1", "complainant", {"note": "Terima kasih"}),
        *dispatched("HSU-P2", "PUPR"),
        # Returned (bukan wewenang): back with Diskominfo, whose verification clock
        # restarts and breaches with no SKPD (04-10 end; levels 2 and 3 on 04-14, 04-17):
        # none of that is PUPR's.
        Cmd(at(7, 9), "return", "HSU-P2", "skpd", {"reason": "Bukan wewenang PUPR"}),
        # ACEH (no policy entry: default time zone): DINKES after 2 working days, and a
        # DISDIK complaint that only ACEH has.
        *dispatched("ACEH-D1", "DINKES", region="ACEH"),
        follow_up("ACEH-D1", 8),
        *dispatched("ACEH-S1", "DISDIK", region="ACEH"),
        follow_up("ACEH-S1", 7),
    ]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'report.db'}")
    s.migrate()
    apply(s, history())
    return s


def rows_by_skpd(rows: list[SkpdRow]) -> dict[str, SkpdRow]:
    return {r.skpd: r for r in rows}


def test_history_is_what_the_expected_values_assume(store: Store) -> None:
    """Guard for the hand computation: the timers fired as the docstrings say."""

    def escalations(cid: str) -> list[tuple[str, int, datetime]]:
        return [
            (e.payload["clock"], e.payload["level"], e.occurred_at)
            for e in store.history(cid)
            if e.type == "complaint.escalated"
        ]

    end = datetime(2026, 4, 13, 23, 59, 59, tzinfo=WITA)
    assert escalations("HSU-D3") == [("follow_up", 1, end)]
    assert escalations("HSU-D4") == [
        ("follow_up", 1, end),
        ("follow_up", 2, end + timedelta(days=2)),
        ("follow_up", 3, end + timedelta(days=7)),
    ]
    assert [e[:2] for e in escalations("HSU-P2")] == [
        ("verification", 1),
        ("verification", 2),
        ("verification", 3),
    ]
    states = {
        cid: (c.state, c.skpd)
        for cid in ("HSU-D1", "HSU-D3", "HSU-D4", "HSU-P1", "HSU-P2")
        if (c := store.complaint(cid)) is not None
    }
    assert states == {
        "HSU-D1": ("followed_up", "DINKES"),  # auto-close not due before NOW
        "HSU-D3": ("followed_up", "DINKES"),
        "HSU-D4": ("dispatched", "DINKES"),
        "HSU-P1": ("resolved", "PUPR"),
        "HSU-P2": ("verified", None),
    }


def test_rows_for_one_region_are_hand_computed(store: Store) -> None:
    rows = build_report(store, Policy.default(), region="HSU")
    assert rows == [
        SkpdRow(
            skpd="DINKES",
            received=4,
            followed_up=3,
            follow_up_rate=0.75,
            median_follow_up_working_days=2,  # of 1, 2, 6
            p90_follow_up_working_days=6.0,  # nearest rank: ceil(0.9 * 3) = 3rd of 3
            open_breaches=1,  # D4's follow_up clock (D3's stopped)
            escalations=4,  # D3: level 1; D4: levels 1, 2, 3
            settled=0,
        ),
        SkpdRow(
            skpd="PUPR",
            received=2,  # the returned one too
            followed_up=1,
            follow_up_rate=0.5,
            median_follow_up_working_days=3,
            p90_follow_up_working_days=3.0,
            open_breaches=0,  # P2's breached verification clock has no SKPD
            escalations=0,
            settled=1,
        ),
    ]
    # The JSON form has the contract's fields.
    assert rows[0].as_dict() == {
        "skpd": "DINKES",
        "received": 4,
        "followed_up": 3,
        "follow_up_rate": 0.75,
        "median_follow_up_working_days": 2,
        "p90_follow_up_working_days": 6.0,
        "open_breaches": 1,
        "escalations": 4,
        "settled": 0,
    }


def test_region_filter(store: Store) -> None:
    aceh = build_report(store, Policy.default(), region="ACEH")
    assert aceh == [
        SkpdRow("DINKES", 1, 1, 1.0, 2, 2.0, 0, 0, 0),
        SkpdRow("DISDIK", 1, 1, 1.0, 1, 1.0, 0, 0, 0),
    ]
    everything = rows_by_skpd(build_report(store, Policy.default()))
    assert sorted(everything) == ["DINKES", "DISDIK", "PUPR"]  # no "" row for P2's breach
    # DINKES over both regions: 1, 2, 2 (ACEH), 6 working days.
    assert everything["DINKES"] == SkpdRow("DINKES", 5, 4, 0.8, 2.0, 6.0, 1, 4, 0)
    assert (
        everything["PUPR"]
        == rows_by_skpd(build_report(store, Policy.default(), region="HSU"))["PUPR"]
    )
    assert build_report(store, Policy.default(), region="KALTENG") == []


def test_since_filters_dispatches_and_events_by_local_date(store: Store) -> None:
    policy = Policy.default()
    # 04-06 07:30 WITA is 04-05 23:30 UTC: a local since=04-06 still counts every dispatch.
    assert rows_by_skpd(build_report(store, policy, region="HSU", since=date(2026, 4, 6))) == (
        rows_by_skpd(build_report(store, policy, region="HSU"))
    )
    later = rows_by_skpd(build_report(store, policy, region="HSU", since=date(2026, 4, 7)))
    # Nothing was dispatched from 04-07 on; the escalations (04-13, 04-15, 04-20) and the
    # resolution (04-10) were. Open breaches are a "now" figure, not filtered.
    assert later == {
        "DINKES": SkpdRow("DINKES", 0, 0, None, None, None, 1, 4, 0),
        "PUPR": SkpdRow("PUPR", 0, 0, None, None, None, 0, 0, 1),
    }
    window = rows_by_skpd(
        build_report(store, policy, region="HSU", since=date(2026, 4, 14), until=date(2026, 4, 15))
    )
    # Only D4's level 2 escalation (04-15 23:59:59 WITA) falls in 04-14..04-15.
    assert window == {"DINKES": SkpdRow("DINKES", 0, 0, None, None, None, 1, 1, 0)}
    after = rows_by_skpd(build_report(store, policy, region="HSU", since=date(2026, 4, 16)))
    # Level 3 (04-20); PUPR had nothing in the period: no row at all.
    assert after == {"DINKES": SkpdRow("DINKES", 0, 0, None, None, None, 1, 1, 0)}


def test_until_filters_dispatches_and_events_by_local_date(store: Store) -> None:
    policy = Policy.default()
    # Nothing dispatched up to 04-05 local (though 04-05 in UTC): only the open breach.
    before = rows_by_skpd(build_report(store, policy, region="HSU", until=date(2026, 4, 5)))
    assert before == {"DINKES": SkpdRow("DINKES", 0, 0, None, None, None, 1, 0, 0)}
    # P1 was resolved 04-10 07:00 WITA (04-09 in UTC): not settled by 04-09 local.
    to_9 = rows_by_skpd(build_report(store, policy, region="HSU", until=date(2026, 4, 9)))
    assert to_9["PUPR"] == SkpdRow("PUPR", 2, 1, 0.5, 3, 3.0, 0, 0, 0)
    to_13 = rows_by_skpd(build_report(store, policy, region="HSU", until=date(2026, 4, 13)))
    # Follow-ups count whenever they came (D3's on 04-14 too); escalations only up to
    # 04-13: the two level 1s at 04-13 23:59:59 WITA.
    assert to_13 == {
        "DINKES": SkpdRow("DINKES", 4, 3, 0.75, 2, 6.0, 1, 2, 0),
        "PUPR": SkpdRow("PUPR", 2, 1, 0.5, 3, 3.0, 0, 0, 1),
    }
    one_day = build_report(
        store, policy, region="HSU", since=date(2026, 4, 6), until=date(2026, 4, 6)
    )
    assert [(r.skpd, r.received, r.escalations, r.settled) for r in one_day] == [
        ("DINKES", 4, 0, 0),
        ("PUPR", 2, 0, 0),
    ]


def test_return_then_redispatch_counts_for_both_skpds(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'redispatch.db'}")
    store.migrate()
    apply(
        store,
        [
            *dispatched("HSU-R1", "PUPR"),  # Mon 04-06
            Cmd(at(7, 9), "return", "HSU-R1", "skpd", {"reason": "Bukan wewenang PUPR"}),
            Cmd(at(8, 8), "dispatch", "HSU-R1", "admin", {"skpd": "DINKES"}),  # Wed 04-08
            follow_up("HSU-R1", 9),  # Thu 04-09: 1 working day after DINKES got it
        ],
        now=at(9, 12),
    )
    rows = build_report(store, Policy.default())
    assert rows == [
        SkpdRow("DINKES", 1, 1, 1.0, 1, 1.0, 0, 0, 0),
        # PUPR received it and never answered: DINKES's follow-up is not PUPR's.
        SkpdRow("PUPR", 1, 0, 0.0, None, None, 0, 0, 0),
    ]
    # From the redispatch day on: received by DINKES only (PUPR has nothing in it).
    rows = build_report(store, Policy.default(), since=date(2026, 4, 8))
    assert rows == [SkpdRow("DINKES", 1, 1, 1.0, 1, 1.0, 0, 0, 0)]
    rows = build_report(store, Policy.default(), until=date(2026, 4, 7))
    assert rows == [SkpdRow("PUPR", 1, 0, 0.0, None, None, 0, 0, 0)]


def test_empty_store_gives_no_rows(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'empty.db'}")
    store.migrate()
    assert build_report(store, Policy.default()) == []


def test_open_breaches_do_not_depend_on_batch_boundaries(tmp_path: Path) -> None:
    # Dispatched to DINKES Mon 04-06 and left: the resolution clock (60 calendar days)
    # breaches 06-05 and escalates up to level 3 (06-12). On 07-01 DINKES returns it and
    # it goes to PUPR; the breached resolution clock keeps running, now at PUPR.
    commands = [
        *dispatched("HSU-X", "DINKES"),
        Cmd(datetime(2026, 7, 1, 9, tzinfo=WITA), "return", "HSU-X", "skpd", {"reason": "Bukan"}),
        Cmd(datetime(2026, 7, 1, 10, tzinfo=WITA), "dispatch", "HSU-X", "admin", {"skpd": "PUPR"}),
    ]
    now = datetime(2026, 7, 1, 12, tzinfo=WITA)
    whole = Store(f"sqlite:///{tmp_path / 'whole.db'}")
    whole.migrate()
    apply(whole, commands, now=now)
    # The same records in two batches: the engine caught up on 06-30, then the rest.
    split = Store(f"sqlite:///{tmp_path / 'split.db'}")
    split.migrate()
    records = to_records(commands)
    policy = Policy.default()
    Processor(split, policy=policy, clock=lambda: datetime(2026, 6, 30, 12, tzinfo=WITA)).process(
        records[:3], caught_up=[0]
    )
    Processor(split, policy=policy, clock=lambda: now).process(records[3:], caught_up=[0])
    for store in (whole, split):
        complaint = store.complaint("HSU-X")
        assert complaint is not None
        assert complaint.skpd == "PUPR"
        assert complaint.clocks["resolution"].breached_at is not None
    expected = [
        SkpdRow("DINKES", 1, 0, 0.0, None, None, 0, 6, 0),  # follow_up 1-3, resolution 1-3
        SkpdRow("PUPR", 1, 0, 0.0, None, None, 1, 0, 0),  # holds the breached complaint now
    ]
    assert build_report(whole, policy) == expected
    assert build_report(split, policy) == expected  # fails: DINKES 1, PUPR 0
