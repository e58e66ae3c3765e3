"""Getting back in (issue 9, items 2 and 7): forgot password, invitations, admin edits, and sessions.

Reset links and invitations work once, expire, and are bound to one account; "Forgot your
password?" and sign-up tell nobody which addresses have accounts (same answer, same work); a
password set from a link signs the person in and ends every other session; "Sign out everywhere"
ends every session and remember cookie; "Remember me" and the session lifetime are settings.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit

import itsdangerous
import pytest
import sqlalchemy as sa

from portal import clock
from portal import config as portal_config
from portal.auth import password_links, recovery
from portal.auth.services import AccountError
from portal.database import create_schema
from portal.extensions import db
from portal.models import OutboxMessage, Role, User

from .conftest import PASSWORD, _app_for, _build, make_config

NEW_PASSWORD = "a brand new passphrase"


def _user(app, email: str, role: str = "requester", password: str | None = PASSWORD, verified: bool = True,
          active: bool = True) -> int:
    with app.app_context():
        user = User(email=email, name=email.split("@")[0].title(), role=Role(role), active=active)
        if password:
            user.set_password(password)
        if verified:
            user.email_verified_at = clock.now()
        db.session.add(user)
        db.session.commit()
        return user.id


def _get_user(app, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def _sign_in(client, email: str, password: str = PASSWORD, remember: bool = False):
    data = {"email": email, "password": password}
    if remember:
        data["remember"] = "y"
    return client.post("/signin", data=data)


def _signed_in(client) -> bool:
    return client.get("/tickets").status_code == 200


def _mails(app, kind: str | None = None) -> list[OutboxMessage]:
    with app.app_context():
        query = sa.select(OutboxMessage).order_by(OutboxMessage.id)
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        return db.session.scalars(query).all()


def _link_in(message: OutboxMessage) -> str:
    """The path of the first portal link in a mail's text."""
    url = urlsplit(re.search(r"https?://\S+", message.body_text).group(0))
    return url.path + (f"?{url.query}" if url.query else "")


def _page(response, email: str) -> str:
    """The page's text with the address typed and the session's CSRF token taken out."""
    return re.sub(r'"X-CSRFToken": "[^"]*"', "", response.get_data(as_text=True).replace(email, "EMAIL"))


def _forgot(client, email: str):
    return client.post("/password/forgot", data={"email": email})


def _choose(client, link: str, password: str = NEW_PASSWORD):
    return client.post(link, data={"password": password, "confirm": password})


@pytest.fixture
def hash_calls(monkeypatch):
    """Every hash a request computes: scrypt (passwords), SHA-1 (itsdangerous signatures), SHA-256 (fingerprints)."""
    calls = []
    for name in ("scrypt", "sha1", "sha256"):
        real = getattr(hashlib, name)

        def counting(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(hashlib, name, counting)
    return calls


def _token_signed_at(monkeypatch, seconds_ago: int, make):
    """What `make()` returns when itsdangerous signs as if it were `seconds_ago` seconds ago."""
    real = itsdangerous.timed.TimestampSigner.get_timestamp
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp",
                        lambda self: int(time.time()) - seconds_ago)
    try:
        return make()
    finally:
        monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", real)


# --- Forgot your password? ----------------------------------------------------------------------------------


def test_forgot_password_is_linked_from_sign_in(client):
    page = client.get("/signin").get_data(as_text=True)
    assert 'href="/password/forgot"' in page and "Forgot your password?" in page
    assert "Remember me" in page


def test_forgot_password_says_the_same_and_does_the_same_work_for_any_address(app, hash_calls):
    _user(app, "known@example.com")
    _user(app, "desk-made@example.com", password=None, verified=False)
    _user(app, "gone@example.com", active=False)
    answers = {}
    for email in ("known@example.com", "nobody@example.com", "desk-made@example.com", "gone@example.com"):
        client = app.test_client()
        hash_calls.clear()
        response = _forgot(client, email)
        work = tuple(sorted(hash_calls))
        page = client.get(response.headers["Location"])
        answers[email] = (response.status_code, response.headers["Location"], work,
                          page.status_code, _page(page, email))
    assert len({work for _, _, work, _, _ in answers.values()}) == 1, {k: Counter(v[2]) for k, v in answers.items()}
    assert len(set(answers.values())) == 1
    status, location, work, _, page = answers["nobody@example.com"]
    assert status == 303 and location == "/password/forgot/sent"
    assert "If an account uses <strong>EMAIL</strong>, we've sent a link" in " ".join(page.split())
    assert "sha256" in work  # the work counted includes the link's fingerprint, for a stand-in too
    # Each address gets one email; only the accounts that can sign in get a link that works.
    mails = {m.to_address: m for m in _mails(app)}
    assert sorted(mails) == sorted(answers) and all(m.kind == "password-reset" for m in mails.values())
    assert "/password/reset/" in mails["known@example.com"].body_text
    assert "/password/reset/" in mails["desk-made@example.com"].body_text
    for email in ("nobody@example.com", "gone@example.com"):
        assert "/password/reset/" not in mails[email].body_text
        assert "no account that can sign in uses it" in mails[email].body_text.replace("\n", " ")


