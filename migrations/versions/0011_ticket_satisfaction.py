"""ticket satisfaction: the requester's rating of the help (1 to 5, an optional comment)

ticket_ratings: one row per ticket (unique ticket_id), the score (checked 1..5), the comment and
when it was (last) given, indexed for the supervisor's overview of a period. "This is solved" and
"Withdraw this request" need no new column or status: they are status changes (to resolved, to
closed) recorded in the timeline with their own event kinds, ``solved`` and ``withdrawn``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 10:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'ticket_ratings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('score', sa.Integer(), nullable=False),
        sa.Column('comment', sa.Text(), nullable=False),
        sa.Column('rated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('score BETWEEN 1 AND 5', name='ck_ticket_ratings_score_range'),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name='fk_ticket_ratings_ticket_id_tickets',
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name='pk_ticket_ratings'),
        sa.UniqueConstraint('ticket_id', name='uq_ticket_ratings_ticket_id'),
    )
    op.create_index('ix_ticket_ratings_rated_at', 'ticket_ratings', ['rated_at'], unique=False)


def downgrade():
    op.drop_index('ix_ticket_ratings_rated_at', table_name='ticket_ratings')
    op.drop_table('ticket_ratings')
