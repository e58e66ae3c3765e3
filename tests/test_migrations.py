"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from portal import create_app
from portal.database import create_schema, upgrade
from portal.extensions import db

from .conftest import PG_BASE_URL, PG_SCHEMA, make_config, pg_url_with_schema


def _diff(app):
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        return [d for d in compare_metadata(context, db.metadata) if not _is_search_table(d)]


def _is_search_table(diff):
    # Full-text structures are made by raw DDL in their migration; the models do not describe them.
    text = repr(diff)
    return "flow_search" in text or "flow_fts" in text


def _search_structures(app) -> list:
    """The full-text index's tables, columns, indexes and options in the app's database, as text."""
    with app.app_context(), db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = conn.execute(sa.text(
                "SELECT type, name, sql FROM sqlite_master WHERE name LIKE 'flow_search%' ORDER BY name")).all()
        else:
            schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
            rows = [
                *conn.execute(sa.text(
                    "SELECT table_name, column_name, data_type, is_nullable, column_default, generation_expression "
                    "FROM information_schema.columns WHERE table_schema = current_schema() "
                    "AND table_name LIKE 'flow_search%' ORDER BY table_name, ordinal_position")),
                *conn.execute(sa.text(
                    "SELECT indexname, replace(indexdef, :prefix, '') FROM pg_indexes "
                    "WHERE schemaname = current_schema() AND tablename LIKE 'flow_search%' ORDER BY indexname"),
                    {"prefix": f"{schema}."}),
                *conn.execute(sa.text(
                    "SELECT c.relname, c.relkind, c.reloptions::text FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND c.relname LIKE 'flow_search%' ORDER BY c.relname")),
            ]
    return [tuple(row) for row in rows]


def test_migrations_on_a_fresh_sqlite_database(tmp_path):
    app = create_app(make_config(tmp_path))
    upgrade(app)
    assert _diff(app) == []
    # The search index is made by raw DDL that migration 0002 keeps its own copy of: the app must
    # still expect exactly what the migrations made (a change to it needs a migration of its own).
    (tmp_path / "direct").mkdir()
    direct = create_app(make_config(tmp_path / "direct"))
    with direct.app_context():
        create_schema()
    assert _search_structures(app) == _search_structures(direct) != []
    with app.app_context():
        names = sa.inspect(db.engine).get_table_names()
    assert {"users", "walks", "tickets", "messages", "flow_versions", "search_misses"} <= set(names)


def test_the_embedded_database_upgrades_itself_on_start(tmp_path):
    app = create_app(make_config(tmp_path, AUTO_UPGRADE_DB=True))
    with app.app_context():
        assert "tickets" in sa.inspect(db.engine).get_table_names()
    assert app.test_client().get("/").status_code == 200


@pytest.mark.postgres
def test_migrations_on_postgresql(tmp_path, pg_schema):
    schema = f"m_{PG_SCHEMA}"
    engine = sa.create_engine(PG_BASE_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))
    engine.dispose()
    url = pg_url_with_schema(schema)
    app = create_app(make_config(tmp_path, SQLALCHEMY_DATABASE_URI=url))
    try:
        upgrade(app)
        assert _diff(app) == []
        direct = create_app(make_config(tmp_path, SQLALCHEMY_DATABASE_URI=pg_schema))  # made by create_schema()
        assert _search_structures(app) == _search_structures(direct) != []
        with direct.app_context():
            db.engine.dispose()
    finally:
        with app.app_context():
            db.engine.dispose()
        engine = sa.create_engine(PG_BASE_URL)
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()
