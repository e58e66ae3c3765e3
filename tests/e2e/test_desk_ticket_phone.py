"""The technician's ticket page on a phone and a desktop (issue 12 item 4).

At 390 px the status, priority, assignee, queue and due times come first, then one line that opens the
actions (claim, assign, status, priority, queue, merge, link) with a tap, then the conversation: a
technician reading it no longer scrolls past a screen and a half of forms. An action taken from the
opened list says what it did next to its form and leaves the list open, with JavaScript or without; a
form sent back with an error shows the list open with the error. At 1280 px the actions are shown as
before, the priority box and its button share a line, and no card has a gap above its heading.
"""

from __future__ import annotations

from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Role, Ticket, TicketStatus, User
from portal.tickets import services

from ..conftest import PASSWORD
from .conftest import sign_in

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
FIRST_MESSAGE = "It happens on the office Wi-Fi only; at home the laptop is quiet."
ACTIONS = "Change status, priority, assignee"


def _seed(live) -> None:
    """Ann's ticket #1001 (assigned, high priority, a reply each way) and two older ones; Tess and Sam."""
    with live.app.app_context():
        people = {}
        for email, name in (("tess@example.com", "Tess Tech"), ("sam@example.com", "Sam Okafor")):
            people[email] = User(email=email, name=name, role=Role.TECHNICIAN)
            people[email].set_password(PASSWORD)
        db.session.add_all(people.values())
        db.session.commit()
        tess = people["tess@example.com"]
        ticket = services.open_on_behalf(
            tess, email="ann@example.com", name="Ann Lee", subject="Laptop fan is loud and the laptop gets hot",
            description="Since this morning the fan runs at full speed and the keyboard is hot to the touch. "
                        "Teams calls stutter while it does.", queue="general", priority="normal", request_key="k1")
        for n, subject in enumerate(("Second monitor flickers in meeting room 3B during presentations",
                                     "Please install Adobe Acrobat Pro so I can sign supplier contracts")):
            services.open_on_behalf(tess, email="ann@example.com", name="Ann Lee", subject=subject,
                                    description="", queue="hardware", priority="normal", request_key=f"o{n}")
        services.assign(ticket, tess, tess)
        services.set_priority(ticket, "high", tess)
        services.requester_reply(ticket, FIRST_MESSAGE, request_key="r1")
        services.staff_reply(ticket, tess, "Thanks Ann. Could you send me the model on the sticker underneath?",
                             internal=False, request_key="s1")
        db.session.commit()
        db.session.remove()


def _phone(browser, live, *, js: bool = True):
    page = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True, java_script_enabled=js).new_page()
    sign_in(page, live.url, "tess@example.com")
    page.goto(live.url + "/desk/tickets/1001")
    return page


def _status(live) -> TicketStatus:
    with live.app.app_context():
        status = db.session.get(Ticket, 1).status
        db.session.remove()
    return status


def test_on_a_phone_the_conversation_comes_after_the_properties_and_one_tap_opens_the_actions(browser, live):
    _seed(live)
    page = _phone(browser, live)
    message = page.locator(".timeline .tl-message").filter(has_text=FIRST_MESSAGE)
    top = message.evaluate("(el) => el.getBoundingClientRect().top + window.scrollY")
    assert top < 1.6 * PHONE["height"], f"the first message starts {top:.0f}px down a {PHONE['height']}px screen"
    for badge, text in ((".props .status", "Open"), (".props .priority", "High")):
        expect(page.locator(badge)).to_have_text(text)
        box = page.locator(badge).bounding_box()
        assert box["y"] + box["height"] <= top, f"{badge} comes after the conversation"
    expect(page.locator(".props")).to_contain_text("Tess Tech")  # the assignee and the queue are there too
    expect(page.locator(".props")).to_contain_text("general")

    # The actions: closed, one tap opens them, and an action from them says what it did and stays open.
    mark_pending = page.get_by_role("button", name="Mark pending")
    expect(mark_pending).to_be_hidden()
    summary = page.locator("summary").filter(has_text=ACTIONS)
    summary_box = summary.bounding_box()
    assert summary_box["y"] < top and summary_box["height"] >= 44  # before the conversation, a finger's size
    summary.tap()
    expect(mark_pending).to_be_visible()
    expect(page.get_by_label("Priority", exact=True)).to_be_visible()
    expect(page.get_by_label("Link a related ticket")).to_be_visible()
    mark_pending.tap()
    status_form = page.locator("form").filter(has=page.get_by_role("button", name="Mark resolved"))
    expect(status_form.get_by_role("status")).to_have_text("Status changed to Pending.")
    expect(status_form.get_by_role("status")).to_be_in_viewport()  # the page stayed where the tap was
    expect(page.get_by_role("button", name="Mark resolved")).to_be_visible()  # still open after the swap
    expect(page.locator(".props .status")).to_have_text("Pending")
    assert _status(live) == TicketStatus.PENDING

    # A link to a ticket that doesn't exist: sent back with the list open and the error under its field.
    page.get_by_label("Link a related ticket").fill("#9999")
    page.get_by_role("button", name="Link", exact=True).tap()
    expect(page.locator("#link-error")).to_be_visible()
    expect(page.locator("#link-error")).to_have_text("Enter the number of an existing ticket, like #1042.")
    expect(page.get_by_label("Link a related ticket")).to_have_value("#9999")
    page.context.close()


