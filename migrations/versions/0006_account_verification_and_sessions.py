"""users.email_verified_at (a confirmed address) and users.session_version (sign-out ends every session)

Also puts back, on SQLite, the walks.caller_ticket_id foreign key that 0005's batch rebuild of the
walks table left out (PostgreSQL kept it).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 06:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        # Accounts made before this migration are not confirmed: their owners confirm by the link
        # they can ask for on My tickets; tickets they opened themselves stay visible meanwhile.
        batch_op.add_column(sa.Column('email_verified_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default=sa.text('1'),
                                      nullable=False))
    bind = op.get_bind()
    walk_fks = sa.inspect(bind).get_foreign_keys('walks')
    if not any(fk['constrained_columns'] == ['caller_ticket_id'] for fk in walk_fks):
        with op.batch_alter_table('walks', schema=None) as batch_op:
            batch_op.create_foreign_key('fk_walks_caller_ticket_id_tickets', 'tickets', ['caller_ticket_id'], ['id'])


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
        batch_op.drop_column('email_verified_at')
