"""The queue in a real browser (issue 12 item 3): its refresh keeps the keyboard focus and says nothing, a
filter or page change is read out, the bulk form assigns the ticked tickets, and nothing scrolls sideways
on a phone (a long known issue's title in the bulk form used to).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Role, TicketSource, User
from portal.tickets import known_issues, services

from ..conftest import PASSWORD
from .conftest import sign_in

LONG_TITLE = ("Outlook on every laptop in the east wing asks for the password again after this morning's update "
              "and then refuses to open the shared calendars of the sales team")


def _seed(app, count=3) -> list[int]:
    """Tess Tech (signed in by the tests), Otto Other, and `count` new tickets; their numbers, oldest first."""
    with app.app_context():
        for email, name in (("tess@example.com", "Tess Tech"), ("otto@example.com", "Otto Other")):
            user = User(email=email, name=name, role=Role.TECHNICIAN)
            user.set_password(PASSWORD)
            db.session.add(user)
        db.session.commit()
        numbers = [services.open_ticket(TicketSource.WEB, subject=f"Printer jam {i}", name=f"Person {i}",
                                        email=f"p{i}@example.com", request_key=f"queue-{i}")[0].number
                   for i in range(count)]
        db.session.remove()
    return numbers



def _queue(page, url, path="/desk/"):
    page.goto(url + path)
    page.wait_for_function("() => window.htmx !== undefined && document.getElementById('queue-table')")


def _refresh(page):
    """What the 30 s poll does, now: htmx's trigger on the section (its hx-trigger lists "refresh")."""
    page.evaluate("() => htmx.trigger(document.getElementById('queue-table'), 'refresh')")


def _mark_section(page):
    page.evaluate("() => { document.getElementById('queue-table').dataset.before = 'yes'; }")


def _section_was_swapped(page) -> bool:
    return page.evaluate("() => document.getElementById('queue-table').dataset.before !== 'yes'")


def _focused_id(page) -> str:
    return page.evaluate("() => document.activeElement && document.activeElement.id")


def test_the_refresh_keeps_the_focus_and_is_not_read_out(live, page):
    numbers = _seed(live.app)
    sign_in(page, live.url, "tess@example.com")
    _queue(page, live.url)
    polls = []
    page.on("request", lambda r: polls.append(r) if r.headers.get("hx-trigger") == "queue-table" else None)
    announce = page.locator("#queue-announce")
    expect(announce).to_have_text("")
    expect(announce).to_have_attribute("role", "status")
    assert page.locator("#queue-summary").get_attribute("role") is None  # the refreshing summary is no live region

    # The focus on a ticket's link: the refresh waits (nothing changes under the technician's hands).
    link = page.get_by_role("link", name=f"#{numbers[0]} Printer jam 0")
    link.focus()
    _mark_section(page)
    _refresh(page)
    page.wait_for_timeout(700)
    assert polls == [] and not _section_was_swapped(page)
    assert _focused_id(page) == f"ticket-{numbers[0]}-link"
    expect(announce).to_have_text("")

    # A box ticked, the focus elsewhere: still waits (a refresh would untick it).
    page.get_by_label(f"Choose #{numbers[1]}").check()
    page.locator("#f-q").focus()
    _refresh(page)
    page.wait_for_timeout(700)
    assert polls == [] and not _section_was_swapped(page)
    page.get_by_label(f"Choose #{numbers[1]}").uncheck()

    # The focus outside the queue and nothing ticked: it refreshes, and says nothing.
    page.locator("#f-q").focus()
    with page.expect_response(lambda r: r.request.headers.get("hx-trigger") == "queue-table"):
        _refresh(page)
    page.wait_for_function("() => document.getElementById('queue-table').dataset.before !== 'yes'")
    page.wait_for_timeout(300)  # htmx settles
    assert len(polls) == 1 and _focused_id(page) == "f-q"
    expect(announce).to_have_text("")

    # A filter change is read out: the live region (outside the queue) gets the new summary.
    page.get_by_label("Status", exact=True).select_option("open")
    expect(announce).to_have_text("0 tickets")
    page.get_by_label("Status", exact=True).select_option("active")
    expect(announce).to_have_text("3 tickets")


