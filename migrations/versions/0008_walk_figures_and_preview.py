"""figures per flow and step, and staff previews

walks.preview (a staff member trying a flow: never counted, never opens a ticket),
walks.last_flow / last_step / last_version (where the walk stands or ended, and that flow's version), walks.help_step (where "I still need
help" was pressed), indexes on walks by flow and date, and walk_steps: one row per step a walk was
shown, written as it moves, so per-step figures are counted with indexed queries instead of
reading every walk's state.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 09:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# The figures' covering indexes on walks (as portal/models/walk.py; repeated, a migration imports nothing
# from portal): each holds every column its queries read, so they never read the rows and their JSON.
_OUTCOME = ('preview', 'status', 'helped', 'updated_at')
BY_FLOW = ('flow_id', 'created_at', *_OUTCOME, 'ended_at', 'caller_ticket_id', 'version_hash')
BY_DATE = ('created_at', *_OUTCOME, 'ended_at', 'caller_ticket_id', 'flow_id', 'last_flow', 'last_step', 'help_step')
BY_LAST_STEP = ('last_flow', 'created_at', *_OUTCOME, 'last_step', 'last_version', 'help_step')


def upgrade():
    with op.batch_alter_table('walks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('preview', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('last_flow', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('last_step', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('help_step', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('last_version', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_walks_flow_created', list(BY_FLOW), unique=False)
        batch_op.create_index('ix_walks_created', list(BY_DATE), unique=False)
        batch_op.create_index('ix_walks_last_flow_created', list(BY_LAST_STEP), unique=False)
    op.create_table(
        'walk_steps',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('walk_id', sa.String(length=32), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('flow_id', sa.String(length=100), nullable=False),
        sa.Column('version_hash', sa.String(length=64), nullable=False),
        sa.Column('step_id', sa.String(length=100), nullable=False),
        sa.Column('answer', sa.Text(), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['walk_id'], ['walks.id'], name=op.f('fk_walk_steps_walk_id_walks'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_walk_steps')),
        sa.UniqueConstraint('walk_id', 'seq', name='uq_walk_steps_walk_seq'),
    )
    with op.batch_alter_table('walk_steps', schema=None) as batch_op:
        batch_op.create_index('ix_walk_steps_flow_version_step', ['flow_id', 'version_hash', 'at', 'step_id', 'answer'],
                               unique=False)
        batch_op.create_index('ix_walk_steps_flow_at', ['flow_id', 'at', 'step_id', 'answer'], unique=False)


def downgrade():
    with op.batch_alter_table('walk_steps', schema=None) as batch_op:
        batch_op.drop_index('ix_walk_steps_flow_at')
        batch_op.drop_index('ix_walk_steps_flow_version_step')
    op.drop_table('walk_steps')
    with op.batch_alter_table('walks', schema=None) as batch_op:
        batch_op.drop_index('ix_walks_last_flow_created')
        batch_op.drop_index('ix_walks_created')
        batch_op.drop_index('ix_walks_flow_created')
        batch_op.drop_column('last_version')
        batch_op.drop_column('help_step')
        batch_op.drop_column('last_step')
        batch_op.drop_column('last_flow')
        batch_op.drop_column('preview')