def test_a_reset_link_sets_the_password_signs_in_and_ends_every_other_session(app):
    user_id = _user(app, "erin@example.com", verified=False)
    laptop, phone = app.test_client(), app.test_client()
    _sign_in(laptop, "erin@example.com")
    _sign_in(phone, "erin@example.com", remember=True)
    remember_only = app.test_client()
    remember_only.set_cookie("remember_token", phone.get_cookie("remember_token").value)
    assert _signed_in(laptop) and _signed_in(remember_only)

    browser = app.test_client()
    _forgot(browser, "erin@example.com")
    [mail] = _mails(app, "password-reset")
    assert mail.subject == "Reset your IT Help password" and "2 hours" in mail.body_text
    link = _link_in(mail)
    page = browser.get(link)  # opening the link changes nothing (a mail scanner may open it)
    assert page.status_code == 200 and "erin@example.com" in page.get_data(as_text=True)
    assert _get_user(app, user_id).check_password(PASSWORD)

    response = _choose(browser, link)
    assert response.status_code == 303 and response.headers["Location"] == "/tickets"
    assert _signed_in(browser)
    assert not _signed_in(laptop) and not _signed_in(phone) and not _signed_in(remember_only)
    user = _get_user(app, user_id)
    assert user.check_password(NEW_PASSWORD) and not user.check_password(PASSWORD)
    assert user.email_verified_at is not None  # the link proved the mailbox is theirs
    assert _sign_in(app.test_client(), "erin@example.com", NEW_PASSWORD).status_code == 303


def test_a_reset_link_works_once(app):
    _user(app, "erin@example.com")
    _forgot(app.test_client(), "erin@example.com")
    link = _link_in(_mails(app, "password-reset")[0])
    assert _choose(app.test_client(), link).status_code == 303
    again = app.test_client()
    assert again.get(link).status_code == 410
    assert "no longer works" in again.get(link).get_data(as_text=True)
    assert _choose(again, link, "yet another passphrase").status_code == 410
    assert not _signed_in(again)


def test_a_reset_link_expires(app, monkeypatch):
    user_id = _user(app, "erin@example.com")

    def token():
        with app.test_request_context():
            return password_links.token(db.session.get(User, user_id), password_links.RESET)

    almost = _token_signed_at(monkeypatch, 2 * 3600 - 60, token)
    expired = _token_signed_at(monkeypatch, 2 * 3600 + 60, token)
    assert app.test_client().get(f"/password/reset/{almost}").status_code == 200
    assert _choose(app.test_client(), f"/password/reset/{expired}").status_code == 410
    app.config["RESET_LINK_HOURS"] = 3  # the lifetime is a setting
    assert app.test_client().get(f"/password/reset/{expired}").status_code == 200
    assert _get_user(app, user_id).check_password(PASSWORD)


def test_a_link_is_bound_to_its_account(app):
    ann_id = _user(app, "ann@example.com")
    bob_id = _user(app, "bob@example.com")
    _forgot(app.test_client(), "ann@example.com")
    link = _link_in(_mails(app, "password-reset")[0])
    token = link.rsplit("/", 1)[1]
    # Ann's link, used by Bob while he is signed in, still sets Ann's password, never Bob's.
    bob = app.test_client()
    _sign_in(bob, "bob@example.com")
    assert _choose(bob, link).status_code == 303
    assert _get_user(app, ann_id).check_password(NEW_PASSWORD)
    assert _get_user(app, bob_id).check_password(PASSWORD)
    # A payload edited to name another account fails its signature; a reset link is no invitation.
    payload, rest = token.split(".", 1)
    forged = itsdangerous.encoding.base64_encode(
        itsdangerous.encoding.base64_decode(payload).replace(str(ann_id).encode(), str(bob_id).encode())).decode()
    assert app.test_client().get(f"/password/reset/{forged}.{rest}").status_code == 410
    _forgot(app.test_client(), "bob@example.com")
    bob_token = _link_in(_mails(app, "password-reset")[-1]).rsplit("/", 1)[1]
    assert app.test_client().get(f"/invitation/{bob_token}").status_code == 410
    assert _get_user(app, bob_id).check_password(PASSWORD)


