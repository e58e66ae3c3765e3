"""A photo on a flow's form step, in a real browser, with JavaScript on (htmx, multipart) and off."""

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Attachment, Ticket

from ..test_web_attachments import png

READY = "It's on and says Ready (or shows its home screen)"


def to_the_form(browser, live, javascript):
    """A browser at the printer guide's form step (the printer's name, its place, a photo)."""
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    page.goto(f"{live.url}/flows/printer-offline")
    page.get_by_role("button", name=READY).click()
    page.get_by_role("button", name="No, nobody can print to it").click()
    return context, page


def send_contact_details(page):
    expect(page.get_by_role("heading", name="Where can the help desk reach you?")).to_be_visible()
    page.get_by_label("Your name").fill("Ann Lee")
    page.get_by_label("Your email address").fill("ann@example.com")
    page.get_by_role("button", name="Send to the help desk").click()
    expect(page.locator(".ticket-number strong")).to_have_text(re.compile(r"#\d+"))


def stored_files(live) -> list:
    with live.app.app_context():
        return [(f.filename, f.content_type) for f in db.session.scalars(sa.select(Attachment))]


@pytest.mark.parametrize("javascript", [True, False])
def test_a_photo_of_the_printer_screen_goes_with_the_ticket(browser, live, tmp_path, javascript):
    picture = tmp_path / "screen.png"
    picture.write_bytes(png())
    context, page = to_the_form(browser, live, javascript)
    page.get_by_label("Printer name or number").fill("PRN-2F-EAST")
    page.get_by_label("Where is the printer? (building, floor, room)").fill("HQ 2nd floor")
    page.get_by_label("A photo of the printer's screen or the error message").set_input_files(str(picture))
    page.get_by_role("button", name="Continue").click()
    send_contact_details(page)
    assert stored_files(live) == [("screen.png", "image/png")]
    with live.app.app_context():
        assert db.session.scalar(sa.select(Ticket)).form_values["error_photo"]["value"] == "screen.png"
    context.close()


@pytest.mark.parametrize("javascript", [True, False])
def test_i_still_need_help_from_a_form_carries_what_was_typed_and_attached(browser, live, tmp_path, javascript):
    picture = tmp_path / "screen.png"
    picture.write_bytes(png())
    context, page = to_the_form(browser, live, javascript)
    page.get_by_label("Printer name or number").fill("PRN-2F-EAST")  # the location, required, left empty
    page.get_by_label("A photo of the printer's screen or the error message").set_input_files(str(picture))
    page.get_by_role("button", name="I still need help").click()
    send_contact_details(page)
    page.get_by_role("link", name="View your ticket").click()
    expect(page.get_by_text("PRN-2F-EAST").first).to_be_visible()
    expect(page.get_by_text("I still need help").first).to_be_visible()
    assert stored_files(live) == [("screen.png", "image/png")]
    context.close()
