"""The report's SQL (``engine.report_query``) over hand-computed histories, on SQLite and
PostgreSQL, and the period's UTC windows.

The settlement history (SKPD PUPR, region HSU, WITA; the engine's clock at ``NOW``,
Thu 2026-04-30 noon) gives every definition of CONTRACT §6 a case of its own:

====  =================================================================================
S1    dispatched Mon 04-06, answered Tue 04-07, resolved by the complainant Wed 04-08
      07:00 WITA (04-07 in UTC)
S2    as S1, then reopened Thu 04-09, answered Fri 04-10, resolved again Mon 04-13:
      settled once, on 04-13
S3    dispatched 04-06, answered 04-07, then silence: the auto-close clock (10 working
      days after 04-07) resolves it as the system on Tue 04-21 23:59:59 WITA
S4    as S1, then reopened Thu 04-09 and never answered again: not settled; its new
      follow-up clock breaches Thu 04-16 and escalates (levels 1, 2, 3: 04-16, 04-20,
      04-23), and is still breached at NOW
S5    an earlier complaint: dispatched Mon 03-30, answered Wed 04-01, resolved by the
      admin Wed 04-08: settled in April though received in March
S6    dispatched 04-06, returned (bukan wewenang) Tue 04-07, sent back to PUPR Wed 04-08
      and answered Thu 04-09: followed up (3 working days from the first dispatch),
      not returned; auto-closed 10 working days later, Thu 04-23 23:59:59 WITA
S7    dispatched 04-06, returned 04-07 and never sent back: returned
====  =================================================================================
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect, text

from engine.report_query import (
    FollowUpSpan,
    ReportFacts,
    SkpdCounts,
    Window,
    fetch_report_facts,
    period_windows,
    report_queries,
)
from engine.store import Store
from tests.engine.test_report import WITA, Cmd, apply, at, dispatched, follow_up
from workflows.policy import Policy

NOW = datetime(2026, 4, 30, 12, 0, tzinfo=WITA)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=[pytest.mark.integration])]


def resolve(cid: str, day: int, role: str = "complainant") -> Cmd:
    return Cmd(at(day, 7), "resolve", cid, role, {"note": "Terima kasih"})


def reopen(cid: str, day: int) -> Cmd:
    return Cmd(at(day, 9), "reopen", cid, "complainant", {"reason": "Belum selesai"})


def give_back(cid: str, day: int) -> Cmd:
    return Cmd(at(day, 9), "return", cid, "skpd", {"reason": "Bukan wewenang PUPR"})


def settlement_history() -> list[Cmd]:
    """The history of the module docstring."""
    return [
        *dispatched("HSU-S1", "PUPR"),
        follow_up("HSU-S1", 7),
        resolve("HSU-S1", 8),
        *dispatched("HSU-S2", "PUPR"),
        follow_up("HSU-S2", 7),
        resolve("HSU-S2", 8),
        reopen("HSU-S2", 9),
        follow_up("HSU-S2", 10),
        resolve("HSU-S2", 13),
        *dispatched("HSU-S3", "PUPR"),
        follow_up("HSU-S3", 7),
        *dispatched("HSU-S4", "PUPR"),
        follow_up("HSU-S4", 7),
        resolve("HSU-S4", 8),
        reopen("HSU-S4", 9),
        Cmd(
            datetime(2026, 3, 30, 7, tzinfo=WITA),
            "submit",
            "HSU-S5",
            "complainant",
            {
                "title": "Lampu jalan mati",
                "body": "Sudah seminggu",
                "category": "infrastruktur",
                "classification": "pengaduan",
                "channel": "web",
                "region": "HSU",
            },
        ),
        Cmd(datetime(2026, 3, 30, 7, 15, tzinfo=WITA), "verify", "HSU-S5", "admin", {}),
        Cmd(
            datetime(2026, 3, 30, 7, 30, tzinfo=WITA),
            "dispatch",
            "HSU-S5",
            "admin",
            {"skpd": "PUPR"},
        ),
        Cmd(at(1, 10), "follow_up", "HSU-S5", "skpd", {"note": "Sudah diperbaiki"}),
        resolve("HSU-S5", 8, role="admin"),
        *dispatched("HSU-S6", "PUPR"),
        give_back("HSU-S6", 7),
        Cmd(at(8, 8), "dispatch", "HSU-S6", "admin", {"skpd": "PUPR"}),
        follow_up("HSU-S6", 9),
        *dispatched("HSU-S7", "PUPR"),
        give_back("HSU-S7", 7),
    ]


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'query.db'}"
    return str(request.getfixturevalue("pg_database_url"))


@pytest.fixture
def store(empty_url: str) -> Iterator[Store]:
    s = Store(empty_url)
    s.migrate()
    apply(s, settlement_history(), now=NOW)
    yield s
    s.close()


def facts(
    store: Store,
    since: date | None = None,
    until: date | None = None,
    *,
    region: str | None = None,
    policy: Policy | None = None,
) -> ReportFacts:
    windows = period_windows(policy or Policy.default(), region=region, since=since, until=until)
    with store.connect("test") as conn:
        got = fetch_report_facts(conn, windows, region=region)
    # The spans come in no particular order.
    return ReportFacts(counts=got.counts, spans=tuple(sorted(got.spans)))


def april(day: int) -> date:
    return date(2026, 4, day)


def test_history_is_what_the_expected_values_assume(store: Store) -> None:
    def resolutions(cid: str) -> list[tuple[datetime, str, str]]:
        return [
            (e.occurred_at, e.actor.role, e.actor.id)
            for e in store.history(cid)
            if e.type == "complaint.resolved"
        ]

    auto_close = ("system", "auto_close")
    assert resolutions("HSU-S3") == [(datetime(2026, 4, 21, 23, 59, 59, tzinfo=WITA), *auto_close)]
    assert resolutions("HSU-S6") == [(datetime(2026, 4, 23, 23, 59, 59, tzinfo=WITA), *auto_close)]
    assert [r[0] for r in resolutions("HSU-S2")] == [at(8, 7), at(13, 7)]
    assert [r[0] for r in resolutions("HSU-S4")] == [at(8, 7)]
    escalated = [e.occurred_at for e in store.history("HSU-S4") if e.type == "complaint.escalated"]
    end = datetime(2026, 4, 16, 23, 59, 59, tzinfo=WITA)
    assert escalated == [end, end + timedelta(days=4), end + timedelta(days=7)]
    states = {}
    for n in range(1, 8):
        complaint = store.complaint(f"HSU-S{n}")
        assert complaint is not None
        states[n] = complaint.state
    assert states == {
        1: "resolved",
        2: "resolved",
        3: "resolved",
        4: "dispatched",
        5: "resolved",
        6: "resolved",
        7: "verified",
    }


def test_april(store: Store) -> None:
    got = facts(store, april(1), april(30))
    assert got.counts == (
        SkpdCounts(
            "PUPR",
            received=6,  # S1-S4, S6, S7 (S5 was received in March)
            followed_up=5,  # S1-S4, S6
            returned=1,  # S7; S6 was answered after its return
            escalations=3,  # S4's follow-up clock after the reopen
            # S1, S2 (once), S3, S5 (received earlier), S6; not S4 (reopened since).
            settled=5,
            auto_closed=2,  # S3, S6
            open_breaches=1,  # S4
        ),
    )
    first = datetime(2026, 4, 6, 7, 30, tzinfo=WITA)
    answered_7 = FollowUpSpan("PUPR", "HSU", first, at(7, 10))
    # S1-S4 (S2's and S4's first answer); S6 from its first dispatch.
    assert got.spans == (*[answered_7] * 4, FollowUpSpan("PUPR", "HSU", first, at(9, 10)))
    assert all(s.dispatched_at.utcoffset() == timedelta(0) for s in got.spans)


def test_settled_counts_complaints_resolved_in_the_period_received_or_not(store: Store) -> None:
    # Nothing is received from 04-08 on (S6's second dispatch is not its first), yet five
    # complaints are settled: settled <= received in the period + earlier complaints.
    got = facts(store, april(8), april(30))
    assert got.counts == (
        SkpdCounts("PUPR", escalations=3, settled=5, auto_closed=2, open_breaches=1),
    )
    assert got.spans == ()
    # 04-08 local: S1 and S5 (07:00 WITA, 04-07 in UTC); S2's latest resolution is 04-13.
    assert facts(store, april(8), april(8)).counts == (
        SkpdCounts("PUPR", settled=2, open_breaches=1),
    )
    assert facts(store, april(7), april(7)).counts == (SkpdCounts("PUPR", open_breaches=1),)
    # Up to 04-13: S1, S2 (its latest resolution, 04-13) and S5; no auto-close yet.
    assert facts(store, until=april(13)).counts == (
        SkpdCounts("PUPR", received=7, followed_up=6, returned=1, settled=3, open_breaches=1),
    )
    assert facts(store, april(14), april(30)).counts == (
        SkpdCounts("PUPR", escalations=3, settled=2, auto_closed=2, open_breaches=1),
    )


def test_march_receives_the_earlier_complaint_answered_in_april(store: Store) -> None:
    got = facts(store, date(2026, 3, 1), date(2026, 3, 31))
    assert got.counts == (SkpdCounts("PUPR", received=1, followed_up=1, open_breaches=1),)
    assert got.spans == (
        FollowUpSpan("PUPR", "HSU", datetime(2026, 3, 30, 7, 30, tzinfo=WITA), at(1, 10)),
    )


def test_a_region_filter_applies_to_events_and_open_breaches(store: Store) -> None:
    assert facts(store, april(1), april(30), region="ACEH") == ReportFacts()
    assert facts(store, april(1), april(30), region="HSU") == facts(store, april(1), april(30))


def test_only_the_auto_close_timer_counts_as_auto_closed(empty_url: str) -> None:
    # A system actor that is not the auto-close timer (e.g. a sync from LAPOR!) settles,
    # but is not an auto-close.
    store = Store(empty_url)
    store.migrate()
    apply(
        store,
        [
            *dispatched("HSU-A1", "DLH"),
            follow_up("HSU-A1", 7),
            Cmd(at(8, 9), "resolve", "HSU-A1", "system", {"note": "Selesai di LAPOR!"}),
        ],
        now=at(8, 12),
    )
    (counts,) = facts(store).counts
    assert (counts.skpd, counts.settled, counts.auto_closed) == ("DLH", 1, 0)
    store.close()


# --- periods in several time zones ------------------------------------------------------

ACEH_WIB = Policy.model_validate({"regions": {"ACEH": {"timezone": "Asia/Jakarta"}}})


def test_period_windows_per_time_zone() -> None:
    wita, wib = ZoneInfo("Asia/Makassar"), ZoneInfo("Asia/Jakarta")
    since, until = april(6), april(7)
    assert period_windows(ACEH_WIB, region="ACEH", since=since, until=until) == (
        Window(
            ("ACEH",),
            (),
            datetime(2026, 4, 6, tzinfo=wib),
            datetime(2026, 4, 8, tzinfo=wib),
        ),
    )
    assert period_windows(ACEH_WIB, since=since) == (
        Window(("ACEH",), (), datetime(2026, 4, 6, tzinfo=wib), None),
        # Every other region, listed or not, in the default zone (WITA).
        Window(None, ("ACEH",), datetime(2026, 4, 6, tzinfo=wita), None),
    )
    assert period_windows(Policy.default()) == (Window(None, (), None, None),)
    assert period_windows(ACEH_WIB) == (Window(None, (), None, None),)  # no dates: no zones
    # A region listed with the default zone shares the default window.
    same = Policy.model_validate({"regions": {"HSU": {"timezone": "Asia/Makassar"}}})
    assert period_windows(same, until=until) == (
        Window(None, (), None, datetime(2026, 4, 8, tzinfo=wita)),
    )
    assert datetime(2026, 4, 6, tzinfo=wita).astimezone(UTC) == datetime(2026, 4, 5, 16, tzinfo=UTC)


def test_each_region_is_cut_at_its_own_midnight(empty_url: str) -> None:
    # One instant, 2026-04-06 00:30 WITA = 04-05 23:30 WIB: 04-06 in HSU, 04-05 in ACEH.
    def dispatch_at_half_past_midnight(cid: str, region: str) -> list[Cmd]:
        return [
            Cmd(
                datetime(2026, 4, 6, 0, 10, tzinfo=WITA),
                "submit",
                cid,
                "complainant",
                {
                    "title": "Air keruh",
                    "body": "PDAM",
                    "category": "kesehatan",
                    "classification": "pengaduan",
                    "channel": "web",
                    "region": region,
                },
            ),
            Cmd(datetime(2026, 4, 6, 0, 20, tzinfo=WITA), "verify", cid, "admin", {}),
            Cmd(
                datetime(2026, 4, 6, 0, 30, tzinfo=WITA),
                "dispatch",
                cid,
                "admin",
                {"skpd": "DINKES"},
            ),
        ]

    store = Store(empty_url)
    store.migrate()
    apply(
        store,
        [
            *dispatch_at_half_past_midnight("HSU-M1", "HSU"),
            *dispatch_at_half_past_midnight("ACEH-M1", "ACEH"),
        ],
        now=at(6, 12),
        policy=ACEH_WIB,
    )

    def received(since: date | None, until: date | None, region: str | None = None) -> int:
        got = facts(store, since, until, region=region, policy=ACEH_WIB)
        return sum(c.received for c in got.counts)

    assert received(april(6), None) == 1  # HSU's
    assert received(None, april(5)) == 1  # ACEH's
    assert received(april(5), april(6)) == 2
    assert received(april(6), None, region="ACEH") == 0
    assert received(None, april(5), region="HSU") == 0
    assert received(april(6), april(6), region="HSU") == 1
    # Under one zone for both (the default policy), both fall on 04-06.
    assert sum(c.received for c in facts(store, april(6), april(6)).counts) == 2
    store.close()


# --- query plans ---------------------------------------------------------------------


#: The only index a report query may read events through: the period range.
EVENT_INDEXES = ("ix_events_type_occurred",)
#: The index each query reaches its period's rows through, and the column it bounds.
PERIOD_INDEXES = {
    "received": ("ix_skpd_receipts_dispatched", "dispatched_at"),
    "escalations": ("ix_events_type_occurred", "occurred_at"),
    "settled": ("ix_settlements_resolved", "resolved_at"),
}


@pytest.mark.integration
def test_every_period_query_reaches_its_rows_through_the_period_index(
    pg_database_url: str,
) -> None:
    """On PostgreSQL, each query finds the period's rows by an index on their instant.

    Sequential scans are disabled, so the plan shows the index path the planner has for
    each table access; on a table this small it would otherwise scan. The received
    complaints are the receipts, bounded on ``dispatched_at``, the settled ones the
    settlements, bounded on ``resolved_at``; every access to ``events`` must be the
    period range on ``ix_events_type_occurred``: nothing reads the whole history.
    """
    store = Store(pg_database_url)
    store.migrate()
    apply(store, settlement_history(), now=NOW)
    windows = period_windows(ACEH_WIB, since=april(1), until=april(30))
    with store.connect("explain") as conn:
        conn.execute(text("SET enable_seqscan = off"))
        queries = report_queries(windows)
        for name, (index, column) in PERIOD_INDEXES.items():
            sql = getattr(queries, name).compile(conn, compile_kwargs={"literal_binds": True})
            plan = "\n".join(conn.execute(text(f"EXPLAIN {sql}")).scalars())
            assert "Seq Scan" not in plan, (name, plan)
            assert any(index in line for line in plan.splitlines()), (name, plan)
            conds = [
                line
                for line in plan.splitlines()
                if "Index Cond" in line and f"{column} >=" in line and f"{column} <" in line
            ]
            assert conds, (name, plan)
            for line in plan.splitlines():
                if " on events " in line:
                    assert any(index in line for index in EVENT_INDEXES), (name, plan)
    store.close()


def test_the_schema_has_the_report_indexes_and_no_probe_index(empty_url: str) -> None:
    """The period indexes exist on both backends; the per-complaint probe index, which
    every event paid for, is gone (0013) since receipts and settlements replaced it."""
    store = Store(empty_url)
    store.migrate()

    def indexes(table: str) -> dict[str, list[str | None]]:
        return {i["name"]: i["column_names"] for i in inspect(store.engine).get_indexes(table)}

    assert "ix_events_complaint_type" not in indexes("events")
    assert indexes("events")["ix_events_type_occurred"] == ["type", "occurred_at"]
    assert indexes("skpd_receipts")["ix_skpd_receipts_dispatched"] == ["dispatched_at"]
    assert indexes("settlements")["ix_settlements_resolved"] == ["resolved_at"]
    store.close()
