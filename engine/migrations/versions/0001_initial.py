"""Initial schema: complaints, events, clocks, processed commands, progress, outbox.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "complaints",
        sa.Column("complaint_id", sa.String(64), primary_key=True),
        sa.Column("workflow", sa.String(64), nullable=False),
        sa.Column("workflow_version", sa.Integer, nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("skpd", sa.String(64)),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("escalation_level", sa.Integer, nullable=False),
        sa.Column("next_due_at", UTCDateTime()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("complainant", sa.Text),
    )
    op.create_index("ix_complaints_due", "complaints", ["partition", "next_due_at"])
    op.create_index("ix_complaints_state_skpd", "complaints", ["state", "skpd"])
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("complaint_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(32)),
        sa.Column("previous_state", sa.String(32)),
        sa.Column("region", sa.String(64)),
        sa.Column("skpd", sa.String(64)),
        sa.Column("causation_id", sa.String(160), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.UniqueConstraint("complaint_id", "seq", name="uq_events_complaint_seq"),
    )
    op.create_index("ix_events_type_occurred", "events", ["type", "occurred_at"])
    op.create_table(
        "sla_clocks",
        sa.Column("complaint_id", sa.String(64), primary_key=True),
        sa.Column("clock", sa.String(32), primary_key=True),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("skpd", sa.String(64)),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("deadline", UTCDateTime(), nullable=False),
        sa.Column("paused_at", UTCDateTime()),
        sa.Column("breached_at", UTCDateTime()),
        sa.Column("escalation_level", sa.Integer, nullable=False),
        sa.Column("stopped_at", UTCDateTime()),
    )
    op.create_index("ix_clocks_open", "sla_clocks", ["stopped_at", "breached_at"])
    op.create_table(
        "processed_commands",
        sa.Column("command_id", sa.String(128), primary_key=True),
        sa.Column("complaint_id", sa.String(64), nullable=False),
        sa.Column("command_type", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("processed_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "partition_progress",
        sa.Column("topic", sa.String(255), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
        sa.Column("watermark", UTCDateTime()),
    )
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("key", sa.LargeBinary),
        sa.Column("value", sa.LargeBinary),
        sa.Column("headers", sa.Text),
        sa.Column("event_id", sa.String(64)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("published", sa.Boolean, nullable=False),
    )
    op.create_index("ix_outbox_pending", "outbox", ["published", "id"])


def downgrade() -> None:
    for table in (
        "outbox",
        "partition_progress",
        "processed_commands",
        "sla_clocks",
        "events",
        "complaints",
    ):
        op.drop_table(table)