def test_a_page_change_keeps_the_focus_on_its_button_and_is_read_out(live, page):
    _seed(live.app, count=101)  # three pages of 50
    sign_in(page, live.url, "tess@example.com")
    _queue(page, live.url, "/desk/?sort=oldest")
    announce = page.locator("#queue-announce")
    page.get_by_role("link", name="Next page").focus()
    page.keyboard.press("Enter")
    expect(announce).to_have_text("101 tickets · page 2 of 3")
    expect(page.locator("#queue-summary")).to_contain_text("page 2 of 3")
    page.wait_for_timeout(300)  # htmx restores the focus when it settles
    assert _focused_id(page) == "queue-next"  # htmx put the focus back on the button with the same id
    assert page.url.endswith("page=2")


def test_tick_two_and_assign_them_to_me(live, page):
    numbers = _seed(live.app)
    sign_in(page, live.url, "tess@example.com")
    _queue(page, live.url)
    # "Choose all on this page" (shown with JavaScript) ticks each box, and follows them.
    choose_all = page.get_by_label("Choose all on this page")
    expect(choose_all).to_be_visible()
    choose_all.check()
    for number in numbers:
        expect(page.get_by_label(f"Choose #{number}")).to_be_checked()
    choose_all.uncheck()
    page.get_by_label(f"Choose #{numbers[0]}").check()
    assert choose_all.evaluate("(box) => box.indeterminate && !box.checked")
    page.get_by_label(f"Choose #{numbers[2]}").check()
    expect(page.get_by_label("Assign to")).to_have_value("me")
    page.get_by_role("button", name="Assign chosen").click()
    expect(page.get_by_text("2 tickets assigned to Tess Tech.")).to_be_visible()
    rows = {n: page.locator(f"#ticket-{n}") for n in numbers}
    expect(rows[numbers[0]].get_by_role("cell", name="Tess Tech")).to_be_visible()
    expect(rows[numbers[2]].get_by_role("cell", name="Tess Tech")).to_be_visible()
    expect(rows[numbers[1]].get_by_role("cell", name="Unassigned")).to_be_visible()
    expect(rows[numbers[0]].get_by_text("Open", exact=True)).to_be_visible()  # out of triage, as claiming does
    # Set the status of one, and one that can't take it is named.
    page.get_by_label(f"Choose #{numbers[0]}").check()
    page.get_by_label(f"Choose #{numbers[1]}").check()
    page.get_by_label("Set status", exact=True).select_option("closed")
    page.get_by_role("button", name="Set status of chosen").click()
    expect(page.get_by_text("2 tickets set to closed.")).to_be_visible()
    page.get_by_label(f"Choose #{numbers[2]}").check()
    page.get_by_label("Set status", exact=True).select_option("open")
    page.get_by_role("button", name="Set status of chosen").click()
    expect(page.get_by_text(f"Not changed: #{numbers[2]} (already open)")).to_be_visible()


@pytest.mark.parametrize("width", [390, 1280])
def test_the_bulk_form_fits_the_page(browser, live, width):
    _seed(live.app)
    with live.app.app_context():
        tess = db.session.query(User).filter_by(email="tess@example.com").one()
        known_issues.declare(LONG_TITLE, "Password prompts.", "We're on it.", [], tess)
        db.session.remove()
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    sign_in(page, live.url, "tess@example.com")
    _queue(page, live.url)
    expect(page.get_by_role("button", name="Link to known issue")).to_be_visible()
    sizes = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert sizes[0] <= width, f"the queue scrolls sideways: {sizes[0]}px of content in {width}px"
    form = page.locator("#bulk-actions").bounding_box()
    for control in ("#bulk-assignee", "#bulk-status", "#bulk-issue", "#bulk-link"):
        box = page.locator(control).bounding_box()
        assert form["x"] <= box["x"] and box["x"] + box["width"] <= form["x"] + form["width"] + 0.5, control
    page.context.close()
