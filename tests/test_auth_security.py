"""Identity attacks of the security review (issue 8), each replayed against the portal.

1  an address someone else signed up with does not show the tickets others open for it;
8  signing out ends the session, a copied cookie included;
10 sign-in and sign-up tell nobody which addresses have accounts (same work, same answer);
15 rate limits: search, tickets opened by one account, and Redis out of reach;
16 hardening: the password policy, Secure cookies and HSTS, no-store, private files, caller walks.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from pathlib import Path
from urllib.parse import urlsplit

import itsdangerous
import pytest
import sqlalchemy as sa

from portal import clock, create_app
from portal import config as portal_config
from portal.auth.services import end_sessions, verification_token
from portal.database import create_schema, private_dir
from portal.extensions import db
from portal.models import OutboxMessage, Role, SearchMiss, Ticket, User
from portal.tickets import inbound
from portal.tickets.links import ticket_key

from .conftest import PASSWORD, make_config

ATTACKER_PASSWORD = "attacker picked this"


def _user(app, email: str, role: str = "requester", password: str | None = PASSWORD, verified: bool = False) -> int:
    with app.app_context():
        user = User(email=email, name=email.split("@")[0].title(), role=Role(role))
        if password:
            user.set_password(password)
        if verified:
            user.email_verified_at = clock.now()
        db.session.add(user)
        db.session.commit()
        return user.id


def _sign_up(client, email: str, password: str = PASSWORD, name: str = "Erin", next_path: str | None = None):
    url = "/signup" + (f"?next={next_path}" if next_path else "")
    return client.post(url, data={"name": name, "email": email, "password": password, "confirm": password})


def _sign_in(client, email: str, password: str = PASSWORD):
    return client.post("/signin", data={"email": email, "password": password})


def _mails(app, kind: str | None = None) -> list:
    with app.app_context():
        query = sa.select(OutboxMessage).order_by(OutboxMessage.id)
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        return db.session.scalars(query).all()


def _link_in(message: OutboxMessage) -> str:
    """The path of the first portal link in a mail's text."""
    url = re.search(r"https?://\S+", message.body_text).group(0)
    return urlsplit(url).path + (f"?{urlsplit(url).query}" if urlsplit(url).query else "")


def _desk_logs_a_call(app, email: str, subject: str) -> Ticket:
    """A technician logs a phone call for `email` through the desk's form."""
    _user(app, "tess@example.com", role="technician", verified=True)
    desk = app.test_client()
    _sign_in(desk, "tess@example.com")
    response = desk.post("/desk/new", data={"email": email, "name": "Erin", "subject": subject,
                                            "queue": "general", "priority": "normal", "key": "call-1"})
    assert response.status_code == 303
    with app.app_context():
        return db.session.scalar(sa.select(Ticket).where(Ticket.subject == subject))


def _mail_comes_in(app, sender: str, subject: str) -> Ticket:
    raw = (f"From: Erin <{sender}>\r\nTo: help@example.com\r\nSubject: {subject}\r\n"
           f"Message-ID: <m-{abs(hash(subject))}@example.com>\r\n\r\nMy PIN for the door is 4711.\r\n").encode()
    with app.app_context():
        result = inbound.ingest(raw)
        assert result.ticket is not None
        return db.session.get(Ticket, result.ticket.id)


# --- 1: an address is confirmed before tickets others open for it show ---------------------------------------


