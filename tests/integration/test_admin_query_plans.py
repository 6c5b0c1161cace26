"""The admin's queries are served by indexes on PostgreSQL (EXPLAIN of what the code sends).

Two years of synthetic history (events only, as the queries read them), ANALYZEd; then
each query of intake, liaisons and the region-filtered listing is captured as the code
sends it and explained. A one-month period must reach ``events`` through the
``(type, occurred_at)`` index, never by reading the whole table: the cost grows with
the period, not with the history.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, text

from engine.intake import build_intake
from engine.liaisons import build_liaisons
from engine.listing import list_complaints
from engine.schema import complaints_table, events_table
from engine.store import Store
from workflows.policy import Policy

POLICY = Policy.model_validate({"targets": {"HSU": {"complaints_per_month": 100}}})
MONTH = {"since": date(2025, 6, 1), "until": date(2025, 6, 30)}


def _row(cid: str, seq: int, kind: str, at: datetime, skpd: str | None, actor: str) -> Any:
    body = {"type": kind, "actor": {"role": "skpd" if seq == 3 else "admin", "id": actor}}
    body["payload"] = {"channel": "web"}
    return {
        "event_id": f"e-{cid}-{seq}",
        "complaint_id": cid,
        "seq": seq,
        "type": kind,
        "occurred_at": at,
        "recorded_at": at,
        "region": "HSU",
        "skpd": skpd,
        "causation_id": "plan-test",
        "body": json.dumps(body),
    }


@pytest.fixture(scope="module")
def store(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    import uuid

    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    server = make_url(postgres_url)
    conninfo = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"t_plans_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    s = Store(server.set(database=name).render_as_string(hide_password=False))
    try:
        s.migrate()
        rng = random.Random(3)
        events, complaints = [], []
        start = datetime(2024, 7, 1, 1, tzinfo=UTC)
        for n in range(8000):
            at = start + timedelta(minutes=131 * n)  # about two years
            cid = f"HSU-P-{n:06d}"
            skpd = f"SKPD{rng.randrange(20):02d}"
            events += [
                _row(cid, 1, "complaint.submitted", at, None, "w"),
                _row(cid, 2, "complaint.dispatched", at + timedelta(hours=2), skpd, "a"),
                _row(cid, 3, "complaint.followed_up", at + timedelta(days=1), skpd, f"o{n % 3}"),
            ]
            complaints.append(
                {
                    "complaint_id": cid,
                    "workflow": "complaint",
                    "workflow_version": 1,
                    "state": "followed_up",
                    "seq": 3,
                    "region": "HSU" if n % 4 else "BJM",
                    "skpd": skpd,
                    "category": "jalan",
                    "partition": 0,
                    "escalation_level": 0,
                    "created_at": at,
                    "updated_at": at,
                    "data": "{}",
                }
            )
        with s.engine.begin() as conn:
            conn.execute(insert(events_table), events)
            conn.execute(insert(complaints_table), complaints)
            conn.execute(text("ANALYZE"))
        yield s
    finally:
        s.close()
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def plans(store: Store, run: Callable[[], object]) -> list[dict[str, Any]]:
    """EXPLAIN (FORMAT JSON) of every statement ``run`` sends."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    out = []
    with store.engine.connect() as conn:
        for statement, params in seen:
            (plan,) = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, params).one()
            out.append(plan[0]["Plan"])
    assert out, "no statement captured"
    return out


def _bitmap_index(node: dict[str, Any]) -> str | None:
    for child in node.get("Plans", []):
        if child["Node Type"] == "Bitmap Index Scan":
            name: str = child["Index Name"]
            return name
        found = _bitmap_index(child)  # under a BitmapAnd / BitmapOr
        if found:
            return found
    return None


def scans(node: dict[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    """(node type, relation, index) of every table scan in a plan tree."""
    if "Relation Name" in node:
        index = node.get("Index Name")
        if node["Node Type"] == "Bitmap Heap Scan":
            index = _bitmap_index(node)
        yield node["Node Type"], node["Relation Name"], index
    for child in node.get("Plans", []):
        yield from scans(child)


def event_scans(store: Store, run: Callable[[], object]) -> list[tuple[str, str, str | None]]:
    found = [s for plan in plans(store, run) for s in scans(plan) if s[1] == "events"]
    assert found, "the queries do not read events at all?"
    return found


@pytest.mark.parametrize("build", [build_intake, build_liaisons], ids=["intake", "liaisons"])
def test_a_month_reaches_events_by_the_period_index(
    store: Store, build: Callable[..., object]
) -> None:
    found = event_scans(store, lambda: build(store, POLICY, **MONTH))
    assert all(index == "ix_events_type_occurred" for _, _, index in found), found
    assert not any(kind == "Seq Scan" for kind, _, _ in found), found
    # The same with a region filter.
    found = event_scans(store, lambda: build(store, POLICY, region="HSU", **MONTH))
    assert all(index == "ix_events_type_occurred" for _, _, index in found), found


def test_listing_pages_by_an_index(store: Store) -> None:
    for filters in ({}, {"region": "BJM"}, {"state": "followed_up", "skpd": "SKPD03"}):
        found = [
            s
            for plan in plans(store, lambda f=filters: list_complaints(store, limit=50, **f))
            for s in scans(plan)
            if s[1] == "complaints"
        ]
        assert found and all(kind != "Seq Scan" for kind, _, _ in found), (filters, found)
