"""The per-SKPD KPI report (CONTRACT §6 ``report``): the pure aggregation, then the
whole report over a hand-computable history on SQLite and PostgreSQL.

The history is applied with the real :class:`~engine.processor.Processor`, with
in-memory records (no broker) and a fixed engine clock. Default policy: 5 working days
to follow up, escalation at the breach and at the end of the 2nd and 5th working
day after it. April 2026 in WITA (Asia/Makassar): Good Friday 04-03 is a holiday, 04-06
to 04-30 has only weekends off.

Every dispatch happens at 07:30 WITA, which is still the previous day in UTC: the report
must count days in the region's local time, never in UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from engine.processor import Processor
from engine.report import SkpdRow, aggregate, build_report
from engine.report_query import FollowUpSpan, ReportFacts, SkpdCounts
from engine.store import Store
from workflows.policy import Policy
from workflows.wire import command_bytes

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
        value = command_bytes(
            c.kind,
            c.cid,
            c.at,
            role=c.role,
            actor_id="x",
            payload=c.payload,
            command_id=f"c-{offset}-{c.kind}-{c.cid}",
        )
        records.append(Rec(TOPIC, 0, offset, c.cid.encode(), value))
    return records


def apply(
    store: Store, commands: list[Cmd], now: datetime = NOW, policy: Policy | None = None
) -> None:
    """Apply the commands, then let the caught-up partition's timers fire up to ``now``."""
    policy = policy or Policy.default()
    result = Processor(store, policy=policy, clock=lambda: now).process(
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


BACKENDS = ["sqlite", pytest.param("postgresql", marks=[pytest.mark.integration])]


def row(skpd: str, **fields: Any) -> SkpdRow:
    """A row with zero counts and no rate or durations, except ``fields``."""
    base: dict[str, Any] = {
        "received": 0,
        "followed_up": 0,
        "follow_up_rate": None,
        "median_follow_up_working_days": None,
        "p90_follow_up_working_days": None,
        "open_breaches": 0,
        "escalations": 0,
        "returned": 0,
        "settled": 0,
        "auto_closed": 0,
    }
    return SkpdRow(skpd=skpd, **{**base, **fields})


def rows_by_skpd(rows: list[SkpdRow]) -> dict[str, SkpdRow]:
    return {r.skpd: r for r in rows}


# --- aggregate(): the pure step, no database -------------------------------------------


def span(
    skpd: str, dispatched_at: datetime, answered_at: datetime, region: str = "HSU"
) -> FollowUpSpan:
    return FollowUpSpan(
        skpd=skpd, region=region, dispatched_at=dispatched_at, answered_at=answered_at
    )


def test_aggregate_rate_leaves_returns_out_of_the_denominator() -> None:
    facts = ReportFacts(
        counts=(
            SkpdCounts("DINKES", received=5, followed_up=2, returned=1),
            SkpdCounts("PUPR", received=2, followed_up=0, returned=2),  # nothing to answer
            SkpdCounts("DLH", escalations=3, open_breaches=1),  # nothing received
        )
    )
    rows = rows_by_skpd(aggregate(facts, Policy.default()))
    assert rows["DINKES"].follow_up_rate == 0.5  # 2 / (5 - 1), not 2 / 5
    assert rows["PUPR"].follow_up_rate is None
    assert rows["DLH"] == row("DLH", escalations=3, open_breaches=1)


def test_aggregate_passes_counts_through_and_sorts_rows() -> None:
    facts = ReportFacts(
        counts=(
            SkpdCounts("PUPR", received=3, followed_up=1, settled=7, auto_closed=2),
            SkpdCounts("", open_breaches=4),  # a clock with no SKPD is nobody's row
            SkpdCounts("DINKES", received=3, followed_up=2, returned=0, escalations=1),
        )
    )
    assert aggregate(facts, Policy.default()) == [
        row("DINKES", received=3, followed_up=2, follow_up_rate=0.6667, escalations=1),
        row("PUPR", received=3, followed_up=1, follow_up_rate=0.3333, settled=7, auto_closed=2),
    ]
    assert aggregate(ReportFacts(), Policy.default()) == []


def test_aggregate_counts_working_days_in_each_regions_time_zone() -> None:
    # 2026-04-06 16:30 UTC is Tue 04-07 00:30 in WITA but still Mon 04-06 in WIB; the
    # answer on 04-07 10:00 UTC is Tue 04-07 in both.
    policy = Policy.model_validate({"regions": {"ACEH": {"timezone": "Asia/Jakarta"}}})
    dispatched_at = datetime(2026, 4, 6, 16, 30, tzinfo=UTC)
    answered_at = datetime(2026, 4, 7, 10, 0, tzinfo=UTC)
    facts = ReportFacts(
        counts=(SkpdCounts("DINKES", received=1, followed_up=1),),
        spans=(span("DINKES", dispatched_at, answered_at, region="ACEH"),),
    )
    assert aggregate(facts, policy)[0].median_follow_up_working_days == 1
    hsu = ReportFacts(counts=facts.counts, spans=(span("DINKES", dispatched_at, answered_at),))
    assert aggregate(hsu, policy)[0].median_follow_up_working_days == 0


def test_aggregate_uses_the_policy_calendar() -> None:
    # Mon 04-06 to Thu 04-09 WITA: 3 working days, 2 with a policy holiday on 04-08.
    facts = ReportFacts(
        counts=(SkpdCounts("DINKES", received=1, followed_up=1),),
        spans=(span("DINKES", at(6, 9), at(9, 9)),),
    )
    assert aggregate(facts, Policy.default())[0].median_follow_up_working_days == 3
    holiday = Policy.model_validate({"holidays": {"add": ["2026-04-08"]}})
    assert aggregate(facts, holiday)[0].median_follow_up_working_days == 2


def test_aggregate_median_and_nearest_rank_p90() -> None:
    # Dispatched Mon 04-06; answered after 1..10 working days (04-07 .. 04-20).
    answers = [7, 8, 9, 10, 13, 14, 15, 16, 17, 20]
    facts = ReportFacts(
        counts=(SkpdCounts("DINKES", received=10, followed_up=10),),
        spans=tuple(span("DINKES", at(6, 9), at(day, 9)) for day in reversed(answers)),
    )
    (result,) = aggregate(facts, Policy.default())
    assert result.median_follow_up_working_days == 5.5
    # 90 % of 10 is the 9th value, although 10 * 0.9 is 9.000000000000002 in floats.
    assert result.p90_follow_up_working_days == 9.0
    one = ReportFacts(counts=facts.counts, spans=facts.spans[:1])  # the 10-day one
    (result,) = aggregate(one, Policy.default())
    assert (result.median_follow_up_working_days, result.p90_follow_up_working_days) == (10, 10.0)


def test_aggregate_counts_spans_sharing_their_local_dates_once_each() -> None:
    # Three spans with the same local dates (two SKPDs), one a day later: each span
    # still counts once in its own SKPD's median and p90.
    facts = ReportFacts(
        counts=(
            SkpdCounts("DINKES", received=3, followed_up=3),
            SkpdCounts("PUPR", received=1, followed_up=1),
        ),
        spans=(
            span("DINKES", at(6, 9), at(8, 9)),
            span("DINKES", at(6, 11), at(8, 15)),
            span("PUPR", at(6, 9), at(8, 9)),
            span("DINKES", at(6, 9), at(9, 9)),
        ),
    )
    rows = rows_by_skpd(aggregate(facts, Policy.default()))
    assert rows["DINKES"].median_follow_up_working_days == 2
    assert rows["DINKES"].p90_follow_up_working_days == 3.0
    assert rows["PUPR"].median_follow_up_working_days == 2


def test_aggregate_refuses_a_naive_instant() -> None:
    naive = datetime(2026, 4, 8, 9, 0)
    facts = ReportFacts(
        counts=(SkpdCounts("DINKES", received=1, followed_up=1),),
        spans=(span("DINKES", at(6, 9), naive),),
    )
    with pytest.raises(ValueError, match="DINKES has a naive instant"):
        aggregate(facts, Policy.default())


# --- build_report(): SQL and aggregation over a real history --------------------------


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no schema yet, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'report.db'}"
    return str(request.getfixturevalue("pg_database_url"))


