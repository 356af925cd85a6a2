"""Conversation tests: a heartbeat on test runs, to find runs a dead worker left running.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("test_runs") as batch:
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    # Existing runs: their last known write is when they finished, else when they started.
    op.execute("UPDATE test_runs SET updated_at = COALESCE(finished_at, created_at)")
    with op.batch_alter_table("test_runs") as batch:
        batch.alter_column("updated_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    op.create_index("ix_test_runs_status_updated", "test_runs", ["status", "updated_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_test_runs_status_updated", table_name="test_runs")
    with op.batch_alter_table("test_runs") as batch:
        batch.drop_column("updated_at")
