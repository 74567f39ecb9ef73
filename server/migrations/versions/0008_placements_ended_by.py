"""placements: the client that ended the placement (every write records its client)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Placements ended before this migration: who ended them was not kept.
    with op.batch_alter_table("placements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ended_by", sa.String(length=128), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("placements", schema=None) as batch_op:
        batch_op.drop_column("ended_by")
