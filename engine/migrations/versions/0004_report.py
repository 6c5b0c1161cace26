"""The report's per-complaint probes get their own index on events.

Revision ID: 0004_report
Revises: 0003_outbox
"""

from __future__ import annotations

from alembic import op

revision = "0004_report"
down_revision = "0003_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_complaint_type", "events", ["complaint_id", "type", "skpd", "seq"])


def downgrade() -> None:
    op.drop_index("ix_events_complaint_type", table_name="events")
