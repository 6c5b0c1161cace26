"""Tables of the LAPOR! feed: cursor, last status per tracking ID, deliveries, pushes.

Revision ID: 0005_lapor_feed
Revises: 0004_report
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.schema import UTCDateTime

revision = "0005_lapor_feed"
down_revision = "0004_report"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lapor_feed_cursor",
        sa.Column("feed", sa.String(64), primary_key=True),
        sa.Column("cursor", sa.Text()),
        sa.Column("polled_at", UTCDateTime()),
    )
    op.create_table(
        "lapor_reports",
        sa.Column("tracking_id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("upstream_updated_at", UTCDateTime(), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "lapor_deliveries",
        sa.Column("delivery_id", sa.String(128), primary_key=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "lapor_pushes",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("complaint_id", sa.String(64), nullable=False),
        sa.Column("push_type", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_lapor_pushes_complaint", "lapor_pushes", ["complaint_id"])
    op.create_index("ix_lapor_pushes_outcome", "lapor_pushes", ["outcome", "updated_at"])


def downgrade() -> None:
    op.drop_table("lapor_pushes")
    op.drop_table("lapor_deliveries")
    op.drop_table("lapor_reports")
    op.drop_table("lapor_feed_cursor")
