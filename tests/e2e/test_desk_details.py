"""Technician details in a real browser: a canned response goes in at the cursor, keeping what was
typed, with its placeholders filled and previewed; reply and status in one submit with htmx."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import expect

from portal.extensions import db
from portal.models import CannedResponse, Role, Ticket, TicketStatus, User
from portal.tickets import services

from ..conftest import PASSWORD
from .conftest import sign_in

SHOT_DIR = os.environ.get("SCREENSHOT_DIR")


def _desk(live, page) -> None:
    with live.app.app_context():
        tess = User(email="tess@example.com", name="Tess Tech", role=Role.TECHNICIAN)
        tess.set_password(PASSWORD)
        db.session.add(tess)
        db.session.commit()
        services.open_on_behalf(tess, email="ann@example.com", name="Ann Lee", subject="Laptop fan is loud",
                                description="Since today.", queue="general", priority="normal", request_key="k1")
        db.session.add_all([CannedResponse(title="Greeting", body="Hi {requester_first_name},"),
                            CannedResponse(title="Restart",
                                           body="please restart ({ticket_number}). {technician_name}")])
        db.session.commit()
        db.session.remove()
    sign_in(page, live.url, "tess@example.com")


def test_a_canned_response_goes_in_at_the_cursor_and_reply_sets_the_status(live, page, tmp_path):
    _desk(live, page)
    page.goto(live.url + "/desk/tickets/1001")
    message = page.get_by_label("Message")
    message.fill("Thanks. I'll look at it today.")
    # The cursor after "Thanks." (7 characters in), then the list and the button take the focus.
    message.evaluate("area => { area.focus(); area.setSelectionRange(7, 7); }")
    page.get_by_label("Canned response").select_option(label="Restart")
    expect(page.locator("#canned-preview")).to_have_text("please restart (#1001). Tess Tech")
    page.get_by_role("button", name="Insert").click()
    expect(message).to_have_value("Thanks.please restart (#1001). Tess Tech I'll look at it today.")
    assert page.url.endswith("/desk/tickets/1001")  # no round trip: nothing posted
    page.get_by_label("Canned response").select_option(label="Greeting")
    expect(page.locator("#canned-preview")).to_have_text("Hi Ann,")
    message.evaluate("area => { area.focus(); area.setSelectionRange(0, 0); }")
    page.get_by_role("button", name="Insert").click()
    expect(message).to_have_value("Hi Ann,Thanks.please restart (#1001). Tess Tech I'll look at it today.")
    page.get_by_label("Send and set status").select_option("pending")
    shots = Path(SHOT_DIR) if SHOT_DIR else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "desk-canned-insert-1280.png"), full_page=True)
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_text("changed status from open to pending")).to_be_visible()
    expect(page.get_by_label("Message")).to_have_value("")
    with live.app.app_context():
        ticket = db.session.get(Ticket, 1)
        assert ticket.status == TicketStatus.PENDING
        assert ticket.messages[-1].body == "Hi Ann,Thanks.please restart (#1001). Tess Tech I'll look at it today."
