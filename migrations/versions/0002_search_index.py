"""full-text search index of the flows

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:00:00

"""
from alembic import op

from portal.search.services import create_search_schema, drop_search_schema

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    # FTS5 on SQLite, a weighted tsvector with a GIN index on PostgreSQL: see portal.search.
    create_search_schema(op.get_bind())


def downgrade():
    drop_search_schema(op.get_bind())
