"""walks.ticket_id becomes walks.caller_ticket_id: the caller's ticket, not the one a walk opens

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 05:30:00

"""
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    # Two steps: SQLite's batch mode rebuilds the table, and a key on the renamed column must be
    # added once the column has its new name.
    with op.batch_alter_table('walks', schema=None) as batch_op:
        batch_op.drop_constraint('fk_walks_ticket_id_tickets', type_='foreignkey')
        batch_op.alter_column('ticket_id', new_column_name='caller_ticket_id')
    with op.batch_alter_table('walks', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_walks_caller_ticket_id_tickets', 'tickets', ['caller_ticket_id'], ['id'])


def downgrade():
    with op.batch_alter_table('walks', schema=None) as batch_op:
        batch_op.drop_constraint('fk_walks_caller_ticket_id_tickets', type_='foreignkey')
        batch_op.alter_column('caller_ticket_id', new_column_name='ticket_id')
    with op.batch_alter_table('walks', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_walks_ticket_id_tickets', 'tickets', ['ticket_id'], ['id'])