def test_whoever_signs_up_first_with_an_address_does_not_get_its_tickets(any_app):
    attacker = any_app.test_client()
    assert _sign_up(attacker, "erin@example.com", ATTACKER_PASSWORD).status_code == 303
    _sign_in(attacker, "erin@example.com", ATTACKER_PASSWORD)
    called = _desk_logs_a_call(any_app, "erin@example.com", "Badge reader refuses Erin")
    mailed = _mail_comes_in(any_app, "erin@example.com", "Door PIN for Erin")
    attacker.post("/contact", data={"subject": "My own question", "key": "own-1"})
    with any_app.app_context():
        account = db.session.scalar(sa.select(User).where(User.email == "erin@example.com"))
        assert called.requester_id == mailed.requester_id == account.id  # attached to the account by address

    mine = attacker.get("/tickets").get_data(as_text=True)
    assert "My own question" in mine  # what the account opened itself is its own
    assert "Badge reader" not in mine and "Door PIN" not in mine
    for ticket in (called, mailed):
        assert attacker.get(f"/tickets/{ticket.number}").status_code == 404
        assert attacker.post(f"/tickets/{ticket.number}/reply", data={"body": "hi", "key": "r"}).status_code == 404
    # The person the desk mailed still gets in, through the ticket's own signed link in the email.
    [opened] = [m for m in _mails(any_app, "opened") if m.ticket_id == called.id]
    assert opened.to_address == "erin@example.com" and "key=" in _link_in(opened)
    page = any_app.test_client().get(_link_in(opened))
    assert page.status_code == 200 and "Badge reader refuses Erin" in page.get_data(as_text=True)


def test_the_confirmation_link_asks_for_the_password_then_shows_the_address_tickets(app, client):
    assert _sign_up(client, "erin@example.com", next_path="/tickets").headers["Location"] == "/signup/sent"
    assert "erin@example.com" in client.get("/signup/sent").get_data(as_text=True)
    assert "Sign out" not in client.get("/").get_data(as_text=True)  # not signed in before confirming
    called = _desk_logs_a_call(app, "erin@example.com", "Laptop for Erin")
    [mail] = _mails(app, "verify")
    assert mail.to_address == "erin@example.com"
    link = _link_in(mail)

    # A mail scanner opening the link changes nothing; the page asks for the password chosen at sign-up.
    page = client.get(link)
    assert page.status_code == 200 and "Your password" in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(User.email_verified_at)) is None
    wrong = client.post(link, data={"password": ATTACKER_PASSWORD})
    assert wrong.status_code == 200 and "doesn&#39;t match" in wrong.get_data(as_text=True)
    right = client.post(link, data={"password": PASSWORD})
    assert right.status_code == 303 and right.headers["Location"] == "/tickets"
    assert "Laptop for Erin" in client.get("/tickets").get_data(as_text=True)
    assert client.get(f"/tickets/{called.number}").status_code == 200
    # The link works once.
    assert client.get(link).status_code == 410
    assert app.test_client().post(link, data={"password": PASSWORD}).status_code == 410


def test_a_confirmation_link_expires_and_is_bound_to_the_address(app, client, monkeypatch):
    user_id = _user(app, "erin@example.com")
    with app.app_context():
        user = db.session.get(User, user_id)
        fresh = verification_token(user)
        real_timestamp = itsdangerous.timed.TimestampSigner.get_timestamp
        monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp",
                            lambda self: int(time.time()) - 4 * 24 * 3600)
        old = verification_token(user)
        monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", real_timestamp)
    assert client.get(f"/verify/{old}").status_code == 410
    assert client.get(f"/verify/{fresh[:-2]}xx").status_code == 410
    with app.app_context():
        db.session.get(User, user_id).email = "someone.else@example.com"
        db.session.commit()
    assert client.post(f"/verify/{fresh}", data={"password": PASSWORD}).status_code == 410
    with app.app_context():
        assert db.session.get(User, user_id).email_verified_at is None


def test_a_signed_in_person_can_ask_for_a_new_link(app, client):
    _user(app, "erin@example.com")
    _sign_in(client, "erin@example.com")
    assert "Confirm your email address" in client.get("/tickets").get_data(as_text=True)
    assert client.post("/verify").status_code == 303
    [mail] = _mails(app, "verify")
    form = client.get(_link_in(mail)).get_data(as_text=True)
    assert "Your password" not in form  # signed in as the link's account: one button
    client.post(_link_in(mail))
    assert "Confirm your email address" not in client.get("/tickets").get_data(as_text=True)


# --- 8: signing out ends the session ------------------------------------------------------------------------


def _copy_session(source, target) -> None:
    cookie = source.get_cookie("session")
    target.set_cookie("session", cookie.value)


