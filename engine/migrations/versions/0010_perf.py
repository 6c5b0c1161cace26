"""The policy each clock row was last computed under, so a restart under an unchanged
policy does not re-read every running clock.

Revision ID: 0010_perf
Revises: 0009_perf
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_perf"
down_revision = "0009_perf"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for the rows stored so far: the next start checks each of them once.
    op.add_column("sla_clocks", sa.Column("policy", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("sla_clocks") as batch:
        batch.drop_column("policy")
