"""Signing in part-way without losing the request (issue 9, items 3 and 4), in a real browser.

"Sign in instead" from the end of a guide, from "I still need help" and from the contact page:
after signing in the person is back on the same walk (or the same typed request) and the ticket
opens once, for their account, with JavaScript on and off. And a signed-out requester opening the
emailed ticket link signs in and lands on the ticket.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from portal import clock
from portal.extensions import db
from portal.models import Attachment, Role, Ticket, User, Walk
from portal.tickets import attachments

from ..conftest import PASSWORD

READY = "It's on and says Ready (or shows its home screen)"


@pytest.fixture(params=["javascript on", "javascript off"])
def page(request, browser, live):
    """A page in a fresh browser context, with JavaScript on or off."""
    context = browser.new_context(java_script_enabled=request.param == "javascript on",
                                  viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture
def account(live):
    """A requester with a confirmed address: (id, email)."""
    with live.app.app_context():
        user = User(email="gina@example.com", name="Gina Marsh", role=Role.REQUESTER, email_verified_at=clock.now())
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        return user.id, user.email


def _tickets(live) -> list[Ticket]:
    with live.app.app_context():
        return db.session.scalars(sa.select(Ticket).order_by(Ticket.id)).all()


def _sign_in(page, email: str) -> None:
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _signs_in_instead_and_gets_one_ticket(page, live, account) -> None:
    """From the walk's "where can we reach you": sign in, come back, the ticket opens once for the account."""
    expect(page.get_by_role("heading", name="Where can the help desk reach you?")).to_be_visible()
    walk_id = re.search(r"/walks/([\w-]+)/contact$", page.url)[1]
    page.get_by_role("link", name="Sign in instead").click()
    _sign_in(page, account[1])
    expect(page.get_by_role("heading", name="We've passed this to the help desk")).to_be_visible()
    assert page.url.endswith(f"/walks/{walk_id}/end")  # the same walk, not a new one or an earlier step
    label = page.locator(".ticket-number strong").inner_text()
    page.reload()
    page.go_back()
    page.go_forward()
    [ticket] = _tickets(live)
    with live.app.app_context():
        walk = db.session.get(Walk, walk_id)
        assert (ticket.label, ticket.requester_id, ticket.walk_id, walk.user_id) == (label, account[0], walk_id,
                                                                                      account[0])
    page.get_by_role("link", name="View your ticket").click()
    expect(page.get_by_text(f"Ticket {label}", exact=True)).to_be_visible()
    page.get_by_role("link", name="My tickets").click()
    expect(page.locator(".ticket-list")).to_contain_text(label)


def test_sign_in_instead_at_the_end_of_a_guide(page, live, account):
    page.goto(f"{live.url}/flows/printer-offline")
    page.get_by_role("button", name=READY).click()
    page.get_by_role("button", name="No, nobody can print to it").click()
    page.get_by_label("Printer name or number").fill("PRN-2F-EAST")
    page.get_by_label("Where is the printer? (building, floor, room)").fill("HQ 2nd floor")
    page.get_by_role("button", name="Continue").click()
    _signs_in_instead_and_gets_one_ticket(page, live, account)
    with live.app.app_context():
        [ticket] = _tickets(live)
        assert ticket.form_values["printer_name"]["value"] == "PRN-2F-EAST"  # what was answered before signing in


def test_sign_in_instead_after_i_still_need_help(page, live, account):
    page.goto(f"{live.url}/flows/printer-offline")
    page.get_by_role("button", name=READY).click()
    expect(page.get_by_text("Step 2")).to_be_visible()
    page.get_by_role("button", name="I still need help").click()
    expect(page.get_by_text("We'll pass everything you've tried so far")).to_be_visible()
    _signs_in_instead_and_gets_one_ticket(page, live, account)
    [ticket] = _tickets(live)
    assert ticket.transcript and ticket.transcript[0]["answer"] == READY


