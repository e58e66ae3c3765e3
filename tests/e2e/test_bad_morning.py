"""The bad morning in a real browser: six people get stuck at the same step and ask for help, the
queue shows one possible incident, a technician declares it, the seventh person joins with "This is
my problem too" at that step (no new ticket in triage), and every update and the fix reach each
affected person once, read back from a real SMTP server (aiosmtpd); their tickets end resolved.
"""

from __future__ import annotations

import re
from collections import Counter

import sqlalchemy as sa
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import KnownIssue, KnownIssuePerson, Role, Ticket, TicketStatus, User

from ..conftest import FIXTURE_FLOWS, PASSWORD
from .conftest import serve
from .test_desk_cycle import deliver, inbox, text_of  # noqa: F401  (inbox: the SMTP server fixture)

STEP = "Switch it on"  # tests/fixtures/flows/printer.yaml, step switch-on


def escalate(browser, live, name: str, email: str) -> None:
    page = browser.new_context().new_page()
    page.goto(f"{live.url}/flows/printer")
    page.get_by_role("button", name="No", exact=True).click()
    expect(page.get_by_role("heading", name=STEP)).to_be_visible()
    page.get_by_role("button", name="I still need help").click()
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Your email address").fill(email)
    page.get_by_role("button", name="Send to the help desk").click()
    expect(page.locator(".ticket-number strong")).to_be_visible()
    page.context.close()


def test_the_bad_morning(browser, tmp_path, inbox):  # noqa: F811
    with serve(tmp_path, flows_dir=FIXTURE_FLOWS, MAIL_SERVER="127.0.0.1", MAIL_PORT=inbox.port,
               MAIL_FROM="help@example.com") as live:
        with live.app.app_context():
            tech = User(email="tess@example.com", name="Tess Tech", role=Role.TECHNICIAN)
            tech.set_password(PASSWORD)
            db.session.add(tech)
            db.session.commit()
        people = [(f"Person {i}", f"p{i}@example.com") for i in range(1, 7)]

        # Six people get stuck at the same step and ask for help.
        for name, address in people:
            escalate(browser, live, name, address)
        deliver(live)

        # The technician's queue shows one possible incident: which flow and step, how many, the tickets.
        desk = browser.new_context().new_page()
        desk.goto(f"{live.url}/signin")
        desk.get_by_label("Email address").fill("tess@example.com")
        desk.get_by_label("Password").fill(PASSWORD)
        desk.get_by_role("button", name="Sign in").click()
        expect(desk.get_by_role("heading", name="Queue")).to_be_visible()
        panel = desk.locator(".possible-incidents")
        expect(panel.get_by_role("heading", name="Possible incident")).to_be_visible()
        heading = f"6 people stuck at “{STEP}” in My printer won't print"
        expect(panel.get_by_role("heading", name=heading)).to_be_visible()
        expect(panel.get_by_role("link", name=re.compile(r"^#\d+$"))).to_have_count(6)

        # One click declares it, with the six tickets linked.
        panel.get_by_role("button", name="Declare a known issue").click()
        expect(desk.get_by_role("heading", name="People affected (6)")).to_be_visible()
        issue_url = desk.url
        desk.goto(f"{live.url}/desk/")
        expect(desk.locator(".possible-incidents")).to_have_count(0)
        expect(desk.locator(".known-issue-row")).to_contain_text("6 people affected")

        # The seventh person walks to the same step: the banner, and "This is my problem too".
        seventh = browser.new_context().new_page()
        seventh.goto(f"{live.url}/flows/printer")
        seventh.get_by_role("button", name="No", exact=True).click()
        banner = seventh.locator(".known-issue-banner")
        expect(banner).to_contain_text(STEP)
        banner.get_by_role("link", name="This is my problem too").click()
        seventh.get_by_label("Your name").fill("Person 7")
        seventh.get_by_label("Your email").fill("p7@example.com")
        seventh.get_by_role("button", name="This is my problem too").click()
        expect(seventh.get_by_role("heading", name=re.compile(r"You're on the list: ticket #\d+"))).to_be_visible()
        people.append(("Person 7", "p7@example.com"))
        with live.app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket).where(
                Ticket.status == TicketStatus.NEW)) == 0  # nothing new in triage
            assert db.session.scalar(sa.select(sa.func.count()).select_from(KnownIssuePerson)) == 7
        desk.goto(f"{live.url}/desk/")
        expect(desk.locator(".known-issue-row")).to_contain_text("7 people affected")

        # The technician posts an update, then marks it fixed.
        desk.goto(issue_url)
        desk.get_by_label("Public update").fill("Microsoft has pulled the update; restart at noon.")
        desk.get_by_role("button", name="Post update").click()
        expect(desk.get_by_text("Microsoft has pulled the update").first).to_be_visible()
        deliver(live)
        desk.get_by_label("The fix").fill("Restart your computer once: the printer driver is back.")
        desk.get_by_label(re.compile("Resolve all 7 open linked tickets")).check()
        desk.get_by_role("button", name="Mark fixed").click()
        expect(desk.get_by_role("heading", name="Fixed")).to_be_visible()
        deliver(live)
        deliver(live)  # a second run sends nothing again

        # Each affected person: exactly one email per update, and their ticket resolved.
        for _, address in people:
            subjects = Counter(re.sub(r"^\[[^\]]*\] ", "", m["Subject"]).split(":")[0] for m in inbox.to(address))
            assert subjects["Update"] == 1 and subjects["Fixed"] == 1, (address, subjects)
            [update] = [m for m in inbox.to(address) if "] Update:" in m["Subject"]]
            assert "Microsoft has pulled the update" in text_of(update)
            [fixed] = [m for m in inbox.to(address) if "] Fixed:" in m["Subject"]]
            assert "printer driver is back" in text_of(fixed)
        with live.app.app_context():
            issue = db.session.scalar(sa.select(KnownIssue))
            statuses = db.session.scalars(sa.select(Ticket.status).where(Ticket.known_issue_id == issue.id)).all()
            assert len(statuses) == 7 and set(statuses) == {TicketStatus.RESOLVED}
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 7

        # The seventh person's page says it is fixed; the banner is gone from the step.
        seventh.goto(f"{live.url}/flows/printer")
        seventh.get_by_role("button", name="No", exact=True).click()
        expect(seventh.get_by_role("heading", name=STEP)).to_be_visible()
        expect(seventh.locator(".known-issue-banner")).to_have_count(0)