def test_a_copied_session_cookie_stops_working_at_sign_out(app, client):
    _user(app, "erin@example.com")
    _sign_in(client, "erin@example.com")
    thief = app.test_client()
    _copy_session(client, thief)
    assert thief.get("/tickets").status_code == 200  # the copy works while the session lasts
    client.post("/signout")
    response = thief.get("/tickets")
    assert response.status_code == 302 and response.headers["Location"].startswith("/signin")


def test_a_password_change_or_deactivation_ends_the_sessions(app, client):
    user_id = _user(app, "erin@example.com")
    _sign_in(client, "erin@example.com")
    with app.app_context():
        db.session.get(User, user_id).set_password("a brand new passphrase")
        db.session.commit()
    assert client.get("/tickets").status_code == 302
    assert _sign_in(client, "erin@example.com", "a brand new passphrase").status_code == 303
    assert client.get("/tickets").status_code == 200
    with app.app_context():
        db.session.get(User, user_id).active = False
        db.session.commit()
    assert client.get("/tickets").status_code == 302


def test_a_forged_session_id_is_anonymous(app, client):
    user_id = _user(app, "erin@example.com")
    for forged in (str(user_id), f"{user_id}:2", f"{user_id}:x", "²:1"):
        with client.session_transaction() as session:
            session["_user_id"] = forged
        assert client.get("/tickets").status_code == 302, forged


# --- 10: no user enumeration --------------------------------------------------------------------------------


@pytest.fixture
def scrypt_calls(monkeypatch):
    """How many scrypt computations a request makes (werkzeug hashes and checks passwords with it)."""
    calls = []
    real = hashlib.scrypt

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    return calls


def test_sign_in_does_the_same_work_and_says_the_same_for_any_address(app, client, scrypt_calls):
    _user(app, "known@example.com")
    _user(app, "gone@example.com")
    _user(app, "desk-made@example.com", password=None)  # an account the desk created for a caller
    with app.app_context():
        db.session.scalar(sa.select(User).where(User.email == "gone@example.com")).active = False
        db.session.commit()
    _sign_in(client, "warm@example.com", "wrong password")  # the first unknown address makes the decoy hash
    pages = {}
    for email in ("known@example.com", "nobody@example.com", "desk-made@example.com", "gone@example.com"):
        scrypt_calls.clear()
        response = _sign_in(client, email, "wrong password")
        pages[email] = (response.status_code, response.get_data(as_text=True).replace(email, "EMAIL"))
        assert len(scrypt_calls) == 1, email
    assert len(set(pages.values())) == 1
    assert "don&#39;t match an account" in pages["nobody@example.com"][1]


def test_sign_up_answers_the_same_whether_or_not_the_address_has_an_account(app, scrypt_calls):
    _user(app, "taken@example.com")
    answers = {}
    for email in ("taken@example.com", "new@example.com"):
        client = app.test_client()
        scrypt_calls.clear()
        response = _sign_up(client, email, "another long passphrase")
        work = len(scrypt_calls)
        page = client.get(response.headers["Location"]).get_data(as_text=True).replace(email, "EMAIL")
        answers[email] = (response.status_code, response.headers["Location"], work, page)
        assert "Sign out" not in client.get("/").get_data(as_text=True)
    assert answers["taken@example.com"] == answers["new@example.com"]
    assert "already exists" not in answers["taken@example.com"][3]
    # The owner of the taken address hears about it by email; their password is unchanged.
    assert [(m.kind, m.to_address) for m in _mails(app)] == [("account-exists", "taken@example.com"),
                                                              ("verify", "new@example.com")]
    with app.app_context():
        taken = db.session.scalar(sa.select(User).where(User.email == "taken@example.com"))
        assert taken.check_password(PASSWORD) and not taken.check_password("another long passphrase")


# --- 16: hardening ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["aaaaaaaaaa", "1212121212", "password123", "qwertyuiop", "Password2024!",
                                      "1q2w3e4r5t", "iloveyou12", "erin.smith@example.com", "erin.smith1"])
def test_weak_passwords_are_refused_with_the_reason(client, runner, password):
    page = _sign_up(client, "erin.smith@example.com", password).get_data(as_text=True)
    assert 'class="field-error"' in page
    assert any(reason in page for reason in ("most common", "different characters", "email address"))
    result = runner.invoke(args=["users", "create", "erin.smith@example.com", "--password", password])
    assert result.exit_code == 2