def test_on_a_phone_without_javascript_the_actions_open_and_work(browser, live):
    _seed(live)
    page = _phone(browser, live, js=False)
    mark_pending = page.get_by_role("button", name="Mark pending")
    expect(mark_pending).to_be_hidden()
    page.locator("summary").filter(has_text=ACTIONS).tap()
    expect(mark_pending).to_be_visible()
    mark_pending.tap()  # the page comes back (a new page: the list closed) with the confirmation at its top
    expect(page.get_by_text("Status changed to Pending.")).to_be_visible()
    expect(page.locator(".props .status")).to_have_text("Pending")
    assert _status(live) == TicketStatus.PENDING

    # A merge into a ticket that doesn't exist: the page comes back with the list open and the error shown.
    page.locator("summary").filter(has_text=ACTIONS).tap()
    page.get_by_label("Merge this duplicate into ticket").fill("#9999")
    page.get_by_role("button", name="Merge", exact=True).tap()
    expect(page.locator("#merge-error")).to_be_visible()
    expect(page.get_by_label("Merge this duplicate into ticket")).to_have_value("#9999")
    page.context.close()


def test_on_a_desktop_the_actions_show_as_before_with_priority_on_one_line(browser, live):
    _seed(live)
    page = browser.new_context(viewport=DESKTOP).new_page()
    sign_in(page, live.url, "tess@example.com")
    page.goto(live.url + "/desk/tickets/1001")
    expect(page.locator("summary").filter(has_text=ACTIONS)).to_be_hidden()
    expect(page.get_by_role("button", name="Mark pending")).to_be_visible()  # no tap needed
    select = page.get_by_label("Priority", exact=True).bounding_box()
    button = page.get_by_role("button", name="Change priority").bounding_box()
    assert abs(select["y"] - button["y"]) < 2 and button["x"] >= select["x"] + select["width"], (select, button)

    # "The requester's other tickets" starts at its card's padding, as the other cards' headings do.
    gap = page.locator(".other-tickets").evaluate("""(card) => {
      const h = card.querySelector('h2'), s = getComputedStyle(card);
      return h.getBoundingClientRect().top - card.getBoundingClientRect().top - parseFloat(s.paddingTop)
        - parseFloat(s.borderTopWidth);
    }""")
    assert abs(gap) < 1, f"{gap}px of extra space above the heading"
    expect(page.locator(".other-tickets li")).to_have_count(2)

    # The status buttons mid-screen: after the click the page stays where it was (it used to end at its bottom).
    page.get_by_role("button", name="Mark pending").evaluate("(b) => b.scrollIntoView({block: 'center'})")
    scrolled = page.evaluate("() => window.scrollY")
    page.get_by_role("button", name="Mark pending").click()
    expect(page.get_by_role("status").filter(has_text="Status changed to Pending.")).to_be_in_viewport()
    assert abs(page.evaluate("() => window.scrollY") - scrolled) < 2
    expect(page.get_by_role("button", name="Mark resolved")).to_be_visible()
    page.context.close()
