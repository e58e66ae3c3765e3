"""full-text search index of the flows

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:00:00

FTS5 on SQLite, a weighted tsvector with a GIN index on PostgreSQL (see portal/search/services.py).
The DDL is written out here as it was when this migration was made, not imported from the app: a
later change to the index needs a migration of its own, and must not change what this one does.
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

STATE = "CREATE TABLE IF NOT EXISTS flow_search_state (id INTEGER PRIMARY KEY, token VARCHAR(32) NOT NULL)"

CREATE = {
    "sqlite": (
        "CREATE TABLE IF NOT EXISTS flow_search_meta ("
        " id INTEGER PRIMARY KEY, flow_id TEXT NOT NULL UNIQUE, hash VARCHAR(64) NOT NULL)",
        "CREATE VIRTUAL TABLE IF NOT EXISTS flow_search USING fts5("
        " flow_id UNINDEXED, title, keywords, summary, body,"
        " tokenize = 'porter unicode61 remove_diacritics 2')",
        STATE,
    ),
    "postgresql": (
        "CREATE TABLE IF NOT EXISTS flow_search ("
        " flow_id TEXT PRIMARY KEY, hash VARCHAR(64) NOT NULL,"
        " title TEXT NOT NULL, keywords TEXT NOT NULL, summary TEXT NOT NULL, body TEXT NOT NULL,"
        " document tsvector GENERATED ALWAYS AS ("
        "  setweight(to_tsvector('english'::regconfig, title), 'A') ||"
        "  setweight(to_tsvector('english'::regconfig, keywords), 'B') ||"
        "  setweight(to_tsvector('english'::regconfig, summary), 'C') ||"
        "  setweight(to_tsvector('english'::regconfig, body), 'D')) STORED)"
        " WITH (toast_tuple_target = 8160)",
        "CREATE INDEX IF NOT EXISTS ix_flow_search_document ON flow_search USING gin (document)"
        " WITH (fastupdate = off)",
        STATE,
    ),
}

TABLES = {
    "sqlite": ("flow_search", "flow_search_meta", "flow_search_state"),
    "postgresql": ("flow_search", "flow_search_state"),
}


def _dialect():
    name = op.get_context().dialect.name
    if name not in CREATE:
        raise NotImplementedError(f"flow search supports SQLite and PostgreSQL, not {name}")
    return name


def upgrade():
    for statement in CREATE[_dialect()]:
        op.execute(statement)


def downgrade():
    for table in TABLES[_dialect()]:
        op.execute(f"DROP TABLE IF EXISTS {table}")
