"""The Profile page: name, time zone, email on each reply, and an email change that waits for its link."""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from portal import timefmt
from portal.auth import profile
from portal.extensions import db
from portal.models import OutboxMessage, User

from .conftest import PASSWORD
from .test_desk import Clock

T0 = datetime(2026, 11, 29, 13, 5, tzinfo=UTC)


def person(app, email: str, role: str = "requester", password: str | None = PASSWORD, **fields) -> int:
    with app.app_context():
        user = User(email=email, name=email.split("@")[0].title(), role=role, email_verified_at=T0, **fields)
        if password:
            user.set_password(password)
        db.session.add(user)
        db.session.commit()
        return user.id


def browser(app, email: str | None = None, password: str = PASSWORD):
    client = app.test_client()
    if email:
        assert client.post("/signin", data={"email": email, "password": password}).status_code == 303
    return client


def account(app, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def mails(app) -> list[OutboxMessage]:
    with app.app_context():
        found = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
        for m in found:
            db.session.expunge(m)
        return found


def link_in(mail: OutboxMessage) -> str:
    return re.search(r"/profile/email/\S+", mail.body_text).group(0)


def field_error(html: str, field_id: str) -> str:
    """The error shown under the field `field_id`, or ""."""
    found = re.search(rf'<p class="field-error" id="{field_id}-error">([^<]*)</p>', html)
    return found.group(1) if found else ""


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch, at=T0)


# -- the page ---------------------------------------------------------------------------------------


def test_the_profile_link_is_in_the_navigation_for_people_signed_in(app):
    person(app, "ann@example.com")
    assert ">Profile</a>" not in browser(app).get("/").get_data(as_text=True)
    assert '<a href="/profile">Profile</a>' in browser(app, "ann@example.com").get("/").get_data(as_text=True)
    signed_out = browser(app).get("/profile")
    assert signed_out.status_code == 302 and "/signin?next=" in signed_out.headers["Location"]


def test_the_page_offers_every_zone_sorted_with_the_default_first(app):
    person(app, "ann@example.com")
    html = browser(app, "ann@example.com").get("/profile").get_data(as_text=True)
    options = re.findall(r'<option (?:selected )?value="([^"]*)"', html)
    assert options[0] == "" and "The help desk&#39;s default (UTC)" in html
    assert options[1:] == sorted(options[1:]) == list(timefmt.zone_names())
    assert {"Europe/Paris", "America/New_York", "Asia/Kolkata", "UTC"} <= set(options)
    assert "localtime" not in options and "Factory" not in options
    assert 'value="ann@example.com"' not in html  # the new-address field starts empty; the address is shown
    assert "Your address is <strong>ann@example.com</strong>" in html


def test_saving_the_profile_changes_name_zone_and_reply_emails(app, clock):
    ann = person(app, "ann@example.com")
    client = browser(app, "ann@example.com")
    saved = client.post("/profile", data={"name": "Ann Lee", "time_zone": "Europe/Paris"})  # box unticked
    assert saved.status_code == 303 and saved.headers["Location"] == "/profile"
    user = account(app, ann)
    assert (user.name, user.time_zone, user.email_on_reply) == ("Ann Lee", "Europe/Paris", False)
    page = client.get("/profile").get_data(as_text=True)
    assert "Your profile is saved." in page
    assert '<option selected value="Europe/Paris">' in page and "Now: Europe/Paris, 14:05 CET." in page
    assert 'checked id="email_on_reply"' not in page
    assert "data-browser-time-zone " not in page  # a zone of their own: the browser's is not suggested
    client.post("/profile", data={"name": "Ann Lee", "time_zone": "", "email_on_reply": "y"})
    user = account(app, ann)
    assert (user.time_zone, user.email_on_reply) == (None, True)  # back to the portal's default


