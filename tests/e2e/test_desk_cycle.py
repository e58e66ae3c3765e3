"""The whole help-desk cycle in a real browser, with a real SMTP server catching every email."""

import email
import re
import socket
from email import policy

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from playwright.sync_api import expect

from portal.extensions import db
from portal.mail.delivery import send_pending
from portal.models import Role, User

from ..conftest import PASSWORD
from .conftest import serve

READY = "It's on and says Ready (or shows its home screen)"


class Inbox:
    """An SMTP server on loopback that keeps what it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def to(self, address):
        return [m for m in self.messages if m["To"] == address]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def inbox():
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


def deliver(live):
    with live.app.app_context():
        return send_pending()


def text_of(message):
    return message.get_body(preferencelist=("plain",)).get_content()


def test_escalated_walk_worked_to_resolution_by_a_technician(browser, tmp_path, inbox):
    with serve(tmp_path, MAIL_SERVER="127.0.0.1", MAIL_PORT=inbox.port, MAIL_FROM="help@example.com") as live:
        with live.app.app_context():
            tech = User(email="tess@example.com", name="Tess Tech", role=Role.TECHNICIAN)
            tech.set_password(PASSWORD)
            db.session.add(tech)
            db.session.commit()

        # A user's walk escalates.
        user = browser.new_context().new_page()
        user.goto(f"{live.url}/flows/printer-offline")
        user.get_by_role("button", name=READY).click()
        user.get_by_role("button", name="No, nobody can print to it").click()
        user.get_by_label("Printer name or number").fill("PRN-2F-EAST")
        user.get_by_label("Where is the printer? (building, floor, room)").fill("HQ 2nd floor")
        user.get_by_role("button", name="Continue").click()
        user.get_by_label("Your name").fill("Ann Lee")
        user.get_by_label("Your email address").fill("ann@example.com")
        user.get_by_role("button", name="Send to the help desk").click()
        label = user.locator(".ticket-number strong").inner_text()
        user.get_by_role("link", name="View your ticket").click()
        ticket_url = user.url
        deliver(live)
        [opened] = inbox.to("ann@example.com")
        assert label in opened["Subject"] and "received" in opened["Subject"]

        # A technician finds it in the queue, sees the transcript, claims it and replies.
        tech_page = browser.new_context().new_page()
        tech_page.goto(f"{live.url}/signin")
        tech_page.get_by_label("Email address").fill("tess@example.com")
        tech_page.get_by_label("Password").fill(PASSWORD)
        tech_page.get_by_role("button", name="Sign in").click()
        expect(tech_page.get_by_role("heading", name="Queue")).to_be_visible()  # staff land on the queue
        tech_page.get_by_role("link", name=re.compile(re.escape(label))).click()
        expect(tech_page.get_by_role("heading", name=re.compile("Path the user took"))).to_be_visible()
        expect(tech_page.get_by_text("No, nobody can print to it")).to_be_visible()
        expect(tech_page.get_by_text("PRN-2F-EAST")).to_be_visible()
        tech_page.get_by_role("button", name="Claim").click()
        expect(tech_page.get_by_text("assigned it to Tess Tech")).to_be_visible()
        tech_page.get_by_label("Message").fill("I'm on my way to the 2nd floor. Is it still showing Ready?")
        tech_page.get_by_role("button", name="Send reply").click()
        expect(tech_page.get_by_text("public reply").first).to_be_visible()
        tech_page.get_by_role("button", name="Mark pending").click()
        expect(tech_page.get_by_text("changed status from open to pending")).to_be_visible()
        deliver(live)
        replies = [m for m in inbox.to("ann@example.com") if m["Subject"].startswith("Re:")]
        assert len(replies) == 1 and "2nd floor" in text_of(replies[0])

        # The requester sees the reply and answers it; the ticket is open again.
        user.goto(ticket_url)
        expect(user.get_by_text("Is it still showing Ready?")).to_be_visible()
        user.get_by_label("Your reply").fill("Yes, still Ready but nothing prints.")
        user.get_by_role("button", name="Send reply").click()
        expect(user.get_by_text("Yes, still Ready but nothing prints.")).to_be_visible()

        # The technician resolves it.
        tech_page.reload()
        expect(tech_page.get_by_text("Yes, still Ready but nothing prints.")).to_be_visible()
        expect(tech_page.get_by_text("changed status from pending to open")).to_be_visible()
        tech_page.get_by_role("button", name="Mark resolved").click()
        expect(tech_page.get_by_text("changed status from open to resolved")).to_be_visible()
        deliver(live)
        deliver(live)  # a second run sends nothing again

        kinds = [m["Subject"] for m in inbox.to("ann@example.com")]
        assert len(kinds) == 3, kinds  # opened, the reply, resolved: each exactly once
        resolved = [m for m in inbox.to("ann@example.com") if "Resolved" in m["Subject"]]
        assert len(resolved) == 1 and "/reopen/" in text_of(resolved[0])
        # She claimed it herself, so no assignment email; she is told once that Ann answered.
        [answered] = inbox.to("tess@example.com")
        assert "Ann Lee replied" in answered["Subject"] and "nothing prints" in text_of(answered)
        user.goto(ticket_url)
        expect(user.get_by_text("Resolved").first).to_be_visible()
        with live.app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