def test_a_link_dies_with_a_new_password_a_sign_out_everywhere_or_a_new_address(app):
    user_id = _user(app, "erin@example.com")
    client = app.test_client()

    def fresh_link() -> str:
        _forgot(app.test_client(), "erin@example.com")
        return _link_in(_mails(app, "password-reset")[-1])

    link = fresh_link()
    with app.app_context():
        db.session.get(User, user_id).set_password("changed some other way")
        db.session.commit()
    assert client.get(link).status_code == 410
    link = fresh_link()
    _sign_in(client, "erin@example.com", "changed some other way")
    client.post("/signout/everywhere")
    assert client.get(link).status_code == 410
    link = fresh_link()
    with app.app_context():
        db.session.get(User, user_id).email = "erin.new@example.com"
        db.session.commit()
    assert client.get(link).status_code == 410


def test_the_new_password_follows_the_policy(app):
    user_id = _user(app, "erin.smith@example.com")
    _forgot(app.test_client(), "erin.smith@example.com")
    link = _link_in(_mails(app, "password-reset")[0])
    client = app.test_client()
    for weak, reason in (("short", "at least 10"), ("password1234", "most common"),
                         ("erin.smith@example.com", "email address")):
        page = _choose(client, link, weak)
        assert page.status_code == 200 and reason in page.get_data(as_text=True)
    page = client.post(link, data={"password": NEW_PASSWORD, "confirm": "something else entirely"})
    assert "not the same" in page.get_data(as_text=True)
    assert _get_user(app, user_id).check_password(PASSWORD)
    assert _choose(client, link).status_code == 303  # refusals did not use the link up


def test_without_local_passwords_there_is_nothing_to_reset(tmp_path, request):
    app = _app_for("sqlite", tmp_path, request, LOCAL_LOGIN=False, OIDC_ISSUER="https://login.example.com",
                   OIDC_CLIENT_ID="portal", OIDC_CLIENT_SECRET="secret")
    assert app.test_client().get("/password/forgot").status_code == 404
    assert _forgot(app.test_client(), "erin@example.com").status_code == 404
    # Nobody is mailed a link to a page that isn't there: no invitations, no links from admins.
    carl_id = _user(app, "carl@example.com", password=None, verified=False)
    with app.test_request_context():
        carl = db.session.get(User, carl_id)
        assert recovery.invite(carl) is False
        with pytest.raises(AccountError, match="LOCAL_LOGIN=false"):
            recovery.send_password_link(carl)
        recovery.invite_new_account("nina@example.com", name="Nina")
    assert _mails(app) == []


# --- Invitations -------------------------------------------------------------------------------------------


def _desk_logs_a_call(app, email: str, subject: str, key: str = "call-1"):
    """A technician (tess@, made by the test) logs a phone call for `email` through the desk's form."""
    desk = app.test_client()
    _sign_in(desk, "tess@example.com")
    response = desk.post("/desk/new", data={"email": email, "name": "Carl Caller", "subject": subject,
                                            "queue": "general", "priority": "normal", "key": key})
    assert response.status_code == 303
    return desk


