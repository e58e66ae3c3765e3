"""A picture attached on the contact form in a real browser: its thumbnail on the requester's and the desk's page."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Role, User

from ..conftest import PASSWORD
from ..test_web_attachments import png

#: Where the screenshots go: SCREENSHOT_DIR (docs/screenshots holds the committed ones), else the test's tmp dir.
SHOT_DIR = os.environ.get("SCREENSHOT_DIR")


def _technician(live) -> str:
    with live.app.app_context():
        tech = User(email="tess@example.com", name="Tess Tech", role=Role.TECHNICIAN)
        tech.set_password(PASSWORD)
        db.session.add(tech)
        db.session.commit()
        db.session.remove()
    return "tess@example.com"


def _thumbnail_loaded(page, alt: str):
    image = page.get_by_role("img", name=alt)
    image.scroll_into_view_if_needed()  # thumbnails load lazily: on a phone the desk's transcript is below the fold
    expect(image).to_be_visible()
    page.wait_for_function("img => img.complete", arg=image.element_handle(), timeout=10_000)
    assert image.evaluate("img => img.complete && img.naturalWidth") == 80  # the real picture arrived
    return image


def _no_bullets(page):
    """The files under a message are a list without bullets: each name lines up under its thumbnail."""
    lists = page.locator("ul.attachments").evaluate_all(
        "(lists) => lists.map((ul) => [getComputedStyle(ul.querySelector('li')).listStyleType,"
        " getComputedStyle(ul).paddingLeft])")
    assert lists and all(found == ["none", "0px"] for found in lists), lists


@pytest.mark.parametrize("width", [1280, 390])
def test_a_picture_sent_on_the_contact_form_shows_as_a_thumbnail_to_both_sides(live, page, tmp_path, width):
    page.set_viewport_size({"width": width, "height": 900})
    picture = tmp_path / "printer error.png"
    picture.write_bytes(png(80, 60, (30, 110, 200)))

    page.goto(live.url + "/contact")
    page.get_by_label("Your name").fill("Ann Asker")
    page.get_by_label("Your email address").fill("ann@example.com")
    page.get_by_label("What's the problem, in a few words?").fill("The printer shows an error")
    page.get_by_label("Attach files (optional)").set_input_files(str(picture))
    page.get_by_role("button", name="Send to the help desk").click()

    expect(page.get_by_text("Your ticket is open. Its number is #1001.")).to_be_visible()
    thumb = _thumbnail_loaded(page, "Picture: printer error.png")
    box = thumb.bounding_box()
    assert box["width"] <= 160 and box["x"] >= 0 and box["x"] + box["width"] <= width
    _no_bullets(page)
    shots = Path(SHOT_DIR) if SHOT_DIR else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f"ticket-attachment-{width}.png"), full_page=True)
    href = page.get_by_role("link", name="printer error.png", exact=True).get_attribute("href")
    assert re.match(r"/tickets/1001/files/\d+\?key=", href)

    # The technician sees the same thumbnail on the desk, and can answer with a file of their own.
    page.context.clear_cookies()
    page.goto(live.url + "/signin")
    page.get_by_label("Email").fill(_technician(live))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(live.url + "/desk/tickets/1001")
    _thumbnail_loaded(page, "Picture: printer error.png")
    _no_bullets(page)
    page.screenshot(path=str(shots / f"desk-ticket-attachment-{width}.png"), full_page=True)
    steps = tmp_path / "steps.txt"
    steps.write_text("1. Open the tray.\n2. Remove the paper.\n")
    page.get_by_label("Message", exact=True).fill("Try these steps.")
    page.get_by_label("Attach files (optional)").set_input_files(str(steps))
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_text("Reply sent.").first).to_be_visible()
    expect(page.get_by_role("link", name="steps.txt")).to_be_visible()
