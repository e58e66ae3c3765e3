"""The browser's time zone in a real browser: the contact form passes it on, the Profile page suggests it."""

import sqlalchemy as sa
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Role, Ticket, User

from ..conftest import PASSWORD
from .conftest import sign_in


def add_person(live, email, role=Role.REQUESTER, zone=None):
    with live.app.app_context():
        user = User(email=email, name=email.split("@")[0].title(), role=role, time_zone=zone)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()



def test_a_new_yorker_without_an_account_and_the_technician_who_reads_their_local_time(browser, live):
    add_person(live, "tess@example.com", role=Role.TECHNICIAN, zone="Europe/Paris")
    caller = browser.new_context(timezone_id="America/New_York").new_page()
    caller.goto(live.url + "/contact")
    caller.get_by_label("Your name").fill("Sam Stone")
    caller.get_by_label("Your email address").fill("sam@example.com")
    caller.get_by_label("What's the problem, in a few words?").fill("Printer jams on every page")
    caller.get_by_role("button", name="Send to the help desk").click()
    expect(caller.get_by_text("Your ticket is open.")).to_be_visible()
    expect(caller.get_by_text("UTC", exact=False).first).to_be_visible()  # signed out: the portal's default zone
    with live.app.app_context():
        assert db.session.scalar(sa.select(Ticket.requester_time_zone)) == "America/New_York"

    desk = browser.new_context(timezone_id="Europe/Paris").new_page()
    sign_in(desk, live.url, "tess@example.com")
    desk.goto(live.url + "/desk/tickets/1001")
    expect(desk.get_by_text("Requester's local time:")).to_contain_text("(America/New_York)")
    expect(desk.get_by_text("Sam Stone opened the ticket")).to_contain_text("CET")


def test_the_profile_page_suggests_the_browsers_zone_until_one_is_saved(browser, live):
    add_person(live, "ann@example.com")
    page = browser.new_context(timezone_id="Europe/Paris").new_page()
    sign_in(page, live.url, "ann@example.com")
    page.get_by_role("link", name="Profile").click()
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Paris")
    expect(page.get_by_text("Suggested from this browser's settings")).to_be_visible()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Your profile is saved.")).to_be_visible()
    expect(page.get_by_text("Suggested from this browser's settings")).to_be_hidden()
    with live.app.app_context():
        assert db.session.scalar(sa.select(User.time_zone).where(User.email == "ann@example.com")) == "Europe/Paris"


def test_with_javascript_off_nothing_is_guessed(browser, live):
    add_person(live, "ann@example.com")
    page = browser.new_context(timezone_id="Europe/Paris", java_script_enabled=False).new_page()
    sign_in(page, live.url, "ann@example.com")
    page.goto(live.url + "/profile")
    expect(page.get_by_label("Time zone")).to_have_value("")
    expect(page.get_by_text("Suggested from this browser's settings")).to_be_hidden()