def test_a_caller_the_desk_made_an_account_for_is_invited_and_then_sees_the_ticket(app):
    _user(app, "tess@example.com", role="technician")
    desk = _desk_logs_a_call(app, "carl@example.com", "Carl's screen flickers")
    assert "emailed them an invitation" in desk.get("/desk/").get_data(as_text=True)
    [invitation] = _mails(app, "invitation")
    assert invitation.to_address == "carl@example.com" and "7 days" in invitation.body_text
    with app.app_context():
        carl = db.session.scalar(sa.select(User).where(User.email == "carl@example.com"))
        assert carl.password_hash is None and carl.email_verified_at is None
    # A second call for Carl (his account exists now) sends no second invitation.
    _desk_logs_a_call(app, "carl@example.com", "Carl's mouse", key="call-2")
    assert len(_mails(app, "invitation")) == 1

    caller = app.test_client()
    page = caller.get(_link_in(invitation)).get_data(as_text=True)
    assert "Choose your password" in page and "carl@example.com" in page
    assert _choose(caller, _link_in(invitation)).status_code == 303
    mine = caller.get("/tickets").get_data(as_text=True)
    assert "Carl&#39;s screen flickers" in mine and "Carl&#39;s mouse" in mine
    with app.app_context():
        assert db.session.scalar(sa.select(User.email_verified_at).where(User.email == "carl@example.com"))
    assert app.test_client().get(_link_in(invitation)).status_code == 410  # single-use


def test_an_invitation_lasts_invite_link_days(app, monkeypatch):
    user_id = _user(app, "carl@example.com", password=None, verified=False)

    def token():
        with app.test_request_context():
            return password_links.token(db.session.get(User, user_id), password_links.INVITE)

    six_days = _token_signed_at(monkeypatch, 6 * 86400, token)
    eight_days = _token_signed_at(monkeypatch, 8 * 86400, token)
    assert app.test_client().get(f"/invitation/{six_days}").status_code == 200
    assert app.test_client().get(f"/invitation/{eight_days}").status_code == 410
    app.config["INVITE_LINK_DAYS"] = 10
    assert app.test_client().get(f"/invitation/{eight_days}").status_code == 200


def test_signing_up_with_the_address_of_an_account_without_a_password_sends_the_invitation(app, hash_calls):
    _user(app, "carl@example.com", password=None, verified=False)
    answers = {}
    for email in ("carl@example.com", "new@example.com"):
        client = app.test_client()
        hash_calls.clear()
        response = client.post("/signup", data={"name": "Carl", "email": email, "password": NEW_PASSWORD,
                                                "confirm": NEW_PASSWORD})
        scrypt = hash_calls.count("scrypt")
        page = _page(client.get(response.headers["Location"]), email)
        answers[email] = (response.status_code, response.headers["Location"], scrypt, page)
    assert answers["carl@example.com"] == answers["new@example.com"]
    [invitation] = _mails(app, "invitation")
    assert invitation.to_address == "carl@example.com"
    client = app.test_client()
    assert _choose(client, _link_in(invitation), "carl chose this one").status_code == 303
    assert _sign_in(app.test_client(), "carl@example.com", "carl chose this one").status_code == 303


def test_an_admin_adds_an_account_by_invitation(app):
    _user(app, "boss@example.com", role="admin")
    admin = app.test_client()
    _sign_in(admin, "boss@example.com")
    response = admin.post("/admin/users", data={"name": "Nina New", "email": "nina@example.com",
                                                "role": "technician", "password": ""})
    assert response.status_code == 303
    assert "emailed them an invitation" in admin.get(response.headers["Location"]).get_data(as_text=True)
    [invitation] = _mails(app, "invitation")
    assert invitation.to_address == "nina@example.com"
    with app.app_context():
        nina = db.session.scalar(sa.select(User).where(User.email == "nina@example.com"))
        assert nina.role == Role.TECHNICIAN and nina.password_hash is None
    nina_browser = app.test_client()
    response = _choose(nina_browser, _link_in(invitation))
    assert response.status_code == 303 and response.headers["Location"] == "/desk/"  # staff land on the queue


# --- Admins: a reset link, and name and email ------------------------------------------------------------


@pytest.fixture
def admin(app):
    _user(app, "boss@example.com", role="admin")
    client = app.test_client()
    _sign_in(client, "boss@example.com")
    return client


def test_an_admin_sends_a_reset_link_or_an_invitation(app, admin):
    erin = _user(app, "erin@example.com")
    carl = _user(app, "carl@example.com", password=None, verified=False)
    gone = _user(app, "gone@example.com", active=False)
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "Send password link" in page and "Send invitation" in page and "No password yet" in page

    response = admin.post(f"/admin/users/{erin}/password-link", headers={"HX-Request": "true"})
    assert f'id="user-{erin}"' in response.get_data(as_text=True)
    assert "Sent erin@example.com a link to choose a new password (it works for 2 hours)." in \
        response.get_data(as_text=True)
    admin.post(f"/admin/users/{carl}/password-link")
    refused = admin.post(f"/admin/users/{gone}/password-link", headers={"HX-Request": "true"})
    assert "Reactivate it first" in refused.get_data(as_text=True)
    assert [(m.kind, m.to_address) for m in _mails(app)] == [("password-reset", "erin@example.com"),
                                                             ("invitation", "carl@example.com")]
    assert _get_user(app, erin).check_password(PASSWORD)  # nothing changes until Erin uses the link
    assert _choose(app.test_client(), _link_in(_mails(app)[0])).status_code == 303
    assert _get_user(app, erin).check_password(NEW_PASSWORD)