def new_store(url: str) -> Store:
    s = Store(url)
    s.migrate()
    return s


@pytest.fixture
def store(empty_url: str) -> Iterator[Store]:
    s = new_store(empty_url)
    apply(s, history())
    yield s
    s.close()


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


HSU_DINKES = row(
    "DINKES",
    received=4,
    followed_up=3,
    follow_up_rate=0.75,
    median_follow_up_working_days=2,  # of 1, 2, 6
    p90_follow_up_working_days=6.0,  # nearest rank: ceil(0.9 * 3) = 3rd of 3
    open_breaches=1,  # D4's follow_up clock (D3's stopped)
    escalations=4,  # D3: level 1; D4: levels 1, 2, 3
)
HSU_PUPR = row(
    "PUPR",
    received=2,  # the returned one too
    followed_up=1,
    returned=1,  # P2, bukan wewenang: not PUPR's to answer
    follow_up_rate=1.0,  # 1 / (2 - 1)
    median_follow_up_working_days=3,
    p90_follow_up_working_days=3.0,
    # P2's breached verification clock has no SKPD: no open breach for PUPR.
    settled=1,  # P1, by the complainant
)


def test_rows_for_one_region_are_hand_computed(store: Store) -> None:
    rows = build_report(store, Policy.default(), region="HSU")
    assert rows == [HSU_DINKES, HSU_PUPR]
    # The JSON form has the contract's fields.
    assert rows[1].as_dict() == {
        "skpd": "PUPR",
        "received": 2,
        "followed_up": 1,
        "follow_up_rate": 1.0,
        "median_follow_up_working_days": 3,
        "p90_follow_up_working_days": 3.0,
        "open_breaches": 0,
        "escalations": 0,
        "returned": 1,
        "settled": 1,
        "auto_closed": 0,
    }