def test_an_admin_cannot_give_an_account_a_common_password(app, client):
    _user(app, "boss@example.com", role="admin", verified=True)
    _sign_in(client, "boss@example.com")
    page = client.post("/admin/users", data={"name": "New", "email": "new@example.com", "role": "requester",
                                             "password": "password1234"}).get_data(as_text=True)
    assert "most common" in page
    with app.app_context():
        assert db.session.scalar(sa.select(User).where(User.email == "new@example.com")) is None


def test_with_an_https_public_url_cookies_are_secure_and_hsts_is_sent(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    monkeypatch.setenv("SECRET_KEY", "k" * 32)
    monkeypatch.setenv("PUBLIC_URL", "https://help.example.com")
    settings = portal_config.from_environment(str(tmp_path))
    chosen = {k: settings[k] for k in ("PUBLIC_URL", "SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE")}
    app = create_app(make_config(tmp_path, **chosen))
    with app.app_context():
        create_schema()
    _user(app, "erin@example.com")
    client = app.test_client()
    response = _sign_in(client, "erin@example.com")
    cookie = response.headers["Set-Cookie"]
    assert "session=" in cookie and "; Secure" in cookie and "HttpOnly" in cookie
    assert client.get("/").headers["Strict-Transport-Security"].startswith("max-age=")
    monkeypatch.setenv("PUBLIC_URL", "http://localhost:5000")  # the embedded default, no TLS
    assert portal_config.from_environment(str(tmp_path))["SESSION_COOKIE_SECURE"] is False
    monkeypatch.setenv("PUBLIC_URL", "https://help.example.com")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "false")  # behind a proxy that ends TLS elsewhere, say so
    assert portal_config.from_environment(str(tmp_path))["SESSION_COOKIE_SECURE"] is False


def test_without_https_no_hsts(client):
    assert "Strict-Transport-Security" not in client.get("/").headers


def test_ticket_pages_are_never_stored(app, client):
    _user(app, "erin@example.com")
    _sign_in(client, "erin@example.com")
    client.post("/contact", data={"subject": "Broken screen", "key": "s1"})
    with app.app_context():
        ticket = db.session.scalar(sa.select(Ticket))
        key = ticket_key(ticket.id)
    for response in (client.get("/tickets"), client.get(f"/tickets/{ticket.number}"),
                     app.test_client().get(f"/tickets/{ticket.number}?key={key}")):
        assert response.status_code == 200 and "no-store" in response.headers.get("Cache-Control", "")
    assert "no-store" not in client.get("/static/css/portal.css").headers.get("Cache-Control", "")


def test_the_sqlite_file_and_the_instance_folder_are_private(tmp_path):
    folder = tmp_path / "instance"
    folder.mkdir()
    old_umask = os.umask(0o022)  # what most systems have: files 644, folders 755
    try:
        app = create_app(make_config(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{folder / 'portal.db'}",
                                     AUTO_UPGRADE_DB=True))
        assert app.test_client().get("/").status_code == 200
        private_dir(str(tmp_path / "other-instance"))  # what create_app makes its instance folder with
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "other-instance").stat().st_mode) == 0o700
    assert stat.S_IMODE(os.stat(app.instance_path).st_mode) == 0o700  # the portal's own instance folder
    files = sorted(folder.glob("portal.db*"))
    assert Path(folder / "portal.db") in files
    for path in files:  # the database, its write-ahead log and shared memory
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    with app.app_context():
        db.engine.dispose()


def test_the_caller_cannot_answer_a_technicians_walk(app, client):
    _user(app, "cal@example.com")
    called = _desk_logs_a_call(app, "cal@example.com", "Printing for Cal")
    desk = app.test_client()
    _sign_in(desk, "tess@example.com")
    started = desk.post(f"/walks/with-caller/{called.number}", data={"flow": "printer", "os": "Windows"})
    walk_url = started.headers["Location"]
    step = desk.get(walk_url).headers["Location"]
    assert desk.get(step).status_code == 200
    _sign_in(client, "cal@example.com")  # the caller, signed in, with the walk's address
    assert client.get(walk_url).status_code == 404
    assert client.get(step).status_code == 404
    assert client.post(step, data={"answer": "Yes, it says Ready"}).status_code == 404
    assert client.post(walk_url + "/help").status_code == 404
    assert walk_url not in client.get("/").get_data(as_text=True)  # not offered as "continue where you left off"
    assert desk.post(step, data={"answer": "Yes, it says Ready"}).status_code == 303