def test_an_admin_edits_a_name_and_an_address(app, admin):
    erin = _user(app, "erin@example.com")
    _user(app, "taken@example.com")
    _forgot(app.test_client(), "erin@example.com")
    old_link = _link_in(_mails(app, "password-reset")[0])
    page = admin.get(f"/admin/users/{erin}").get_data(as_text=True)
    assert 'value="erin@example.com"' in page

    taken = admin.post(f"/admin/users/{erin}", data={"name": "Erin", "email": "TAKEN@example.com"})
    assert taken.status_code == 200 and "There is already an account for taken@example.com." in \
        taken.get_data(as_text=True)
    response = admin.post(f"/admin/users/{erin}", data={"name": "Erin Smith", "email": "Erin.Smith@Example.com"})
    assert response.status_code == 303
    assert "we&#39;ve emailed a link there" in admin.get(response.headers["Location"]).get_data(as_text=True)
    user = _get_user(app, erin)
    assert (user.name, user.email, user.email_verified_at) == ("Erin Smith", "erin.smith@example.com", None)
    [confirm] = _mails(app, "verify")
    assert confirm.to_address == "erin.smith@example.com" and "/verify/" in confirm.body_text
    assert app.test_client().get(old_link).status_code == 410  # a link mailed to the old address is void
    # The owner of the new address confirms it with the account's password.
    client = app.test_client()
    assert client.post(_link_in(confirm), data={"password": PASSWORD}).status_code == 303
    assert _get_user(app, erin).email_verified_at is not None


def test_a_new_address_of_an_account_without_a_password_gets_the_invitation(app, admin):
    carl = _user(app, "carl@example.com", password=None, verified=False)
    admin.post(f"/admin/users/{carl}", data={"name": "Carl", "email": "carl.c@example.com"})
    [invitation] = _mails(app, "invitation")
    assert invitation.to_address == "carl.c@example.com"


# --- Sessions -------------------------------------------------------------------------------------------


def test_sign_out_everywhere_ends_every_session_and_remember_cookie(app):
    user_id = _user(app, "erin@example.com")
    here, laptop, phone = app.test_client(), app.test_client(), app.test_client()
    _sign_in(here, "erin@example.com")
    _sign_in(laptop, "erin@example.com")
    _sign_in(phone, "erin@example.com", remember=True)
    remember_only = app.test_client()
    remember_only.set_cookie("remember_token", phone.get_cookie("remember_token").value)
    assert _signed_in(remember_only)
    page = here.get("/password").get_data(as_text=True)
    assert "Sign out everywhere" in page

    response = here.post("/signout/everywhere")
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert "signed out everywhere" in here.get("/").get_data(as_text=True)
    for client in (here, laptop, phone, remember_only):
        assert not _signed_in(client)
    assert _get_user(app, user_id).check_password(PASSWORD)  # the password stays
    assert _sign_in(app.test_client(), "erin@example.com").status_code == 303


def test_remember_me_keeps_a_person_signed_in_for_remember_cookie_days(app):
    _user(app, "erin@example.com")
    plain = app.test_client()
    _sign_in(plain, "erin@example.com")
    assert plain.get_cookie("remember_token") is None
    remembered = app.test_client()
    _sign_in(remembered, "erin@example.com", remember=True)
    cookie = remembered.get_cookie("remember_token")
    days = (cookie.expires - clock.now()).total_seconds() / 86400
    assert 29.9 < days <= 30
    # A browser that was closed (the session cookie gone) is still signed in with the remember cookie.
    reopened = app.test_client()
    reopened.set_cookie("remember_token", cookie.value)
    assert _signed_in(reopened)
    # Signing out forgets it in this browser.
    reopened.post("/signout")
    assert reopened.get_cookie("remember_token") is None


