"""The LAPOR! feed's tables, on SQLite and PostgreSQL (same contract on both)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.feed_store import FeedStore, SeenReport
from engine.store import Store

BACKENDS = ["sqlite", pytest.param("postgresql", marks=[pytest.mark.integration])]
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def feed_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FeedStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'feed.db'}"
    else:
        url = str(request.getfixturevalue("pg_database_url"))
    store = Store(url)
    store.migrate()
    yield FeedStore(store)
    store.close()


def test_cursor_and_statuses_are_saved_together(feed_store: FeedStore) -> None:
    assert feed_store.cursor() is None and feed_store.last_poll() is None
    seen = [SeenReport("HSU-1", "Belum Terverifikasi", T0), SeenReport("HSU-2", "Arsip", T0)]
    feed_store.save(seen, cursor="c1", move_cursor=True, now=T0)
    assert feed_store.cursor() == "c1"
    assert feed_store.last_poll() == T0
    assert feed_store.seen(["HSU-1", "HSU-2", "HSU-3"]) == {s.tracking_id: s for s in seen}
    later = T0 + timedelta(hours=1)
    feed_store.save([SeenReport("HSU-1", "Terverifikasi", later)], cursor=None, move_cursor=False)
    assert feed_store.cursor() == "c1"  # a webhook delivery never moves the cursor
    assert feed_store.seen(["HSU-1"])["HSU-1"].status == "Terverifikasi"
    assert feed_store.known(["HSU-1", "HSU-9"]) == {"HSU-1"}


def test_deliveries_are_remembered_once(feed_store: FeedStore) -> None:
    assert not feed_store.delivery_seen("d-1")
    feed_store.save([], cursor=None, move_cursor=False, delivery_id="d-1")
    feed_store.save([], cursor=None, move_cursor=False, delivery_id="d-1")
    assert feed_store.delivery_seen("d-1")


def test_pushes_record_outcomes_attempts_and_show_in_status(feed_store: FeedStore) -> None:
    common = {"complaint_id": "HSU-2026-000001", "body": "{}", "last_error": None}
    feed_store.record_push(event_id="e-1", push_type="dispatch", outcome="pushed",
                           attempts=1, **common)  # fmt: skip
    feed_store.record_push(event_id="e-2", push_type="follow_up", outcome="failed",
                           attempts=6, **{**common, "last_error": "500"})  # fmt: skip
    assert feed_store.push_outcomes(["e-1", "e-2", "e-3"]) == {"e-1": "pushed", "e-2": "failed"}
    assert [p.event_id for p in feed_store.failed_pushes()] == ["e-2"]
    assert feed_store.failed_pushes(max_attempts=6) == []
    feed_store.record_push(event_id="e-2", push_type="follow_up", outcome="pushed",
                           attempts=1, **common)  # fmt: skip
    (e2,) = [p for p in feed_store.pushes_for("HSU-2026-000001") if p.event_id == "e-2"]
    assert (e2.outcome, e2.attempts, e2.last_error) == ("pushed", 7, None)
    assert feed_store.push_counts() == {"pushed": 2}
    assert feed_store.pushed_types(["HSU-2026-000001"]) == {
        ("HSU-2026-000001", "dispatch"),
        ("HSU-2026-000001", "follow_up"),
    }