def test_sign_in_instead_on_the_contact_page_keeps_what_was_typed(page, live, account):
    page.goto(f"{live.url}/contact")
    page.get_by_label("What's the problem, in a few words?").fill("Docking station drops the screens")
    page.get_by_label("What happened, and what have you tried?").fill("Since Monday; I swapped the cable.")
    page.get_by_role("button", name="Sign in instead").click()
    _sign_in(page, account[1])
    expect(page.get_by_role("heading", name="Contact the help desk")).to_be_visible()
    expect(page.get_by_text("Here's what you typed before signing in.")).to_be_visible()
    expect(page.get_by_label("What's the problem, in a few words?")).to_have_value("Docking station drops the screens")
    expect(page.get_by_label("What happened, and what have you tried?")).to_have_value(
        "Since Monday; I swapped the cable.")
    expect(page.get_by_label("Your email address")).to_have_count(0)  # signed in: the account says who
    page.get_by_role("button", name="Send to the help desk").click()
    expect(page.get_by_text("Docking station drops the screens").first).to_be_visible()
    page.reload()
    [ticket] = _tickets(live)
    assert (ticket.requester_id, ticket.description) == (account[0], "Since Monday; I swapped the cable.")
    page.goto(f"{live.url}/contact")  # the draft was used once: a new request starts empty
    expect(page.get_by_label("What's the problem, in a few words?")).to_have_value("")


LOG = b"12:01 dock: DisplayPort link lost\n12:02 dock: DisplayPort link lost\n"


def test_sign_in_instead_on_the_contact_page_keeps_the_chosen_file(page, live, account):
    page.goto(f"{live.url}/contact")
    page.get_by_label("What's the problem, in a few words?").fill("Docking station drops the screens")
    page.get_by_label("Attach files (optional)").set_input_files(
        files=[{"name": "dock log.txt", "mimeType": "text/plain", "buffer": LOG}])
    page.get_by_role("button", name="Sign in instead").click()
    _sign_in(page, account[1])
    expect(page.get_by_text("Here's what you typed before signing in.")).to_be_visible()
    expect(page.get_by_label("What's the problem, in a few words?")).to_have_value("Docking station drops the screens")
    kept = page.locator("#kept-files li")
    expect(kept).to_have_count(1)
    expect(kept).to_contain_text(f"Attached: dock log.txt ({attachments.human_size(len(LOG))})")
    expect(page.get_by_label("Remove dock log.txt")).not_to_be_checked()  # it can still be taken off
    expect(page.get_by_label("Attach more files (optional)")).to_be_visible()
    page.get_by_role("button", name="Send to the help desk").click()
    expect(page.get_by_role("link", name="dock log.txt")).to_be_visible()  # on the ticket, for download
    [ticket] = _tickets(live)
    with live.app.app_context():
        [file] = db.session.scalars(sa.select(Attachment)).all()
        assert (ticket.requester_id, file.filename, attachments.body(file)) == (account[0], "dock log.txt", LOG)
    page.goto(f"{live.url}/contact")  # used once: a new request starts without it
    expect(page.locator("#kept-files")).to_have_count(0)


def test_a_signed_out_requester_opens_the_emailed_ticket_link(page, live, account):
    with live.app.app_context():
        user = db.session.get(User, account[0])
        ticket = Ticket(subject="Laptop won't charge", requester=user, requester_email=user.email,
                        requester_name=user.name)
        db.session.add(ticket)
        db.session.commit()
        number, label = ticket.number, ticket.label
    page.goto(f"{live.url}/tickets/{number}")  # the link in the email, in a browser that isn't signed in
    expect(page.get_by_text("Sign in to see your ticket.")).to_be_visible()
    _sign_in(page, account[1])
    expect(page.get_by_text(f"Ticket {label}", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Laptop won't charge")).to_be_visible()
    assert page.url == f"{live.url}/tickets/{number}"
