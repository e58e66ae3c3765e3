"""Pooled PostgreSQL connections: a connection the server dropped while it sat idle is replaced, unseen; the
step page's direct read (database.DirectRead) reads what SQLAlchemy reads and fails as it would."""

import time

import pytest
import sqlalchemy as sa

from portal import config as portal_config
from portal.database import DirectRead
from portal.extensions import db
from portal.models import KnownIssue, KnownIssueStatus, Walk, WalkStatus

from .conftest import PG_BASE_URL, _app_for


def test_a_connection_dropped_while_idle_is_replaced_before_a_request_uses_it(tmp_path, request):
    # A restart or failover of the database server drops the pool's connections; the next person
    # must get their page, not an error.
    app = _app_for("postgresql", tmp_path, request, DB_PING_AFTER_IDLE_SECONDS=0.2)
    client = app.test_client()
    try:
        assert client.get("/").status_code == 200
        with app.app_context():
            pids = {db.session.scalar(sa.text("SELECT pg_backend_pid()"))}
            db.session.remove()
        admin = sa.create_engine(PG_BASE_URL)
        with admin.connect() as conn:
            for pid in pids:
                assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        admin.dispose()
        time.sleep(0.3)  # idle past DB_PING_AFTER_IDLE_SECONDS: checked before use
        page = client.get("/")
        assert page.status_code == 200 and "What's not working?" in page.get_data(as_text=True)
        with app.app_context():
            assert db.session.scalar(sa.text("SELECT pg_backend_pid()")) not in pids  # a new connection
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_live_connection_checked_after_idling_serves_every_page(tmp_path, request):
    # The check leaves the connection as the pool had it (no transaction open): the step page, which
    # reads outside a transaction on PostgreSQL, and a walk's answer both work on it.
    app = _app_for("postgresql", tmp_path, request, DB_PING_AFTER_IDLE_SECONDS=0.1)
    client = app.test_client()
    try:
        step2 = client.post("/flows/network/start", data={"answer": "Cable"}).headers["Location"]
        for _ in range(2):
            time.sleep(0.2)
            page = client.get(step2)
            assert page.status_code == 200 and "Is the cable plugged in" in page.get_data(as_text=True)
        time.sleep(0.2)
        assert client.post(step2, data={"answer": "No"}).status_code == 303
    finally:
        with app.app_context():
            db.engine.dispose()


def test_the_idle_time_before_a_check_is_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DB_PING_AFTER_IDLE_SECONDS", "2.5")
    assert portal_config.from_environment(str(tmp_path))["DB_PING_AFTER_IDLE_SECONDS"] == 2.5
    for nonsense in ("soon", "-1", ""):  # the default stands
        monkeypatch.setenv("DB_PING_AFTER_IDLE_SECONDS", nonsense)
        assert "DB_PING_AFTER_IDLE_SECONDS" not in portal_config.from_environment(str(tmp_path))
    assert portal_config.DEFAULTS["DB_PING_AFTER_IDLE_SECONDS"] == 10.0


def test_a_walk_page_on_a_connection_the_server_dropped_says_try_again_then_works(tmp_path, request):
    # The step page reads its walk straight on the DBAPI (database.DirectRead): a dropped connection
    # is an outage for that one request (503, "try again"), is thrown away, and the next page works.
    app = _app_for("postgresql", tmp_path, request, DB_PING_AFTER_IDLE_SECONDS=3600)
    client = app.test_client()
    try:
        url = client.post("/flows/printer/start", data={"answer": "No"}).headers["Location"]
        assert client.get(url).status_code == 200
        with app.app_context():
            pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
            db.session.remove()
        admin = sa.create_engine(PG_BASE_URL)
        with admin.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        admin.dispose()
        time.sleep(0.1)
        dropped = client.get(url)
        assert dropped.status_code == 503 and dropped.headers["Retry-After"] == "30"
        page = client.get(url)
        assert page.status_code == 200 and "Switch it on" in page.get_data(as_text=True)
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_direct_read_gives_what_sqlalchemy_gives(tmp_path, request, backend):
    # Enum, JSON, boolean, missing values and an EXISTS column, read back by the columns' own types.
    app = _app_for(backend, tmp_path, request)
    client = app.test_client()
    try:
        walk_id = client.post("/flows/printer/start", data={"answer": "No"}).headers["Location"].split("/")[2]
        with app.app_context():
            engine = db.engine
            statement = sa.select(Walk.id, Walk.status, Walk.state, Walk.preview, Walk.user_id,
                                  sa.select(KnownIssue.id).where(KnownIssue.status == KnownIssueStatus.FIXED)
                                  .exists().label("any_fixed")).where(Walk.id == sa.bindparam("walk_id"))
            direct = DirectRead(statement)
            with engine.connect() as conn:
                usual = tuple(conn.execute(statement, {"walk_id": walk_id}).first())
            read = direct.first(engine, walk_id=walk_id)
            assert read == usual and read[1] is WalkStatus.ACTIVE and read[3] is False and read[4] is None
            assert read[2]["pins"] and read[5] is False
            assert direct.first(engine, walk_id="no-such-walk") is None
    finally:
        with app.app_context():
            db.engine.dispose()
