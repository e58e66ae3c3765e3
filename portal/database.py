"""Database wiring: SQLite pragmas, `flask db`, and bringing the embedded database's schema up to date.

Flask-Migrate (and through it Alembic and Mako) is imported only when it is used: by `flask db ...`,
by a start whose embedded database has migrations to run, or by code that reads
``app.extensions["migrate"]``. Importing it was a large part of the portal's start-up time (issue
7), paid by every process (each gunicorn worker, each `flask flows lint`) for nothing on a database
that is already up to date. A start reads the database's revision from ``alembic_version`` and the head
from the files in migrations/versions; only when they differ, or anything looks unusual, does it
run Alembic, exactly as `flask db upgrade` does.
"""

from __future__ import annotations

import ast
import logging.config
import os
import re
import time

import click
import sqlalchemy as sa
from flask import Flask

from .extensions import db


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
    cursor.execute("PRAGMA busy_timeout=5000")  # a writer waits for another instead of failing
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; fsync at checkpoints
    cursor.close()


class DirectRead:
    """A statement that reads one row, run straight on a pooled DBAPI connection.

    For the hottest read of all (the walk a step page shows): SQLAlchemy compiles the statement once
    per dialect (its SQL, its bound values and how each column's value is read back, by the column
    types' own processors), and each run then skips SQLAlchemy's execution machinery, which cost
    more than the query (a quarter of a step page, issue 7), not its pool or the pool's events (the
    idle check). DBAPI errors come out as SQLAlchemy's (a database outage answers 503 as anywhere
    else), and a dropped connection is invalidated as SQLAlchemy would. On a server database the
    read runs outside a transaction (autocommit: no BEGIN and ROLLBACK round trips). While anything
    listens to the engine's statements, the read goes through SQLAlchemy as usual, so it is seen.
    """

    def __init__(self, statement):
        self.statement = statement
        self._prepared: dict = {}

    def _prepare(self, dialect) -> tuple:
        compiled = self.statement.compile(dialect=dialect)
        binds = {compiled.bind_names[bind]: bind.type.bind_processor(dialect) for bind in compiled.binds.values()}
        order = tuple(compiled.positiontup) if dialect.positional else None
        results = tuple(column.type.result_processor(dialect, None) for column in self.statement.selected_columns)
        prepared = self._prepared[dialect] = (compiled, binds, order, results)
        return prepared

    def first(self, engine: sa.Engine, **params) -> tuple | None:
        if engine.echo or engine.dispatch.before_cursor_execute or engine.dispatch.after_cursor_execute:
            # Something watches the engine's statements (logging, tracing, a test counting them): the
            # usual way, so that it sees this one too.
            options = {"isolation_level": "AUTOCOMMIT"} if engine.dialect.name != "sqlite" else {}
            with engine.connect().execution_options(**options) as connection:
                row = connection.execute(self.statement, params).first()
            return None if row is None else tuple(row)
        dialect = engine.dialect
        compiled, binds, order, results = self._prepared.get(dialect) or self._prepare(dialect)
        values = compiled.construct_params(params)
        for name, process in binds.items():
            if process is not None:
                values[name] = process(values[name])
        args = tuple(values[name] for name in order) if order is not None else values
        autocommit = dialect.name != "sqlite"
        raw = cursor = None
        try:
            raw = engine.raw_connection()
            if autocommit:
                raw.driver_connection.autocommit = True
            cursor = raw.cursor()
            cursor.execute(compiled.string, args)
            row = cursor.fetchone()
        except dialect.loaded_dbapi.Error as exc:
            if raw is not None and dialect.is_disconnect(exc, raw.dbapi_connection, cursor):
                raw.invalidate(exc)
            raise sa.exc.DBAPIError.instance(compiled.string, args, exc, dialect.loaded_dbapi.Error) from exc
        finally:
            if cursor is not None:
                cursor.close()
            if raw is not None:
                if autocommit and raw.dbapi_connection is not None:
                    raw.driver_connection.autocommit = False
                raw.close()
        if row is None:
            return None
        return tuple(value if process is None else process(value) for value, process in zip(row, results, strict=True))


def is_sqlite(app: Flask) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")


def _checked_in(_dbapi_connection, record) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
    """Check a pooled server connection that sat idle longer than ``DB_PING_AFTER_IDLE_SECONDS`` (10).

    Instead of SQLAlchemy's ``pool_pre_ping``, which costs a round trip to the server on every
    checkout, that is for every request: about a tenth of a step page on PostgreSQL (issue 7).
    Setting ``pool_pre_ping`` in ``SQLALCHEMY_ENGINE_OPTIONS`` still works, and replaces this.

    A restart or failover of the server drops connections, and an idle one is where that shows;
    a dead one is replaced before the request uses it (SQLAlchemy retries the checkout with a new
    connection on DisconnectionError). A new connection, or one back from a request in the last
    seconds, goes straight to work.
    """
    since = record.info.get("idle_since")
    if since is None or time.monotonic() - since <= record.info.get("ping_after", 10.0):
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()  # the SELECT began a transaction: hand the connection out idle, as pooled
    except Exception as exc:  # noqa: BLE001 - whatever the driver raises, this connection is done
        raise sa.exc.DisconnectionError(f"a pooled connection was dead after {time.monotonic() - since:.0f} s") \
            from exc


