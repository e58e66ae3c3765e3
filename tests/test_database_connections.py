"""Pooled PostgreSQL connections: a connection the server dropped while it sat idle is replaced, unseen."""

import time

import sqlalchemy as sa

from portal import config as portal_config
from portal.extensions import db

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
