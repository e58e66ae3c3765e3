"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from portal import create_app
from portal.database import upgrade
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


def test_migrations_on_a_fresh_sqlite_database(tmp_path):
    app = create_app(make_config(tmp_path))
    upgrade(app)
    assert _diff(app) == []
    with app.app_context():
        names = sa.inspect(db.engine).get_table_names()
    assert {"users", "walks", "tickets", "messages", "flow_versions", "search_misses"} <= set(names)


def test_the_embedded_database_upgrades_itself_on_start(tmp_path):
    app = create_app(make_config(tmp_path, AUTO_UPGRADE_DB=True))
    with app.app_context():
        assert "tickets" in sa.inspect(db.engine).get_table_names()
    assert app.test_client().get("/").status_code == 200


@pytest.mark.postgres
def test_migrations_on_postgresql(tmp_path):
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
    finally:
        with app.app_context():
            db.engine.dispose()
        engine = sa.create_engine(PG_BASE_URL)
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()
