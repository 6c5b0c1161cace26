"""Intake against target (CONTRACT §9), on SQLite and PostgreSQL, hand-computed.

See tests/engine/admin_history.py for the history and why each instant was chosen.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from engine.intake import IntakeRow, build_intake
from engine.store import Store
from tests.engine.admin_history import (
    POLICY,
    history_store,  # noqa: F401  (the store fixture)
)
from workflows.policy import Policy


def test_months_are_local_per_region_zone_and_targets_fill_empty_months(store: Store) -> None:
    rows = build_intake(store, POLICY, since=date(2026, 3, 1), until=date(2026, 5, 31))
    assert rows == [
        # 04-30 23:30 WIB: April in Jakarta (it would be May in WITA).
        IntakeRow("ACEH", "2026-04", 1, None, False, {"web": 1}),
        # BJM received nothing: every month of the period still shows, against 2.
        IntakeRow("BJM", "2026-03", 0, 2, False),
        IntakeRow("BJM", "2026-04", 0, 2, False),
        IntakeRow("BJM", "2026-05", 0, 2, False),
        # 03-31 23:30 WITA is March; 04-01 00:30 WITA (March in UTC) is April.
        IntakeRow("HSU", "2026-03", 1, 3, False, {"web": 1}),
        IntakeRow("HSU", "2026-04", 3, 3, False, {"sms": 1, "web": 2}),
        IntakeRow("HSU", "2026-05", 1, 3, False, {"web": 1}),
    ]
    assert rows[0].as_dict() == {
        "region": "ACEH",
        "month": "2026-04",
        "received": 1,
        "target": None,
        "partial": False,
        "by_channel": {"web": 1},
    }


def test_period_edges_are_local_dates(store: Store) -> None:
    # Only the first half of April: HSU-2 (04-01 00:30 WITA), HSU-3 and HSU-4.
    assert build_intake(
        store, POLICY, region="HSU", since=date(2026, 4, 1), until=date(2026, 4, 15)
    ) == [IntakeRow("HSU", "2026-04", 3, 3, True, {"sms": 1, "web": 2})]
    # until 03-31 local: HSU-1 only, though HSU-2 is also 03-31 in UTC.
    assert build_intake(store, POLICY, region="HSU", until=date(2026, 3, 31)) == [
        IntakeRow("HSU", "2026-03", 1, 3, True, {"web": 1})
    ]
    # The same ACEH submission read in WITA (a policy without ACEH's zone) is May.
    assert (
        build_intake(
            store, Policy.default(), region="ACEH", since=date(2026, 4, 1), until=date(2026, 4, 30)
        )
        == []
    )
    assert build_intake(store, Policy.default(), region="ACEH", since=date(2026, 5, 1)) == [
        IntakeRow("ACEH", "2026-05", 1, None, True, {"web": 1})
    ]


def test_open_period_runs_from_first_to_last_submission_of_each_zone(store: Store) -> None:
    rows = build_intake(store, POLICY)
    assert rows == [
        IntakeRow("ACEH", "2026-04", 1, None, True, {"web": 1}),  # 04-30 only
        IntakeRow("BJM", "2026-03", 0, 2, True),  # the default zone: 03-31 .. 05-02
        IntakeRow("BJM", "2026-04", 0, 2, False),
        IntakeRow("BJM", "2026-05", 0, 2, True),
        IntakeRow("HSU", "2026-03", 1, 3, True, {"web": 1}),
        IntakeRow("HSU", "2026-04", 3, 3, False, {"sms": 1, "web": 2}),
        IntakeRow("HSU", "2026-05", 1, 3, True, {"web": 1}),
    ]
    assert build_intake(store, POLICY, region="KALTENG") == []


def test_empty_store(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'empty.db'}")
    store.migrate()
    assert build_intake(store, POLICY) == []
    # A bounded period shows the target regions' empty months.
    assert build_intake(store, POLICY, since=date(2026, 4, 1), until=date(2026, 4, 30)) == [
        IntakeRow("BJM", "2026-04", 0, 2, False),
        IntakeRow("HSU", "2026-04", 0, 3, False),
    ]
