"""SLA clock rows carry their warning instant and next firing instant.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sla_clocks") as batch:
        batch.add_column(sa.Column("warning_at", UTCDateTime()))
        batch.add_column(sa.Column("next_fire_at", UTCDateTime()))


def downgrade() -> None:
    with op.batch_alter_table("sla_clocks") as batch:
        batch.drop_column("next_fire_at")
        batch.drop_column("warning_at")
