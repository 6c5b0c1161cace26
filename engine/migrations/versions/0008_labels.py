"""Metric label values admitted by the label guard (CONTRACT §5), kept across restarts.

Revision ID: 0008_labels
Revises: 0007_admin
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.schema import UTCDateTime

revision = "0008_labels"
down_revision = "0007_admin"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "label_values",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("admitted_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("label", "value", name="uq_label_values_label_value"),
    )


def downgrade() -> None:
    op.drop_table("label_values")
