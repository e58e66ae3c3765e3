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


def test_the_idle_time_before_a_check_is_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DB_PING_AFTER_IDLE_SECONDS", "2.5")
    assert portal_config.from_environment(str(tmp_path))["DB_PING_AFTER_IDLE_SECONDS"] == 2.5
    for nonsense in ("soon", "-1", ""):  # the default stands
        monkeypatch.setenv("DB_PING_AFTER_IDLE_SECONDS", nonsense)
        assert "DB_PING_AFTER_IDLE_SECONDS" not in portal_config.from_environment(str(tmp_path))
    assert portal_config.DEFAULTS["DB_PING_AFTER_IDLE_SECONDS"] == 10.0
