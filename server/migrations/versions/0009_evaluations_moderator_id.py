"""evaluations: who moderated (ModerateAudit's moderator_id) in the decision log

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 16:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Moderations logged before this migration: who moderated was not kept.
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("moderator_id", sa.String(length=128), nullable=False,
                                      server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_column("moderator_id")
