"""Outbox rows carry their commands-topic partition, a publish time and a parked state.

Unpublished rows written before this revision are placed on the partition of their
complaint (events) or of their source record (dead letters), so the relay that owns
that partition publishes them; the few that cannot be placed (NULL) are published by
the owner of partition 0.

Revision ID: 0003_outbox
Revises: 0002
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from engine.schema import UTCDateTime

revision = "0003_outbox"
down_revision = "0002"
branch_labels = None
depends_on = None

_UNPUBLISHED = "published IS false AND parked_at IS NULL"
_PARKED = "parked_at IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("partition", sa.Integer))
        batch.add_column(sa.Column("published_at", UTCDateTime()))
        batch.add_column(sa.Column("parked_at", UTCDateTime()))
        batch.add_column(sa.Column("park_reason", sa.Text))
    # Partial indexes (see engine/schema.py): the full (published, id) index grew with
    # every published row; these hold only the rows still waiting, and the parked ones.
    op.drop_index("ix_outbox_pending", "outbox")
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["id"],
        postgresql_where=sa.text(_UNPUBLISHED),
        sqlite_where=sa.text(_UNPUBLISHED),
    )
    op.create_index(
        "ix_outbox_parked",
        "outbox",
        ["parked_at"],
        postgresql_where=sa.text(_PARKED),
        sqlite_where=sa.text(_PARKED),
    )
    _place_pending_rows()


def _place_pending_rows() -> None:
    """Give each unpublished row the partition its relay will own (a bounded backlog)."""
    conn = op.get_bind()
    # Events: the complaint's partition, else (a rejection for an unknown complaint) the
    # partition of the command that caused it.
    conn.execute(
        sa.text(
            "UPDATE outbox SET partition = COALESCE("
            " (SELECT c.partition FROM events e JOIN complaints c"
            "   ON c.complaint_id = e.complaint_id WHERE e.event_id = outbox.event_id),"
            " (SELECT p.partition FROM events e JOIN processed_commands p"
            "   ON p.command_id = e.causation_id WHERE e.event_id = outbox.event_id))"
            " WHERE NOT published AND event_id IS NOT NULL"
        )
    )
    # Dead letters: the source_partition header (JSON, parsed here for both dialects).
    rows = conn.execute(
        sa.text("SELECT id, headers FROM outbox WHERE NOT published AND event_id IS NULL")
    ).all()
    for row_id, headers in rows:
        found = dict(json.loads(headers or "[]")).get("source_partition")
        if found is not None and str(found).isdigit():
            conn.execute(
                sa.text("UPDATE outbox SET partition = :p WHERE id = :id"),
                {"p": int(found), "id": row_id},
            )


def downgrade() -> None:
    op.drop_index("ix_outbox_parked", "outbox")
    op.drop_index("ix_outbox_unpublished", "outbox")
    op.create_index("ix_outbox_pending", "outbox", ["published", "id"])
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("park_reason")
        batch.drop_column("parked_at")
        batch.drop_column("published_at")
        batch.drop_column("partition")
