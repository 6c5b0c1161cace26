"""Smoke test against the real local PostgreSQL (SQLAlchemy 2 + psycopg 3)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

pytestmark = pytest.mark.postgres

WIB = timezone(timedelta(hours=7))


def test_round_trip_timestamptz_and_jsonb(pg_database_url: str) -> None:
    metadata = sa.MetaData()
    complaints = sa.Table(
        "smoke_complaint",
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", JSONB, nullable=False),
    )
    received_at = datetime(2026, 3, 17, 9, 30, 15, 123456, tzinfo=WIB)
    payload: dict[str, Any] = {
        "skpd": "Dinas Pekerjaan Umum",
        "region": "Kota Bandung",
        "tags": ["jalan", "rusak", "banjir"],
        "escalation_level": 2,
        "ratio": 0.5,
        "anonymous": False,
        "attachments": None,
        "text": "Jalan berlubang di depan pasar \u2014 mohon segera diperbaiki \u2714",
        "nested": {"clocks": {"follow_up": {"paused": True, "deadline": "2026-03-24"}}},
    }

    engine = sa.create_engine(pg_database_url)
    try:
        with engine.begin() as conn:
            metadata.create_all(conn)
            conn.execute(
                complaints.insert(),
                {"id": 1, "title": "Jalan rusak", "received_at": received_at, "payload": payload},
            )
        with engine.connect() as conn:
            conn.execute(sa.text("SET TIME ZONE 'Asia/Jakarta'"))
            row = conn.execute(sa.select(complaints).where(complaints.c.id == 1)).one()
            database = conn.execute(sa.text("SELECT current_database()")).scalar_one()
            stored_utc = conn.execute(
                sa.text("SELECT received_at AT TIME ZONE 'UTC' FROM smoke_complaint")
            ).scalar_one()
            by_json = conn.execute(
                sa.select(complaints.c.id).where(
                    complaints.c.payload["nested"]["clocks"]["follow_up"]["paused"].as_boolean()
                )
            ).scalar_one()
    finally:
        engine.dispose()

    assert database == pg_database_url.rsplit("/", 1)[1]
    assert row.id == 1
    assert row.title == "Jalan rusak"
    assert row.received_at == received_at  # same instant
    assert row.received_at.utcoffset() == timedelta(hours=7)  # session zone Asia/Jakarta
    assert row.received_at.replace(tzinfo=None) == datetime(2026, 3, 17, 9, 30, 15, 123456)
    assert stored_utc == datetime(2026, 3, 17, 2, 30, 15, 123456)
    assert row.payload == payload
    assert by_json == 1