# --- 15: rate limits -----------------------------------------------------------------------------------------


def _limited_app(tmp_path, **overrides):
    app = create_app(make_config(tmp_path, RATELIMIT_ENABLED=True, **overrides))
    with app.app_context():
        create_schema()
    return app


def test_search_is_rate_limited_and_stores_few_misses(tmp_path):
    app = _limited_app(tmp_path, SEARCH_RATE_LIMIT="8 per minute", SEARCH_MISS_LIMIT="3 per minute")
    client = app.test_client()
    codes = [client.get("/?q=zqxv+wobble").status_code for _ in range(6)]
    codes += [client.get("/search?q=zqxv+wobble", headers={"HX-Request": "true"}).status_code for _ in range(2)]
    assert codes == [200] * 8
    refused = client.get("/?q=zqxv+wobble")
    assert refused.status_code == 429 and "Too many attempts" in refused.get_data(as_text=True)
    as_you_type = client.get("/search?q=zqxv+wobble", headers={"HX-Request": "true"})  # said next to the box
    assert as_you_type.status_code == 429 and "HX-Retarget" not in as_you_type.headers
    assert client.get("/").status_code == 200  # the start page without a search is never refused
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SearchMiss)) == 3
        db.engine.dispose()


def test_one_account_cannot_open_dozens_of_tickets_in_seconds(tmp_path):
    app = _limited_app(tmp_path)
    _user(app, "erin@example.com")
    client = app.test_client()
    _sign_in(client, "erin@example.com")
    codes = [client.post("/contact", data={"subject": f"Flood {n}", "key": f"k{n}"}).status_code for n in range(5)]
    codes += [client.post("/flows/printer/start?help=1").status_code for _ in range(20)]
    with app.app_context():
        opened = db.session.scalar(sa.select(sa.func.count()).select_from(Ticket))
        db.engine.dispose()
    assert opened == app.config["TICKETS_PER_HOUR"] == 10
    assert codes.count(429) >= 15
    page = client.post("/contact", data={"subject": "One more", "key": "k-last"})
    assert page.status_code == 429 and "opened several tickets" in page.get_data(as_text=True)


def test_limits_still_hold_when_redis_is_out_of_reach(tmp_path):
    app = _limited_app(tmp_path, RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")  # nothing listens on port 1
    _user(app, "erin@example.com")
    client = app.test_client()
    codes = [_sign_in(client, "erin@example.com", f"guess number {n}").status_code for n in range(15)]
    assert codes[:10] == [200] * 10 and codes[10:] == [429] * 5
    with app.app_context():
        db.engine.dispose()


def test_a_form_sent_in_place_after_the_session_ended_is_answered_in_place(app, client):
    # Signed out everywhere from another computer: a reply sent with htmx is refused where it was typed
    # (401, the page stays), a plain form still leads to the sign-in page; nothing is saved either way.
    ticket = _desk_logs_a_call(app, "ann@example.com", "Fan noise")  # Tess, a technician, logs it
    _sign_in(client, "tess@example.com")
    with app.app_context():
        end_sessions(db.session.scalar(sa.select(User).where(User.email == "tess@example.com")))
    url = f"/desk/tickets/{ticket.number}/reply"
    in_place = client.post(url, data={"body": "Restart it", "key": "r1"}, headers={"HX-Request": "true"})
    assert in_place.status_code == 401 and "HX-Redirect" not in in_place.headers
    assert "signed out" in in_place.get_data(as_text=True)
    plain = client.post(url, data={"body": "Restart it", "key": "r2"})
    assert plain.status_code == 302 and urlsplit(plain.headers["Location"]).path == "/signin"
    with app.app_context():
        assert db.session.get(Ticket, ticket.id).messages == []
