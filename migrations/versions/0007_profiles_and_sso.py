"""accounts that work in an organisation: time zone, email preference, single sign-on subject

users.time_zone (an IANA zone, e.g. Europe/Paris; empty: the portal's default),
users.email_on_reply (an email on each reply to the person's tickets), users.sso_subject (the
identity provider's issuer and subject, "ISSUER|SUB", once the account signed in with SSO), and
tickets.requester_time_zone (the requester's zone when the ticket opened, for technicians who work
in shifts across zones).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 06:25:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('email_on_reply', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('sso_subject', sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint('uq_users_sso_subject', ['sso_subject'])
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requester_time_zone', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('requester_time_zone')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint('uq_users_sso_subject', type_='unique')
        batch_op.drop_column('sso_subject')
        batch_op.drop_column('email_on_reply')
        batch_op.drop_column('time_zone')