@pytest.mark.parametrize("zone", ["Mars/Olympus", "localtime", "europe/paris", "Etc/GMT+99", "<b>x</b>"])
def test_a_zone_that_is_not_one_is_refused_next_to_the_field(app, zone):
    ann = person(app, "ann@example.com", time_zone="Asia/Tokyo")
    page = browser(app, "ann@example.com").post("/profile", data={"name": "Ann Lee", "time_zone": zone})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert field_error(html, "time_zone") == "Choose a time zone from the list, such as Europe/Paris."
    assert 'aria-describedby="time_zone-help time_zone-error"' in html and 'aria-invalid="true"' in html
    assert 'value="Ann Lee"' in html  # what was typed is kept
    assert account(app, ann).time_zone == "Asia/Tokyo" and account(app, ann).name == "Ann"


def test_a_name_is_needed(app):
    person(app, "ann@example.com")
    html = browser(app, "ann@example.com").post("/profile", data={"name": "  ", "time_zone": ""}).get_data(True)
    assert field_error(html, "name") == "Enter your name."


def test_without_a_zone_the_browser_may_suggest_one(app):
    person(app, "ann@example.com")
    html = browser(app, "ann@example.com").get("/profile").get_data(as_text=True)
    assert re.search(r"<select [^>]*data-browser-time-zone [^>]*id=\"time_zone\"", html)
    assert 'id="time_zone-suggested" hidden' in html and "js/timezone.js" in html


# -- email on each reply ----------------------------------------------------------------------------


def reply_and_resolve(app, requester: str) -> list[tuple[str, str]]:
    """The requester opens a ticket, a technician replies, notes, and resolves it: the mails sent, (kind, to)."""
    browser(app, requester).post("/contact", data={"subject": "VPN drops", "description": "Every hour"})
    person(app, "tess@example.com", role="technician")
    tess = browser(app, "tess@example.com")
    tess.post("/desk/tickets/1001/reply", data={"body": "Try the new profile", "kind": "reply", "key": "k1"})
    tess.post("/desk/tickets/1001/reply", data={"body": "Known issue", "kind": "note", "key": "k2"})
    tess.post("/desk/tickets/1001/status", data={"status": "resolved"})
    return [(m.kind, m.to_address) for m in mails(app)]


def test_with_email_on_reply_off_replies_are_not_mailed_but_opened_and_resolved_are(app):
    person(app, "ann@example.com", email_on_reply=False)
    sent = reply_and_resolve(app, "ann@example.com")
    assert sent == [("opened", "ann@example.com"), ("resolved", "ann@example.com")]
    reply_page = browser(app, "ann@example.com").get("/tickets/1001").get_data(as_text=True)
    assert "Try the new profile" in reply_page  # the reply is on the ticket's page all the same


def test_with_email_on_reply_on_each_reply_is_mailed(app):
    person(app, "ann@example.com")
    sent = reply_and_resolve(app, "ann@example.com")
    assert sent == [("opened", "ann@example.com"), ("reply", "ann@example.com"), ("resolved", "ann@example.com")]


# -- changing the email address ---------------------------------------------------------------------


def ask_change(client, new: str, password: str = PASSWORD):
    return client.post("/profile/email", data={"email": new, "password": password})


def test_a_new_address_takes_effect_only_through_its_link(app, clock):
    ann = person(app, "ann@example.com")
    client = browser(app, "ann@example.com")
    asked = ask_change(client, "Ann.Lee@New.example")
    assert asked.status_code == 303
    page = client.get("/profile").get_data(as_text=True)
    assert "We&#39;ve sent a link to ann.lee@new.example" in page and "Your address is <strong>ann@example.com" in page
    assert account(app, ann).email == "ann@example.com"  # nothing changed yet
    [mail] = mails(app)
    assert mail.to_address == "ann.lee@new.example" and "Confirm your new email address" in mail.subject
    assert browser(app, "ann@example.com")  # the old address still signs in

    link = link_in(mail)
    confirm = client.get(link)
    assert confirm.status_code == 200 and "ann.lee@new.example" in confirm.get_data(as_text=True)
    assert account(app, ann).email == "ann@example.com"  # opening the link (a mail scanner) changes nothing
    done = client.post(link)
    assert done.status_code == 303 and done.headers["Location"] == "/profile"
    user = account(app, ann)
    assert user.email == "ann.lee@new.example" and user.email_verified_at == T0
    notice = mails(app)[-1]
    assert notice.to_address == "ann@example.com" and notice.kind == "email-changed"
    assert "ann.lee@new.example" in notice.body_text and "/contact" in notice.body_text
    assert "Your email address is now ann.lee@new.example." in client.get("/profile").get_data(as_text=True)
    browser(app, "ann.lee@new.example")  # signs in with the new address


