"""Settlements (engine/settlements): each resolved complaint's latest resolution, as rows.

Revision ID: 0012_settlements
Revises: 0011_receipts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.schema import UTCDateTime

revision = "0012_settlements"
down_revision = "0011_receipts"
branch_labels = None
depends_on = None

#: The settlements of the history stored so far, as the report used to derive them:
#: each complaint's latest resolution, if the complaint is still in the state it left.
#: Auto-closed: caused by the auto-close timer and resolved by the system. Store.write
#: keeps them from here.
_BACKFILL = """
INSERT INTO settlements
    (complaint_id, skpd, region, state, seq, resolved_at, auto_closed)
SELECT s.complaint_id, s.skpd, s.region, s.state, s.seq, s.occurred_at,
    CASE WHEN s.causation_id LIKE 'auto!_close:%' ESCAPE '!'
          AND {role} = 'system' AND {actor_id} = 'auto_close'
         THEN {true} ELSE {false} END
FROM events s JOIN complaints c ON c.complaint_id = s.complaint_id
WHERE s.type = 'complaint.resolved' AND s.seq IS NOT NULL AND c.state = s.state
  AND s.seq = (SELECT MAX(l.seq) FROM events l
                WHERE l.complaint_id = s.complaint_id AND l.type = 'complaint.resolved')
"""


def upgrade() -> None:
    op.create_table(
        "settlements",
        sa.Column("complaint_id", sa.String(64), primary_key=True),
        sa.Column("skpd", sa.String(64)),
        sa.Column("region", sa.String(64)),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=False),
        sa.Column("auto_closed", sa.Boolean, nullable=False),
    )
    op.create_index("ix_settlements_resolved", "settlements", ["resolved_at"])
    if op.get_bind().dialect.name == "postgresql":
        actor = "CAST(s.body AS JSONB) -> 'actor'"
        sql = _BACKFILL.format(
            role=f"({actor} ->> 'role')",
            actor_id=f"({actor} ->> 'id')",
            true="true",
            false="false",
        )
    else:
        sql = _BACKFILL.format(
            role="json_extract(s.body, '$.actor.role')",
            actor_id="json_extract(s.body, '$.actor.id')",
            true="1",
            false="0",
        )
    op.execute(sql)


def downgrade() -> None:
    op.drop_table("settlements")