def _idle_ping(app: Flask):
    after = float(app.config["DB_PING_AFTER_IDLE_SECONDS"])

    def connected(_dbapi_connection, record) -> None:
        record.info["ping_after"] = after

    return connected


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
    """Set SQLite's pragmas on every connection; add `flask db`; upgrade the embedded database on start."""
    with app.app_context():
        if is_sqlite(app):
            _private_sqlite_file(db.engine.url.database)
            sa.event.listen(db.engine, "connect", _sqlite_pragmas)
        elif not (app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}).get("pool_pre_ping"):
            sa.event.listen(db.engine, "connect", _idle_ping(app))
            sa.event.listen(db.engine, "checkin", _checked_in)
            sa.event.listen(db.engine, "checkout", _ping_if_idle)
    app.extensions["migrate"] = _DeferredMigrate(app)
    app.cli.add_command(_MigrationCommands(app))
    if app.config.get("AUTO_UPGRADE_DB") and os.path.isdir(versions_dir()):
        if at_head(app):
            _alembic_logging()
        else:
            upgrade(app)


def upgrade(app: Flask) -> None:
    """Run the Alembic migrations up to head (what `flask db upgrade` does)."""
    with app.app_context():
        flask_migrate_for(app).upgrade(directory=migrations_dir())


def migrations_dir() -> str:
    return os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "migrations"))


def versions_dir() -> str:
    return os.path.join(migrations_dir(), "versions")


# --- Flask-Migrate, when it is needed ------------------------------------------------------------


def flask_migrate_for(app: Flask):
    """The flask_migrate module, with Flask-Migrate bound to `app` (``app.extensions["migrate"]``, `flask db`)."""
    # Imported here, not at the top, for start-up time only (there is no cycle to dodge): Flask-Migrate
    # brings Alembic and Mako, a large part of the portal's start, which only `flask db` and a
    # database with migrations to run need.
    import flask_migrate as module
    import flask_migrate.cli  # noqa: F401  (Migrate.init_app registers its `db` group from there)

    if isinstance(app.extensions.get("migrate"), _DeferredMigrate | None):
        module.Migrate(app, db, directory=migrations_dir())  # replaces both stand-ins below
    return module


class _DeferredMigrate:
    """``app.extensions["migrate"]`` until Flask-Migrate is needed: the first attribute read binds it.

    Flask-Migrate's functions (``flask_migrate.upgrade()`` in an app context) and the migrations'
    env.py read this entry; they get the real one, as before.
    """

    def __init__(self, app: Flask):
        self._app = app

    def __getattr__(self, name: str):
        if name.startswith("_"):  # copy, pickle and friends probing a half-made object
            raise AttributeError(name)
        flask_migrate_for(self._app)
        return getattr(self._app.extensions["migrate"], name)


class _MigrationCommands(click.Group):
    """`flask db`: Flask-Migrate's command group, imported when a `flask db ...` command is parsed.

    Its context is made by the real group, so options, subcommands, help and errors are Flask-Migrate's own.
    """

    def __init__(self, app: Flask):
        super().__init__("db", help="Perform database migrations.")
        self._app = app

    def make_context(self, info_name, args, parent=None, **extra):
        """Bind Flask-Migrate, then let its `db` group parse the command line."""
        real = flask_migrate_for(self._app).cli.db
        return real.make_context(info_name, args, parent=parent, **extra)


# --- is the database already at the head revision? (read without Alembic) ------------------------

#: ``revision = '0012'``, ``down_revision: str | None = '0011'``: the assignments Alembic's script
#: template writes at the top of a migration.
_ASSIGNMENT = re.compile(r"^(revision|down_revision|depends_on)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


def head_revision(directory: str | None = None) -> str | None:
    """The one head of the migrations in `directory`, read from their files; None if that is not plain.

    Not plain: a file without exactly one ``revision`` and ``down_revision`` given as a literal
    string (or None), a ``depends_on``, a revision named twice or pointing at one that is missing,
    more than one head. Alembic itself decides those cases.
    """
    directory = directory or versions_dir()
    revisions: dict = {}
    try:
        for name in sorted(os.listdir(directory)):
            if not name.endswith(".py") or name.startswith((".#", "__init__")):
                continue
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                found: dict = {}
                for key, value in _ASSIGNMENT.findall(f.read()):
                    if key in found:
                        return None
                    found[key] = ast.literal_eval(value)
            revision, down = found.get("revision"), found.get("down_revision", ...)
            if not isinstance(revision, str) or not (down is None or isinstance(down, str)) \
                    or found.get("depends_on") is not None or revision in revisions:
                return None
            revisions[revision] = down
    except (OSError, ValueError, SyntaxError, UnicodeDecodeError):
        return None
    downs = set(revisions.values()) - {None}
    heads = set(revisions) - downs
    if not downs <= set(revisions) or len(heads) != 1:
        return None
    return heads.pop()


def current_revisions(app: Flask) -> list[str] | None:
    """The revisions in the database's ``alembic_version`` table; None when it cannot be read (no table yet)."""
    with app.app_context():
        try:
            with db.engine.connect() as conn:
                return list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
        except sa.exc.SQLAlchemyError:
            return None


def at_head(app: Flask) -> bool:
    """True when the database is at the migrations' one head, so an upgrade would do nothing."""
    head = head_revision()
    return head is not None and current_revisions(app) == [head]


def _alembic_logging() -> None:
    """Configure logging as a start that runs the migrations does (their env.py reads alembic.ini).

    The embedded server has always run that on start: its log format, and `flask run`'s request lines
    staying quiet (the root logger has a handler at WARN), do not depend on whether there was a migration.
    """
    logging.config.fileConfig(os.path.join(migrations_dir(), "alembic.ini"), disable_existing_loggers=False)


#: Functions run after ``db.create_all()`` in :func:`create_schema`, for structures SQLAlchemy's
#: metadata does not describe (full-text indexes). Each takes a SQLAlchemy Connection.
EXTRA_SCHEMA: list = []


def create_schema() -> None:
    """Create every table and extra structure directly (tests); production uses the migrations."""
    db.create_all()
    with db.engine.begin() as conn:
        for create in EXTRA_SCHEMA:
            create(conn)