def test_region_filter(store: Store) -> None:
    aceh = build_report(store, Policy.default(), region="ACEH")
    one_answered = {"received": 1, "followed_up": 1, "follow_up_rate": 1.0}
    assert aceh == [
        row(
            "DINKES",
            **one_answered,
            median_follow_up_working_days=2,
            p90_follow_up_working_days=2.0,
        ),
        row(
            "DISDIK",
            **one_answered,
            median_follow_up_working_days=1,
            p90_follow_up_working_days=1.0,
        ),
    ]
    everything = rows_by_skpd(build_report(store, Policy.default()))
    assert sorted(everything) == ["DINKES", "DISDIK", "PUPR"]  # no "" row for P2's breach
    # DINKES over both regions: 1, 2, 2 (ACEH), 6 working days.
    assert everything["DINKES"] == row(
        "DINKES",
        received=5,
        followed_up=4,
        follow_up_rate=0.8,
        median_follow_up_working_days=2.0,
        p90_follow_up_working_days=6.0,
        open_breaches=1,
        escalations=4,
    )
    assert everything["PUPR"] == HSU_PUPR
    assert build_report(store, Policy.default(), region="KALTENG") == []


def test_since_filters_dispatches_and_events_by_local_date(store: Store) -> None:
    policy = Policy.default()
    # 04-06 07:30 WITA is 04-05 23:30 UTC: a local since=04-06 still counts every dispatch.
    assert build_report(store, policy, region="HSU", since=date(2026, 4, 6)) == [
        HSU_DINKES,
        HSU_PUPR,
    ]
    later = build_report(store, policy, region="HSU", since=date(2026, 4, 7))
    # Nothing was dispatched from 04-07 on; the escalations (04-13, 04-15, 04-20) and the
    # resolution (04-10) were. Open breaches are a "now" figure, not filtered.
    assert later == [row("DINKES", open_breaches=1, escalations=4), row("PUPR", settled=1)]
    window = build_report(
        store, policy, region="HSU", since=date(2026, 4, 14), until=date(2026, 4, 15)
    )
    # Only D4's level 2 escalation (04-15 23:59:59 WITA) falls in 04-14..04-15.
    assert window == [row("DINKES", open_breaches=1, escalations=1)]
    after = build_report(store, policy, region="HSU", since=date(2026, 4, 16))
    # Level 3 (04-20); PUPR had nothing in the period: no row at all.
    assert after == [row("DINKES", open_breaches=1, escalations=1)]


