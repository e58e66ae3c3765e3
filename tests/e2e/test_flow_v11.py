"""Flow format v1.1 in a real browser: a step's picture loads under the strict CSP and fits a small
phone; answers typed earlier appear in the end page and the ticket's subject (shipped external-monitor)."""

import re

import sqlalchemy as sa
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Ticket


def test_the_picture_fits_a_small_phone_and_the_answer_reaches_the_end_page(browser, live):
    context = browser.new_context(viewport={"width": 320, "height": 700})
    page = context.new_page()
    page.goto(f"{live.url}/flows/external-monitor")
    page.get_by_role("button", name="Directly, with one cable (HDMI, DisplayPort or USB-C)").click()
    expect(page.get_by_text("Step 2")).to_be_visible()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("Step 3")).to_be_visible()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name=re.compile("No, it's still black")).click()
    page.get_by_role("button", name="The monitor doesn't work with anything").click()

    picture = page.get_by_role("img", name=re.compile("^Three monitor plugs side by side"))
    expect(picture).to_be_visible()
    loaded, width, room = picture.evaluate(
        "img => [img.complete && img.naturalWidth > 0, img.getBoundingClientRect().width, "
        "img.parentElement.getBoundingClientRect().width]")
    assert loaded, "the picture did not load (blocked by the CSP, or not served)"
    assert width <= room < 300  # narrower than the picture itself: scaled down to the column
    assert page.evaluate("document.documentElement.scrollWidth") <= 320

    page.get_by_label("Where are you? (building, floor, desk number)").fill("HQ <b>3</b> desk 22")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Where can the help desk reach you?")).to_be_visible()
    expect(page.get_by_text("Send this and we open a ticket")).to_be_visible()
    expect(page.get_by_text("HQ <b>3</b> desk 22")).to_have_count(0)  # the escalation's text waits
    page.get_by_label("Your name").fill("Eve")
    page.get_by_label("Your email address").fill("eve@example.com")
    page.get_by_role("button", name="Send to the help desk").click()
    expect(page.locator(".ticket-number strong")).to_have_text(re.compile(r"#\d+"))
    expect(page.get_by_text("A technician will come to you at HQ <b>3</b> desk 22")).to_be_visible()
    with live.app.app_context():
        ticket = db.session.scalar(sa.select(Ticket))
        assert ticket.subject == "External monitor not detected or no picture (HQ <b>3</b> desk 22)"
    context.close()
