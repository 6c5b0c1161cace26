"""Complaint counts per (partition, state, skpd), for gauges without a full scan; the
policy each clock row was last computed under, so a restart under an unchanged policy
does not re-read every running clock.

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
    # NULL for the rows stored so far: the next start checks each of them once.
    op.add_column("sla_clocks", sa.Column("policy", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("sla_clocks") as batch:
        batch.drop_column("policy")
    op.drop_table("complaint_counts")
