"""Complaint counts per (partition, state, skpd), for gauges without a full scan.

Revision ID: 0009_perf
Revises: 0008_labels
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_perf"
down_revision = "0008_labels"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "complaint_counts",
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("state", sa.String(32), primary_key=True),
        sa.Column("skpd", sa.String(64), primary_key=True),
        sa.Column("n", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
    )
    # The complaints stored so far, counted once; Store.write keeps the counts from here.
    op.execute(
        "INSERT INTO complaint_counts (partition, state, skpd, n) "
        "SELECT partition, state, COALESCE(skpd, ''), COUNT(*) FROM complaints "
        "GROUP BY partition, state, COALESCE(skpd, '')"
    )


def downgrade() -> None:
    op.drop_table("complaint_counts")
