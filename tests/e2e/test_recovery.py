"""Getting back in, in a real browser, with a real SMTP server catching the emails: forgot password, an invitation."""

import re

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import expect

from portal import clock
from portal.extensions import db
from portal.models import Role, User

from ..conftest import PASSWORD
from .conftest import serve
from .test_desk_cycle import Inbox, deliver, free_port, text_of

NEW_PASSWORD = "lighthouse kettle orbit"


@pytest.fixture
def mailbox():
    """An SMTP server on loopback (aiosmtpd) that keeps what the outbox sender delivers."""
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


def _portal(tmp_path, mailbox):
    live = serve(tmp_path, MAIL_SERVER="127.0.0.1", MAIL_PORT=mailbox.port, MAIL_FROM="help@example.com")
    live.app.config["PUBLIC_URL"] = live.url  # links in the emails lead to this server
    return live


def _account(live, email: str, role: str = "requester", name: str = "") -> None:
    with live.app.app_context():
        user = User(email=email, name=name or email.split("@")[0].title(), role=Role(role),
                    email_verified_at=clock.now())
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()


def _link(message) -> str:
    return re.search(r"https?://\S+", text_of(message)).group(0)


def _sign_in(page, url: str, email: str, password: str, remember: bool = False) -> None:
    page.goto(f"{url}/signin")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    if remember:
        page.get_by_label("Remember me on this computer").check()
    page.get_by_role("button", name="Sign in").click()


def test_forgot_password_by_email_then_sign_in_with_the_new_one(browser, tmp_path, mailbox):
    with _portal(tmp_path, mailbox) as live:
        _account(live, "erin@example.com", name="Erin Example")
        other_computer = browser.new_context().new_page()
        _sign_in(other_computer, live.url, "erin@example.com", PASSWORD)
        expect(other_computer.get_by_role("button", name="Sign out")).to_be_visible()

        page = browser.new_context().new_page()
        page.goto(f"{live.url}/signin")
        page.get_by_role("link", name="Forgot your password?").click()
        page.get_by_label("Email address").fill("erin@example.com")
        page.get_by_role("button", name="Email me a link").click()
        expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
        expect(page.get_by_text("If an account uses erin@example.com, we've sent a link")).to_be_visible()

        assert deliver(live) == (1, 0)  # the outbox sender: one sent, none failed, to the SMTP server on loopback
        [mail] = mailbox.to("erin@example.com")
        assert mail["Subject"] == "Reset your IT Help password" and "2 hours" in text_of(mail)
        page.goto(_link(mail))
        expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
        page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Save the new password").click()
        expect(page.get_by_role("heading", name="My tickets")).to_be_visible()
        expect(page.get_by_text("Your password is set and you're signed in.")).to_be_visible()

        # The other computer's session has ended; the link worked once.
        other_computer.reload()
        expect(other_computer.get_by_role("link", name="Sign in")).to_be_visible()
        page.goto(_link(mail))
        expect(page.get_by_role("heading", name="This link no longer works")).to_be_visible()

        # Signed out, the old password no longer opens the account; the new one does, remembered.
        page.get_by_role("button", name="Sign out").click()
        _sign_in(page, live.url, "erin@example.com", PASSWORD)
        expect(page.get_by_text("That email address and password don't match an account.")).to_be_visible()
        _sign_in(page, live.url, "erin@example.com", NEW_PASSWORD, remember=True)
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        assert "remember_token" in {c["name"] for c in page.context.cookies()}


def test_a_caller_the_desk_logs_a_call_for_is_invited_and_sees_the_ticket(browser, tmp_path, mailbox):
    with _portal(tmp_path, mailbox) as live:
        _account(live, "tess@example.com", role="technician", name="Tess Tech")
        desk = browser.new_context().new_page()
        _sign_in(desk, live.url, "tess@example.com", PASSWORD)
        desk.get_by_role("navigation", name="Main").get_by_role("link", name="New ticket").click()
        desk.get_by_label("Requester's email").fill("carl@example.com")
        desk.get_by_label("Requester's name").fill("Carl Caller")
        desk.get_by_label("Subject").fill("Monitor flickers since Monday")
        desk.get_by_role("button", name="Open ticket").click()
        expect(desk.get_by_text("We've emailed them an invitation to choose a password.")).to_be_visible()

        deliver(live)
        invitations = [m for m in mailbox.to("carl@example.com") if "choose a password" in m["Subject"]]
        assert len(invitations) == 1 and "7 days" in text_of(invitations[0])

        caller = browser.new_context().new_page()
        caller.goto(_link(invitations[0]))
        expect(caller.get_by_role("heading", name="Choose your password")).to_be_visible()
        caller.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        caller.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
        caller.get_by_role("button", name="Set my password").click()
        expect(caller.get_by_role("heading", name="My tickets")).to_be_visible()
        caller.get_by_role("link", name=re.compile("Monitor flickers since Monday")).click()
        expect(caller.get_by_role("heading", name=re.compile("Monitor flickers since Monday"))).to_be_visible()