def test_a_session_lasts_session_lifetime_days(app, monkeypatch):
    _user(app, "erin@example.com")

    def signed_in_days_ago(days: int) -> bool:
        client = app.test_client()
        _token_signed_at(monkeypatch, days * 86400, lambda: _sign_in(client, "erin@example.com"))
        return _signed_in(client)

    assert signed_in_days_ago(6)
    assert not signed_in_days_ago(8)  # PERMANENT_SESSION_LIFETIME, 7 days by default


def test_a_session_already_seen_still_ends_at_its_lifetime(app, monkeypatch):
    # Each cookie's signature is checked once per process (web.SessionInterface); its age never is skipped.
    _user(app, "erin@example.com")
    client = app.test_client()
    _sign_in(client, "erin@example.com")
    assert _signed_in(client) and _signed_in(client)
    eight_days_on = time.time() + 8 * 86400
    monkeypatch.setattr(time, "time", lambda: eight_days_on)
    assert not _signed_in(client)


def test_session_and_link_lifetimes_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SECRET_KEY", "k")
    for name, value in (("SESSION_LIFETIME_DAYS", "1"), ("REMEMBER_COOKIE_DAYS", "14"),
                        ("RESET_LINK_HOURS", "1"), ("INVITE_LINK_DAYS", "3")):
        monkeypatch.setenv(name, value)
    settings = portal_config.from_environment(str(tmp_path))
    assert settings["PERMANENT_SESSION_LIFETIME"] == timedelta(days=1)
    assert settings["REMEMBER_COOKIE_DURATION"] == timedelta(days=14)
    assert (settings["RESET_LINK_HOURS"], settings["INVITE_LINK_DAYS"]) == (1, 3)
    defaults = portal_config.DEFAULTS
    assert defaults["PERMANENT_SESSION_LIFETIME"] == timedelta(days=7)
    assert defaults["REMEMBER_COOKIE_DURATION"] == timedelta(days=30)
    assert (defaults["RESET_LINK_HOURS"], defaults["INVITE_LINK_DAYS"]) == (2, 7)


def test_changing_the_password_keeps_this_session_and_ends_the_others(app):
    user_id = _user(app, "erin@example.com")
    here, laptop = app.test_client(), app.test_client()
    _sign_in(here, "erin@example.com", remember=True)
    _sign_in(laptop, "erin@example.com")
    wrong = here.post("/password", data={"current": "not my password", "password": NEW_PASSWORD,
                                         "confirm": NEW_PASSWORD})
    assert wrong.status_code == 200 and "isn&#39;t your current password" in wrong.get_data(as_text=True)
    assert _get_user(app, user_id).check_password(PASSWORD)
    response = here.post("/password", data={"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 303
    assert _signed_in(here) and not _signed_in(laptop)
    reopened = app.test_client()  # "Remember me" of this browser carries the new session version
    reopened.set_cookie("remember_token", here.get_cookie("remember_token").value)
    assert _signed_in(reopened)
    assert _get_user(app, user_id).check_password(NEW_PASSWORD)


def test_an_account_without_a_password_can_ask_for_a_link_from_its_password_page(app):
    user_id = _user(app, "sso@example.com", password=None)
    client = app.test_client()
    with client.session_transaction() as session:  # signed in some other way (single sign-on)
        session["_user_id"] = f"{user_id}:1"
        session["_fresh"] = True
    page = client.get("/password").get_data(as_text=True)
    assert "no password yet" in page and "Current password" not in page
    assert client.post("/password/link").status_code == 303
    [invitation] = _mails(app, "invitation")
    assert invitation.to_address == "sso@example.com"


def test_recovery_pages_need_no_sign_in_but_the_password_page_does(client):
    assert client.get("/password/forgot").status_code == 200
    assert client.get("/password/forgot/sent").status_code == 200
    assert client.get("/password").status_code == 302
    assert client.post("/signout/everywhere").status_code == 303


def test_forgot_password_is_limited_per_address(tmp_path):
    app = _build(make_config(tmp_path, RATELIMIT_ENABLED=True))
    with app.app_context():
        create_schema()
    statuses = [_forgot(app.test_client(), "erin@example.com").status_code for _ in range(4)]
    assert statuses == [303, 303, 303, 429]
    assert _forgot(app.test_client(), "someone.else@example.com").status_code == 303  # another mailbox
    assert len(_mails(app)) == 4
