"""Liaison continuity (CONTRACT §9), on SQLite and PostgreSQL, hand-computed.

See tests/engine/admin_history.py for the answers and their order.
"""

from __future__ import annotations

from datetime import date

from engine.liaisons import LiaisonRow, build_liaisons
from engine.store import Store
from tests.engine.admin_history import (
    POLICY,
    history_store,  # noqa: F401  (the store fixture)
    wita,
)


def test_officers_changes_and_current_run(store: Store) -> None:
    rows = build_liaisons(store, POLICY)
    assert rows == [
        LiaisonRow("DINKES", ["dewi"], 0, "dewi", wita(5, 4, 15), "ACEH", 1),
        # ani, budi, ani, ani: two changes; ani's last run began 04-09 (on HSU-2).
        LiaisonRow("DINKES", ["ani", "budi"], 2, "ani", wita(4, 9, 10), "HSU", 4),
        LiaisonRow("PUPR", ["citra"], 0, "citra", wita(4, 8, 11), "HSU", 2),
    ]
    assert rows[1].as_dict() == {
        "skpd": "DINKES",
        "officers": ["ani", "budi"],
        "changes": 2,
        "current": "ani",
        "current_since": "2026-04-09T02:00:00+00:00",
        "region": "HSU",
        "answers": 4,
        "current_since_clipped": False,
    }


def test_period_and_region_filters(store: Store) -> None:
    assert build_liaisons(store, POLICY, region="HSU", since=date(2026, 4, 9)) == [
        # Both answered first thing in the period: their runs may be older (they are).
        LiaisonRow("DINKES", ["ani"], 0, "ani", wita(4, 9, 10), "HSU", 2, True),
        LiaisonRow("PUPR", ["citra"], 0, "citra", wita(4, 9, 11), "HSU", 1, True),
    ]
    assert build_liaisons(store, POLICY, region="HSU", until=date(2026, 4, 8)) == [
        LiaisonRow("DINKES", ["ani", "budi"], 1, "budi", wita(4, 8, 10), "HSU", 2),
        LiaisonRow("PUPR", ["citra"], 0, "citra", wita(4, 8, 11), "HSU", 1),
    ]
    # budi took over within the period: not clipped, though the period has a start.
    assert build_liaisons(
        store, POLICY, region="HSU", since=date(2026, 4, 7), until=date(2026, 4, 8)
    )[0] == LiaisonRow("DINKES", ["ani", "budi"], 1, "budi", wita(4, 8, 10), "HSU", 2, False)
    assert build_liaisons(store, POLICY, region="ACEH", until=date(2026, 5, 3)) == []
    assert build_liaisons(store, POLICY, since=date(2026, 5, 5)) == []
