"""The paged complaint listing (CONTRACT §9), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import QueryError
from engine.listing import MAX_PAGE, list_complaints
from engine.store import Store
from tests.engine.admin_history import (
    history_store,  # noqa: F401  (the store fixture)
)


def ids(store: Store, **filters: Any) -> list[str]:
    return [c.complaint_id for c in list_complaints(store, limit=MAX_PAGE, **filters).items]


def test_pages_follow_the_cursor_to_the_end(store: Store) -> None:
    seen, cursor, pages = [], None, 0
    while True:
        page = list_complaints(store, limit=2, cursor=cursor)
        seen += [c.complaint_id for c in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3
    assert seen == ["ACEH-1", "HSU-1", "HSU-2", "HSU-3", "HSU-4", "HSU-5"]
    last = list_complaints(store, limit=6)
    assert last.next_cursor is None and len(last.items) == 6


def test_filters(store: Store) -> None:
    # HSU-4 was never verified: its verification clock (3 working days) is breached.
    assert ids(store, breached=True) == ["HSU-4"]
    # Auto-closed 10 working days after their last answer.
    assert ids(store, state="resolved") == ["HSU-1", "HSU-2", "HSU-3"]
    assert ids(store, skpd="DINKES") == ["ACEH-1", "HSU-1", "HSU-2"]
    assert ids(store, region="ACEH") == ["ACEH-1"]
    assert ids(store, region="HSU", breached=False) == ["HSU-1", "HSU-2", "HSU-3", "HSU-5"]
    assert ids(store, state="submitted", region="HSU") == ["HSU-4", "HSU-5"]
    assert ids(store, region="KALTENG") == []
    item = list_complaints(store, limit=1, cursor=None, breached=True).items[0]
    data = item.as_dict()
    assert (data["state"], data["skpd"], data["breached"], data["escalation_level"]) == (
        "submitted",
        None,
        True,
        3,
    )


def test_bad_cursor_and_limit_are_query_errors(store: Store) -> None:
    with pytest.raises(QueryError, match="cursor"):
        list_complaints(store, cursor="not-a-cursor!")
    with pytest.raises(QueryError, match="cursor"):
        list_complaints(store, cursor="aGVsbG8")  # base64 of "hello": not ours
    for limit in (0, MAX_PAGE + 1):
        with pytest.raises(QueryError, match="limit"):
            list_complaints(store, limit=limit)
