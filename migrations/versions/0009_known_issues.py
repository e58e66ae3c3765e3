"""known issues: one problem many people have, its public updates, its people and their tickets

known_issues (title, what users see, the public message, status, affected flows, where a spike was
seen), known_issue_updates (public updates and the fix), known_issue_people (one row per affected
person and issue: the ticket they follow it on), tickets.known_issue_id, and the queue's index
with that column so the queue folds an issue's tickets from the index alone.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 09:50:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

STATUSES = ('investigating', 'identified', 'fixed')
UPDATE_KINDS = ('update', 'fix')
QUEUE_LIST = ["status", "merged_into_id", "queue", "priority", "assignee_id", "paused_at", "resolution_due_at", "id"]


def upgrade():
    op.create_table(
        'known_issues',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('symptoms', sa.Text(), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('status', sa.Enum(*STATUSES, name='knownissuestatus', native_enum=False, length=20),
                  nullable=False),
        sa.Column('flow_ids', sa.JSON(), nullable=False),
        sa.Column('seen_flow_id', sa.String(length=100), nullable=True),
        sa.Column('seen_step_id', sa.String(length=100), nullable=True),
        sa.Column('request_key', sa.String(length=64), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('fixed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('fix_text', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name='fk_known_issues_created_by_id_users'),
        sa.PrimaryKeyConstraint('id', name='pk_known_issues'),
        sa.UniqueConstraint('request_key', name='uq_known_issues_request_key'),
    )
    op.create_index('ix_known_issues_status', 'known_issues', ['status', 'id'], unique=False)
    op.create_table(
        'known_issue_updates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('known_issue_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Enum(*UPDATE_KINDS, name='updatekind', native_enum=False, length=20), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('request_key', sa.String(length=64), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['known_issue_id'], ['known_issues.id'],
                                name='fk_known_issue_updates_known_issue_id_known_issues', ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name='fk_known_issue_updates_created_by_id_users'),
        sa.PrimaryKeyConstraint('id', name='pk_known_issue_updates'),
        sa.UniqueConstraint('request_key', name='uq_known_issue_updates_request_key'),
    )
    op.create_index('ix_known_issue_updates_known_issue_id', 'known_issue_updates', ['known_issue_id'],
                    unique=False)
    op.create_table(
        'known_issue_people',
        sa.Column('known_issue_id', sa.Integer(), nullable=False),
        sa.Column('person', sa.String(length=254), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['known_issue_id'], ['known_issues.id'],
                                name='fk_known_issue_people_known_issue_id_known_issues', ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name='fk_known_issue_people_ticket_id_tickets'),
        sa.PrimaryKeyConstraint('known_issue_id', 'person', name='pk_known_issue_people'),
    )
    op.create_index('ix_known_issue_people_ticket_id', 'known_issue_people', ['ticket_id'], unique=False)
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('known_issue_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_tickets_known_issue_id_known_issues', 'known_issues', ['known_issue_id'],
                                    ['id'])
        batch_op.create_index('ix_tickets_known_issue', ['known_issue_id', 'status', 'requester_email'],
                              unique=False)
        batch_op.drop_index('ix_tickets_queue_list')
        batch_op.create_index('ix_tickets_queue_list', [*QUEUE_LIST, 'known_issue_id'], unique=False)


def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_queue_list')
        batch_op.create_index('ix_tickets_queue_list', QUEUE_LIST, unique=False)
        batch_op.drop_index('ix_tickets_known_issue')
        batch_op.drop_constraint('fk_tickets_known_issue_id_known_issues', type_='foreignkey')
        batch_op.drop_column('known_issue_id')
    op.drop_index('ix_known_issue_people_ticket_id', table_name='known_issue_people')
    op.drop_table('known_issue_people')
    op.drop_index('ix_known_issue_updates_known_issue_id', table_name='known_issue_updates')
    op.drop_table('known_issue_updates')
    op.drop_index('ix_known_issues_status', table_name='known_issues')
    op.drop_table('known_issues')
