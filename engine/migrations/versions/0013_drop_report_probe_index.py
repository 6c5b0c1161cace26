"""Drop the report's per-complaint probe index: receipts and settlements replaced the probes.

Every event written paid for ``ix_events_complaint_type``; since 0011 and 0012 no query
reads it (their backfills, which did, run before this revision).

Revision ID: 0013_drop_report_probe_index
Revises: 0012_settlements
"""

from __future__ import annotations

from alembic import op

revision = "0013_drop_report_probe_index"
down_revision = "0012_settlements"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_events_complaint_type", table_name="events")


def downgrade() -> None:
    op.create_index("ix_events_complaint_type", "events", ["complaint_id", "type", "skpd", "seq"])