def test_the_link_works_once(app, clock):
    ann = person(app, "ann@example.com")
    client = browser(app, "ann@example.com")
    ask_change(client, "ann@new.example")
    link = link_in(mails(app)[0])
    client.post(link)
    again = client.post(link)
    assert again.status_code == 410 and "no longer works" in again.get_data(as_text=True)
    assert client.get(link).status_code == 410
    assert account(app, ann).email == "ann@new.example"


def test_the_link_is_bound_to_the_account_that_asked(app, clock):
    person(app, "ann@example.com")
    bob = person(app, "bob@example.com")
    ask_change(browser(app, "ann@example.com"), "shared@new.example")
    link = link_in(mails(app)[0])
    other = browser(app, "bob@example.com")
    assert other.get(link).status_code == 410
    assert other.post(link).status_code == 410
    assert account(app, bob).email == "bob@example.com"
    with app.app_context():
        assert db.session.scalar(sa.select(User).where(User.email == "shared@new.example")) is None


def test_the_link_is_bound_to_the_new_address(app, clock):
    ann = person(app, "ann@example.com")
    client = browser(app, "ann@example.com")
    ask_change(client, "first@new.example")
    link = link_in(mails(app)[0])
    payload, stamp, signature = link.rsplit("/", 1)[1].split(".")
    evil = {"u": ann, "o": "ann@example.com", "e": "me@evil.example"}
    other_payload = base64.urlsafe_b64encode(json.dumps(evil, separators=(",", ":")).encode()).decode().rstrip("=")
    assert client.post(f"/profile/email/{other_payload}.{stamp}.{signature}").status_code == 410
    guessed = URLSafeTimedSerializer("a guessed secret", salt=profile.CHANGE_SALT).dumps(evil)
    assert client.post(f"/profile/email/{guessed}").status_code == 410
    verify_token = URLSafeTimedSerializer(app.secret_key, salt="email-verify").dumps(evil)
    assert client.post(f"/profile/email/{verify_token}").status_code == 410  # a sign-up link is not a change link
    assert account(app, ann).email == "ann@example.com"


def test_the_link_expires_after_three_days(app, clock, monkeypatch):
    ann = person(app, "ann@example.com")
    client = browser(app, "ann@example.com")
    sent_at = int(time.time()) - 3 * 24 * 3600 - 60  # a link mailed three days and a minute ago
    with monkeypatch.context() as past, app.test_request_context():
        past.setattr(TimestampSigner, "get_timestamp", lambda self: sent_at)
        link = "/profile/email/" + profile.change_token(db.session.get(User, ann), "ann@new.example")
    assert client.get(link).status_code == 410 and client.post(link).status_code == 410
    assert account(app, ann).email == "ann@example.com"


def test_a_signed_out_person_is_asked_to_sign_in_and_comes_back_to_the_link(app, clock):
    ann = person(app, "ann@example.com")
    ask_change(browser(app, "ann@example.com"), "ann@new.example")
    link = link_in(mails(app)[0])
    client = browser(app)
    wall = client.get(link)
    assert wall.status_code == 302 and "/signin?next=" in wall.headers["Location"]
    signed_in = client.post(wall.headers["Location"], data={"email": "ann@example.com", "password": PASSWORD})
    assert signed_in.headers["Location"] == link
    client.post(link)
    assert account(app, ann).email == "ann@new.example"


