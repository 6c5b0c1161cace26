"""How the admin's queries scale: cost with the period, not with the stored history.

Fills a fresh PostgreSQL database (on the server of LAPORFLOW_TEST_DATABASE_URL) with
two years of synthetic history for one region: per working day ``--per-day`` complaints
submitted, dispatched to one of 30 SKPDs and answered by one of each SKPD's officers
(events only: the queries read events). Then times intake, liaisons and the SKPD
listing for a 1-month and a 24-month period, and shows PostgreSQL's plan for a month.

    PYTHONPATH=. python bench/admin_queries.py [--per-day 60]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import event, insert, text
from sqlalchemy.engine import make_url

from engine.intake import build_intake
from engine.liaisons import build_liaisons
from engine.listing import list_complaints
from engine.schema import events_table
from engine.store import Store
from workflows.policy import Policy

POLICY = Policy.model_validate({"targets": {"HSU": {"complaints_per_month": 1000}}})
START = date(2024, 7, 1)
DAYS = 730


def _event(
    cid: str,
    seq: int,
    kind: str,
    at: datetime,
    skpd: str | None,
    actor: dict[str, str],
    payload: dict[str, Any],
) -> dict[str, Any]:
    event_id = f"e-{uuid.uuid4().hex}"
    body = {
        "event_id": event_id,
        "type": kind,
        "complaint_id": cid,
        "seq": seq,
        "occurred_at": at.isoformat(),
        "actor": actor,
        "payload": payload,
    }
    return {
        "event_id": event_id,
        "complaint_id": cid,
        "seq": seq,
        "type": kind,
        "occurred_at": at,
        "recorded_at": at,
        "state": None,
        "previous_state": None,
        "region": "HSU",
        "skpd": skpd,
        "causation_id": "bench",
        "body": json.dumps(body),
    }


def fill(store: Store, per_day: int) -> int:
    rng = random.Random(7)
    rows: list[dict[str, Any]] = []
    total = 0
    n = 0
    for offset in range(DAYS):
        day = START + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        for _ in range(per_day):
            n += 1
            cid = f"HSU-B-{n:07d}"
            at = datetime(day.year, day.month, day.day, 1, 0, tzinfo=UTC) + timedelta(
                minutes=rng.randrange(480)
            )
            skpd = f"SKPD{rng.randrange(30):02d}"
            officer = f"penghubung-{skpd.lower()}-{rng.randrange(3)}"
            rows += [
                _event(
                    cid,
                    1,
                    "complaint.submitted",
                    at,
                    None,
                    {"role": "complainant", "id": "w"},
                    {"channel": rng.choice(["web", "sms", "whatsapp"])},
                ),
                _event(
                    cid,
                    2,
                    "complaint.dispatched",
                    at + timedelta(hours=2),
                    skpd,
                    {"role": "admin", "id": "a"},
                    {"skpd": skpd},
                ),
                _event(
                    cid,
                    3,
                    "complaint.followed_up",
                    at + timedelta(days=2),
                    skpd,
                    {"role": "skpd", "id": officer},
                    {"note": "ok"},
                ),
            ]
            if len(rows) >= 20_000:
                with store.engine.begin() as conn:
                    conn.execute(insert(events_table), rows)
                total += len(rows)
                rows = []
    if rows:
        with store.engine.begin() as conn:
            conn.execute(insert(events_table), rows)
        total += len(rows)
    with store.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return total


def timed(what: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        what()
        best = min(best, time.perf_counter() - start)
    return best


def captured(store: Store, run: Callable[[], object]) -> list[tuple[str, Any]]:
    """The SQL statements (with parameters) that ``run`` sends."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    return seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-day", type=int, default=60)
    args = parser.parse_args()
    server = make_url(os.environ["LAPORFLOW_TEST_DATABASE_URL"])
    conninfo = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        store = Store(server.set(database=name).render_as_string(hide_password=False))
        store.migrate()
        started = time.perf_counter()
        events = fill(store, args.per_day)
        print(
            f"{events} events ({events // 3} complaints, {DAYS} days) in "
            f"{time.perf_counter() - started:.1f} s"
        )
        month = {"since": date(2026, 6, 1), "until": date(2026, 6, 30)}
        whole = {"since": START, "until": START + timedelta(days=DAYS - 1)}
        for label, build in (("intake", build_intake), ("liaisons", build_liaisons)):
            one = timed(lambda b=build: b(store, POLICY, **month))
            all_ = timed(lambda b=build: b(store, POLICY, **whole))
            print(f"{label:9} 1 month {one * 1000:7.1f} ms   24 months {all_ * 1000:7.1f} ms")
        print(
            f"listing   page of 50 {timed(lambda: list_complaints(store, limit=50)) * 1000:.1f} ms"
        )
        # PostgreSQL's plans of the one-month queries, as the code sends them.
        for label, build in (("intake", build_intake), ("liaisons", build_liaisons)):
            for statement, params in captured(store, lambda b=build: b(store, POLICY, **month)):
                if "GROUP BY" not in statement:
                    continue
                with store.engine.connect() as conn:
                    plan = conn.exec_driver_sql("EXPLAIN ANALYZE " + statement, params).scalars()
                    print(f"plan ({label}):\n  " + "\n  ".join(plan))
                break
        store.close()
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


if __name__ == "__main__":
    main()
