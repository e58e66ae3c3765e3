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


def private_dir(path: str) -> None:
    """Make sure a directory exists that only its owner can enter (the instance folder: secret key, database)."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    _owner_only(path, 0o700)


def _owner_only(path: str, mode: int) -> None:
    """Take away group and other access from a file or folder of ours that an older version left open."""
    info = os.stat(path)
    if info.st_uid == os.getuid() and info.st_mode & 0o077:
        os.chmod(path, mode)


def _private_sqlite_file(path: str | None) -> None:
    """The SQLite file readable by its owner only: made so before SQLite creates it with the umask's mode.

    SQLite gives the WAL and shared-memory files it makes next to it the same mode.
    """
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    if os.path.exists(path):
        for existing in (path, path + "-wal", path + "-shm"):
            if os.path.exists(existing):
                _owner_only(existing, 0o600)
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def init_app(app: Flask) -> None:
    """Set SQLite's pragmas on every connection; upgrade the embedded database on start."""
    with app.app_context():
        if is_sqlite(app):
            _private_sqlite_file(db.engine.url.database)
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
