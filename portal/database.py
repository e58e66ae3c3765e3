"""Database wiring: SQLite pragmas, and bringing the embedded database's schema up to date."""

from __future__ import annotations

import os

import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade as migrate_upgrade

from .extensions import db


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
    cursor.execute("PRAGMA busy_timeout=5000")  # a writer waits for another instead of failing
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; fsync at checkpoints
    cursor.close()


def is_sqlite(app: Flask) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")


def engine_options(app: Flask) -> None:
    """Check pooled connections before use on a server database (a restart or failover drops them)."""
    if not is_sqlite(app):
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {}).setdefault("pool_pre_ping", True)


def init_app(app: Flask) -> None:
    """Set SQLite's pragmas on every connection; upgrade the embedded database on start."""
    with app.app_context():
        if is_sqlite(app):
            sa.event.listen(db.engine, "connect", _sqlite_pragmas)
    if app.config.get("AUTO_UPGRADE_DB") and os.path.isdir(os.path.join(migrations_dir(), "versions")):
        upgrade(app)


def upgrade(app: Flask) -> None:
    """Run the Alembic migrations up to head (what `flask db upgrade` does)."""
    with app.app_context():
        migrate_upgrade(directory=migrations_dir())


def migrations_dir() -> str:
    return os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "migrations"))


#: Functions run after ``db.create_all()`` in :func:`create_schema`, for structures SQLAlchemy's
#: metadata does not describe (full-text indexes). Each takes a SQLAlchemy Connection.
EXTRA_SCHEMA: list = []


def create_schema() -> None:
    """Create every table and extra structure directly (tests); production uses the migrations."""
    db.create_all()
    with db.engine.begin() as conn:
        for create in EXTRA_SCHEMA:
            create(conn)
