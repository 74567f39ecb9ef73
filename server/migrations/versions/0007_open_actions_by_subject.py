"""open actions by subject (GC-18's open calibration review of an auditor)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 22:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_actions_kind_status_subject", ["kind", "status", "subject_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.drop_index("ix_actions_kind_status_subject")
