"""A requester on their ticket in a real browser: withdraw asks first, "This is solved", then "How did we do?"."""

from playwright.sync_api import expect

from portal.extensions import db
from portal.models import TicketSource
from portal.tickets import services
from portal.tickets.links import signed_ticket_url


def _ticket_link(live) -> str:
    """A ticket opened on the contact form by someone without an account, and its signed link."""
    with live.app.app_context():
        ticket, _ = services.open_ticket(TicketSource.WEB, subject="The printer on floor 2 is offline",
                                         name="Ann Asker", email="ann@example.com", request_key="e2e")
        with live.app.test_request_context():
            link = signed_ticket_url(ticket)
        db.session.remove()
    return live.url + link


def test_the_requester_withdraws_nothing_by_mistake_solves_and_rates(live, page):
    page.goto(_ticket_link(live))
    expect(page.get_by_role("heading", name="Do you still need help?")).to_be_visible()

    # Withdraw asks first; "Keep it open" changes nothing.
    page.get_by_role("button", name="Withdraw this request").click()
    expect(page.get_by_role("heading", name="Withdraw request #1001?")).to_be_visible()
    page.get_by_role("link", name="Keep it open").click()
    expect(page.locator(".facts")).to_contain_text("New")

    page.get_by_role("button", name="This is solved").click()
    expect(page.get_by_text("Glad it's solved. Ticket #1001 is resolved.")).to_be_visible()
    expect(page.get_by_role("button", name="This is solved")).to_have_count(0)
    # "Reopen this ticket": its text starts at the top of its card, with no empty line above it.
    reopen = page.locator("form.reopen")
    expect(reopen.get_by_role("button", name="Reopen this ticket")).to_be_visible()
    gap = reopen.evaluate("""(card) => {
      const s = getComputedStyle(card);
      return card.querySelector('p').getBoundingClientRect().top - card.getBoundingClientRect().top
             - parseFloat(s.borderTopWidth) - parseFloat(s.paddingTop);
    }""")
    assert abs(gap) < 1, f"{gap}px of empty space above the reopen card's text"
    rating = page.get_by_role("group", name="Rate our help from 1 (very poor) to 5 (very good)")
    expect(rating).to_be_visible()

    page.get_by_role("button", name="Send rating").click()  # nothing chosen: said next to the scale
    expect(page.locator("#score-error")).to_have_text("Choose a score from 1 (very poor) to 5 (very good).")

    page.get_by_label("4 – Good").check()
    page.get_by_label("Anything you'd like to tell us? (optional)").fill("Fixed <b>fast</b>, thanks")
    page.get_by_role("button", name="Send rating").click()
    expect(page.get_by_text("Thank you for rating our help.")).to_be_visible()
    expect(page.locator(".rating-given")).to_contain_text(
        "You rated our help 4 of 5 (Good): “Fixed <b>fast</b>, thanks”")  # the markup stays text
    expect(page.get_by_label("4 – Good")).to_be_checked()