def test_until_filters_dispatches_and_events_by_local_date(store: Store) -> None:
    policy = Policy.default()
    # Nothing dispatched up to 04-05 local (though 04-05 in UTC): only the open breach.
    before = build_report(store, policy, region="HSU", until=date(2026, 4, 5))
    assert before == [row("DINKES", open_breaches=1)]
    # P1 was resolved 04-10 07:00 WITA (04-09 in UTC): not settled by 04-09 local.
    to_9 = rows_by_skpd(build_report(store, policy, region="HSU", until=date(2026, 4, 9)))
    assert to_9["PUPR"] == SkpdRow(**{**HSU_PUPR.as_dict(), "settled": 0})
    to_13 = build_report(store, policy, region="HSU", until=date(2026, 4, 13))
    # Follow-ups count whenever they came (D3's on 04-14 too); escalations only up to
    # 04-13: the two level 1s at 04-13 23:59:59 WITA.
    assert to_13 == [
        SkpdRow(**{**HSU_DINKES.as_dict(), "escalations": 2}),
        HSU_PUPR,
    ]
    one_day = build_report(
        store, policy, region="HSU", since=date(2026, 4, 6), until=date(2026, 4, 6)
    )
    assert [(r.skpd, r.received, r.returned, r.escalations, r.settled) for r in one_day] == [
        ("DINKES", 4, 0, 0, 0),
        ("PUPR", 2, 1, 0, 0),  # returned on 04-07, after the period: still returned
    ]


def test_return_then_redispatch_counts_for_both_skpds(empty_url: str) -> None:
    store = new_store(empty_url)
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
    dinkes = row(
        "DINKES",
        received=1,
        followed_up=1,
        follow_up_rate=1.0,
        median_follow_up_working_days=1,
        p90_follow_up_working_days=1.0,
    )
    # PUPR received it and returned it: not answered, and not PUPR's to answer.
    pupr = row("PUPR", received=1, returned=1)
    assert build_report(store, Policy.default()) == [dinkes, pupr]
    # From the redispatch day on: received by DINKES only (PUPR has nothing in it).
    assert build_report(store, Policy.default(), since=date(2026, 4, 8)) == [dinkes]
    assert build_report(store, Policy.default(), until=date(2026, 4, 7)) == [pupr]
    store.close()


def test_empty_store_gives_no_rows(empty_url: str) -> None:
    store = new_store(empty_url)
    assert build_report(store, Policy.default()) == []
    store.close()


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
    whole = new_store(f"sqlite:///{tmp_path / 'whole.db'}")
    apply(whole, commands, now=now)
    # The same records in two batches: the engine caught up on 06-30, then the rest.
    split = new_store(f"sqlite:///{tmp_path / 'split.db'}")
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
        # follow_up 1-3, resolution 1-3; returned after three months, but returned.
        row("DINKES", received=1, returned=1, escalations=6),
        # PUPR holds the breached complaint now.
        row("PUPR", received=1, follow_up_rate=0.0, open_breaches=1),
    ]
    assert build_report(whole, policy) == expected
    assert build_report(split, policy) == expected
