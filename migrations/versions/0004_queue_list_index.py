"""an index that answers the technicians' queue on its own

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 14:08:00

"""
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

COLUMNS = ["status", "merged_into_id", "queue", "priority", "assignee_id", "paused_at", "resolution_due_at", "id"]


def upgrade():
    op.create_index("ix_tickets_queue_list", "tickets", COLUMNS, unique=False)


def downgrade():
    op.drop_index("ix_tickets_queue_list", table_name="tickets")
