"""The admin's complaint listing filtered by region pages along an index.

Revision ID: 0007_admin
Revises: 0006_notices
"""

from __future__ import annotations

from alembic import op

revision = "0007_admin"
down_revision = "0006_notices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_complaints_region_id", "complaints", ["region", "complaint_id"])


def downgrade() -> None:
    op.drop_index("ix_complaints_region_id", table_name="complaints")
