"""No silent failures, in a real browser: an htmx request that fails says so next to the form and keeps
what was typed; a technician's action says what it did; merging asks first; a form with errors leads
with a summary whose links reach each field."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Role, Ticket, User
from portal.tickets import services

from ..conftest import PASSWORD
from .conftest import sign_in

#: Where the screenshots go: SCREENSHOT_DIR (docs/screenshots holds the committed ones), else the test's tmp dir.
SHOT_DIR = os.environ.get("SCREENSHOT_DIR")
TYPED = "Please restart the laptop and tell me what the screen says."


def _shots(tmp_path: Path) -> Path:
    shots = Path(SHOT_DIR) if SHOT_DIR else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def _desk(live, page) -> None:
    """Tess (technician) with two tickets, signed in through the form."""
    with live.app.app_context():
        tess = User(email="tess@example.com", name="Tess Tech", role=Role.TECHNICIAN)
        tess.set_password(PASSWORD)
        db.session.add(tess)
        db.session.commit()
        for n, (email, subject) in enumerate([("ann@example.com", "Laptop fan is loud"),
                                              ("ann@example.com", "Fan noise again")]):
            services.open_on_behalf(tess, email=email, name="Ann Lee", subject=subject, description="Since today.",
                                    queue="general", priority="normal", request_key=f"k{n}")
        db.session.remove()
    sign_in(page, live.url, "tess@example.com")


def _reply_form(page):
    return page.locator("form.reply-form")


@pytest.mark.parametrize("width", [1280, 390])
def test_a_failed_reply_says_why_next_to_the_form_and_keeps_the_text(live, page, tmp_path, width):
    page.set_viewport_size({"width": width, "height": 900})
    _desk(live, page)
    page.goto(live.url + "/desk/tickets/1001")
    page.get_by_label("Message").fill(TYPED)
    reply = "**/desk/tickets/1001/reply"

    page.route(reply, lambda route: route.fulfill(status=500, body="Internal Server Error"))
    page.get_by_role("button", name="Send reply").click()
    failed = _reply_form(page).get_by_role("alert")
    expect(failed).to_have_text(re.compile(r"Something went wrong on our side, so this wasn't saved\. "
                                           r"What you typed is still here\. Try again in a moment\."))
    expect(page.get_by_label("Message")).to_have_value(TYPED)
    failed.scroll_into_view_if_needed()
    page.screenshot(path=str(_shots(tmp_path) / f"htmx-failure-{width}.png"), full_page=False)
    page.unroute(reply)

    page.route(reply, lambda route: route.fulfill(status=429, headers={"Retry-After": "60"}, body="Too many"))
    page.get_by_role("button", name="Send reply").click()
    expect(failed).to_have_text(re.compile(r"^Too many attempts: wait a minute and try again\. What you typed"))
    expect(page.get_by_label("Message")).to_have_value(TYPED)
    page.unroute(reply)

    page.route(reply, lambda route: route.abort("internetdisconnected"))
    page.get_by_role("button", name="Send reply").click()
    expect(failed).to_have_text(re.compile(r"^We couldn't send this: the connection dropped\. What you typed is "
                                           r"still here\. Check your connection and try again\."))
    expect(page.get_by_label("Message")).to_have_value(TYPED)
    expect(_reply_form(page).get_by_role("alert")).to_have_count(1)  # one message, the latest
    page.unroute(reply)

    with live.app.app_context():
        assert db.session.get(Ticket, 1).messages == []  # nothing was sent by the failures
        db.session.remove()
    page.get_by_role("button", name="Send reply").click()  # the connection is back
    expect(_reply_form(page).get_by_text("Reply sent.")).to_be_visible()
    expect(page.get_by_label("Message")).to_have_value("")
    expect(_reply_form(page).get_by_role("alert")).to_have_count(0)
    expect(page.locator(".timeline").get_by_text(TYPED)).to_be_visible()


def test_an_expired_page_says_to_reload_and_a_status_change_says_what_it_did(live, page):
    _desk(live, page)
    page.goto(live.url + "/desk/tickets/1001")
    assert page.evaluate("typeof htmx") == "object"
    page.get_by_role("button", name="Mark pending").click()
    done = page.get_by_role("status").filter(has_text="Status changed to pending.")
    expect(done).to_be_visible()  # next to the buttons, and read out
    page.get_by_label("Assign to").select_option(label="Tess Tech")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_text("Assigned to Tess Tech.")).to_be_visible()
    expect(page.get_by_text("Status changed to pending.")).to_have_count(0)  # only what was just done

    # The session's CSRF token is gone (signed in elsewhere, the server restarted with a new key...).
    page.evaluate("""() => {
        document.body.setAttribute('hx-headers', '{"X-CSRFToken": "expired"}');
        document.querySelectorAll('input[name=csrf_token]').forEach((i) => { i.value = 'expired'; });
    }""")
    page.get_by_label("Message").fill(TYPED)
    page.get_by_role("button", name="Send reply").click()
    expect(_reply_form(page).get_by_role("alert")).to_have_text(
        "This page had expired, so nothing was sent. Copy what you typed, then reload the page and try again.")
    expect(page.get_by_label("Message")).to_have_value(TYPED)


def test_signed_out_elsewhere_a_reply_says_so_keeps_the_text_and_goes_once_signed_in_again(live, page, browser):
    _desk(live, page)
    page.goto(live.url + "/desk/tickets/1001")
    page.get_by_label("Message").fill(TYPED)
    # Tess signs out everywhere on another computer: this browser's session ends too.
    other = browser.new_context()
    elsewhere = other.new_page()
    sign_in(elsewhere, live.url, "tess@example.com")
    elsewhere.get_by_role("button", name="Sign out").click()
    expect(elsewhere.get_by_text("You're signed out.")).to_be_visible()
    other.close()

    page.get_by_role("button", name="Send reply").click()
    expect(_reply_form(page).get_by_role("alert")).to_have_text(
        "You were signed out, so nothing was sent. What you typed is still here. "
        "Sign in again in another tab, then send it again from here.")
    expect(page.get_by_label("Message")).to_have_value(TYPED)
    assert page.url.endswith("/desk/tickets/1001")  # still on the ticket, not sent to the sign-in page

    tab = page.context.new_page()  # signing in again in another tab...
    sign_in(tab, live.url, "tess@example.com")
    page.bring_to_front()
    page.get_by_role("button", name="Send reply").click()  # ... and the kept reply goes from here
    expect(_reply_form(page).get_by_text("Reply sent.")).to_be_visible()
    expect(page.locator(".timeline").get_by_text(TYPED)).to_be_visible()


def test_merging_shows_both_tickets_and_asks_first(live, page):
    _desk(live, page)
    page.goto(live.url + "/desk/tickets/1001")
    page.get_by_label("Merge this duplicate into ticket").fill("#1002")
    page.get_by_role("button", name="Merge", exact=True).click()
    expect(page.get_by_role("heading", name="Merge #1001 into #1002?")).to_be_visible()
    expect(page).to_have_title(re.compile(r"^Merge #1001 into #1002\?"))
    for subject in ("Laptop fan is loud", "Fan noise again"):
        expect(page.get_by_text(subject)).to_be_visible()
    with live.app.app_context():
        assert db.session.get(Ticket, 1).merged_into_id is None  # nothing happened yet
        db.session.remove()
    page.get_by_role("link", name="Cancel: keep both").click()
    expect(page).to_have_url(live.url + "/desk/tickets/1001")

    page.get_by_label("Merge this duplicate into ticket").fill("1002")
    page.get_by_role("button", name="Merge", exact=True).click()
    page.get_by_role("button", name="Merge #1001 into #1002").click()
    expect(page).to_have_url(live.url + "/desk/tickets/1002")
    expect(page.get_by_text("#1001 was merged into #1002.")).to_be_visible()
    with live.app.app_context():
        assert db.session.get(Ticket, 1).merged_into_id == 2
        db.session.remove()


@pytest.mark.parametrize("width", [1280, 390])
def test_a_form_with_errors_leads_with_a_summary_that_reaches_each_field(live, page, tmp_path, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(live.url + "/contact")
    page.get_by_label("Your name").fill("Ann Lee")
    page.get_by_role("button", name="Send to the help desk").click()
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(page).to_have_title(re.compile(r"^Error: Contact the help desk"))
    links = summary.get_by_role("link")
    expect(links).to_have_count(2)
    page.screenshot(path=str(_shots(tmp_path) / f"form-errors-{width}.png"), full_page=False)
    links.first.click()
    expect(page.get_by_label("Your email address")).to_be_focused()
    expect(page.get_by_label("Your name")).to_have_value("Ann Lee")
