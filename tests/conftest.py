"""Shared fixtures: a fresh app per test on a real database, its client, CLI runner and helpers.

Tests run on SQLite always; tests that take `any_app` run on PostgreSQL too (TEST_DATABASE_URL,
default: the server on 127.0.0.1:5432, database `test`). A missing PostgreSQL fails those tests;
it never skips them.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import g

from portal import create_app
from portal.database import create_schema
from portal.extensions import db

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_FLOWS = Path(__file__).parent / "fixtures" / "flows"
SHIPPED_FLOWS = ROOT / "flows"
PG_BASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
#: Each pytest session works in a schema of its own, so two runs on one machine never meet.
PG_SCHEMA = f"t_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def pg_url_with_schema(schema: str, base: str = PG_BASE_URL) -> str:
    """The test database's URL with `schema` first on the search path."""
    return base + ("&" if "?" in base else "?") + f"options=-csearch_path%3D{schema}"


PG_URL = pg_url_with_schema(PG_SCHEMA)
PASSWORD = "correct horse battery"


def make_config(tmp_path: Path, **overrides) -> dict:
    """Settings for one test: its own SQLite file, CSRF and rate limits off unless asked for."""
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'test.db'}",
        "FLOWS_DIR": str(FIXTURE_FLOWS),
        "FLOWS_RELOAD_SECONDS": 0,
        "WTF_CSRF_ENABLED": False,
        "ATTACHMENTS_DIR": str(tmp_path / "attachments"),  # file bodies of this test, never instance/
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    config.update(overrides)
    return config


def _build(config: dict):
    app = create_app(config)

    @app.teardown_request
    def _forget_user(_exc):
        g.pop("_login_user", None)  # a fresh client must not inherit the last login

    return app


@pytest.fixture(scope="session")
def pg_schema():
    """Create this session's schema in the PostgreSQL test database; drop it at the end."""
    engine = sa.create_engine(PG_BASE_URL)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {PG_SCHEMA}"))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is needed for this test and is not reachable at {PG_BASE_URL}: {exc}")
    app = create_app(make_config(Path("/tmp"), SQLALCHEMY_DATABASE_URI=PG_URL))
    with app.app_context():
        create_schema()
        db.engine.dispose()
    yield PG_URL
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
    engine.dispose()


def _truncate_pg():
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        for hook in _PG_TRUNCATE_EXTRA:
            hook(conn)


_PG_TRUNCATE_EXTRA: list = []


def _app_for(backend: str, tmp_path: Path, request, **overrides):
    if backend == "postgresql":
        url = request.getfixturevalue("pg_schema")
        app = _build(make_config(tmp_path, SQLALCHEMY_DATABASE_URI=url, **overrides))
        with app.app_context():
            _truncate_pg()
    else:
        app = _build(make_config(tmp_path, **overrides))
        with app.app_context():
            create_schema()
    return app


@pytest.fixture
def app(tmp_path, request):
    """A fresh portal on the fixture flows and an empty SQLite database."""
    app = _app_for("sqlite", tmp_path, request)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_app(tmp_path, request):
    """The same test on SQLite and on PostgreSQL."""
    app = _app_for(request.param, tmp_path, request)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def shipped_app(tmp_path, request):
    """A portal on the shipped flow library (SQLite)."""
    app = _app_for("sqlite", tmp_path, request, FLOWS_DIR=str(SHIPPED_FLOWS))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app):
    """Create a user: make_user(role="technician", email=...)."""
    from portal.models import Role, User

    def make(role: str = "requester", email: str | None = None, name: str = "", password: str = PASSWORD,
             target_app=None):
        with (target_app or app).app_context():
            count = db.session.scalar(sa.select(sa.func.count()).select_from(User))
            user = User(email=email or f"{role}{count + 1}@example.com", name=name or f"{role.title()} {count + 1}",
                        role=Role(role))
            user.set_password(password)
            db.session.add(user)
            db.session.commit()
            return user.id, user.email

    return make


class Auth:
    """Signs in through the real form."""

    def __init__(self, client):
        self.client = client

    def login(self, email: str, password: str = PASSWORD):
        return self.client.post("/signin", data={"email": email, "password": password})

    def logout(self):
        return self.client.post("/signout")


@pytest.fixture
def auth(client):
    return Auth(client)


def walk_url(url: str, last: str) -> str:
    """A walk page's sibling: "/walks/<id>/1" -> "/walks/<id>/help" (a string replace of "/1" could hit
    the walk's id, which may begin with that digit)."""
    return url.rsplit("/", 1)[0] + "/" + last