def test_the_current_password_is_needed_to_ask(app):
    ann = person(app, "ann@example.com")
    html = ask_change(browser(app, "ann@example.com"), "ann@new.example", password="not my password").get_data(True)
    assert field_error(html, "password") == "That isn&#39;t your current password."
    assert 'value="ann@new.example"' in html  # kept
    assert mails(app) == [] and account(app, ann).email == "ann@example.com"


def test_an_account_without_a_password_is_not_asked_for_one(app):
    ann = person(app, "sso@example.com", password=None, sso_subject="https://idp|123")
    client = app.test_client()
    with client.session_transaction() as session:  # signed in by single sign-on
        session["_user_id"] = f"{ann}:1"
        session["_fresh"] = True
    html = client.get("/profile").get_data(as_text=True)
    assert "Your current password" not in html
    assert ask_change(client, "sso@new.example", password="").status_code == 303
    assert [m.to_address for m in mails(app)] == ["sso@new.example"]


@pytest.mark.parametrize(("new", "message"), [
    ("not-an-address", "Enter an email address (just one), like name@example.com."),
    ("me@x.example, you@y.example", "Enter an email address (just one), like name@example.com."),
    ("", "Enter the new email address."),
    ("ANN@example.com", "That&#39;s already your email address."),
])
def test_a_bad_new_address_is_refused_next_to_the_field(app, new, message):
    person(app, "ann@example.com")
    html = ask_change(browser(app, "ann@example.com"), new).get_data(as_text=True)
    assert field_error(html, "email") == message
    assert mails(app) == []


def test_an_address_that_has_an_account_gets_a_notice_and_the_page_says_the_same(app, clock):
    ann = person(app, "ann@example.com")
    person(app, "bob@example.com")
    client = browser(app, "ann@example.com")
    asked = ask_change(client, "bob@example.com")
    assert asked.status_code == 303
    assert "We&#39;ve sent a link to bob@example.com" in client.get("/profile").get_data(as_text=True)
    [mail] = mails(app)
    assert mail.to_address == "bob@example.com" and "/profile/email/" not in mail.body_text
    assert "this address already has an account of its own" in " ".join(mail.body_text.split())
    assert account(app, ann).email == "ann@example.com"


def test_an_address_taken_after_the_link_was_sent_is_not_given_twice(app, clock):
    ann = person(app, "ann@example.com")
    client = browser(app, "ann@example.com")
    ask_change(client, "new@example.com")
    link = link_in(mails(app)[0])
    person(app, "new@example.com")  # someone signs up with it meanwhile
    done = client.post(link, follow_redirects=True)
    assert "new@example.com has an account of its own now" in done.get_data(as_text=True)
    assert account(app, ann).email == "ann@example.com"


def test_changing_the_address_voids_an_older_reset_link(app, clock):
    """Links mailed to the old address (a password reset) stop working once the account moved."""
    ann = person(app, "ann@example.com")
    client = browser(app, "ann@example.com")
    client.post("/signout")
    browser(app).post("/password/forgot", data={"email": "ann@example.com"})
    reset = re.search(r"/password/reset/\S+", mails(app)[-1].body_text).group(0)
    client = browser(app, "ann@example.com")
    ask_change(client, "ann@new.example")
    client.post(link_in(mails(app)[-1]))
    assert account(app, ann).email == "ann@new.example"
    assert browser(app).get(reset).status_code == 410


def test_the_profile_page_leads_to_password_and_sign_in(app, client, auth, make_user):
    _, email = make_user()
    auth.login(email)
    page = client.get("/profile").get_data(as_text=True)
    assert 'href="/password"' in page and "Password and sign-in" in page
    assert "Sign out everywhere" in client.get("/password").get_data(as_text=True)
