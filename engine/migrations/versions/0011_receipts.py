"""SKPD receipts (engine/receipts): the report's per-SKPD facts, kept as rows.

Revision ID: 0011_receipts
Revises: 0010_perf
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.schema import UTCDateTime

revision = "0011_receipts"
down_revision = "0010_perf"
branch_labels = None
depends_on = None

#: The receipts of the history stored so far, as the report used to derive them: each
#: complaint's first dispatch to an SKPD, with that SKPD's first answer and first return
#: after it (by seq). Store.write keeps them from here.
_BACKFILL = """
INSERT INTO skpd_receipts
    (complaint_id, skpd, region, dispatch_seq, dispatched_at, answered_at, returned_at)
SELECT d.complaint_id, d.skpd, d.region, d.seq, d.occurred_at,
    (SELECT a.occurred_at FROM events a
      WHERE a.complaint_id = d.complaint_id AND a.type = 'complaint.followed_up'
        AND a.skpd = d.skpd AND a.seq > d.seq
      ORDER BY a.seq LIMIT 1),
    (SELECT r.occurred_at FROM events r
      WHERE r.complaint_id = d.complaint_id AND r.type = 'complaint.returned'
        AND r.skpd = d.skpd AND r.seq > d.seq
      ORDER BY r.seq LIMIT 1)
FROM events d
WHERE d.type = 'complaint.dispatched' AND d.skpd IS NOT NULL AND d.seq IS NOT NULL
  AND d.seq = (SELECT MIN(e.seq) FROM events e
                WHERE e.complaint_id = d.complaint_id AND e.type = 'complaint.dispatched'
                  AND e.skpd = d.skpd)
"""


def upgrade() -> None:
    op.create_table(
        "skpd_receipts",
        sa.Column("complaint_id", sa.String(64), primary_key=True),
        sa.Column("skpd", sa.String(64), primary_key=True),
        sa.Column("region", sa.String(64)),
        sa.Column("dispatch_seq", sa.Integer, nullable=False),
        sa.Column("dispatched_at", UTCDateTime(), nullable=False),
        sa.Column("answered_at", UTCDateTime()),
        sa.Column("returned_at", UTCDateTime()),
    )
    op.create_index("ix_skpd_receipts_dispatched", "skpd_receipts", ["dispatched_at"])
    op.execute(_BACKFILL)


def downgrade() -> None:
    op.drop_table("skpd_receipts")
