"""No silent failures, in a real browser: an htmx request that fails says so next to the form and keeps
what was typed; a technician's action says what it did; merging asks first; a form with errors leads
with a summary whose links reach each field. The requester's side too: every form a requester sends
in place (their ticket's forms, the contact form, "This is my problem too", a guide's steps, "Send this
guide", the search) says why it failed where they acted and keeps what they typed and the files they chose."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import KnownIssue, Message, Role, Ticket, TicketSource, User
from portal.tickets import known_issues, services
from portal.tickets.links import signed_ticket_url

from ..conftest import PASSWORD
from .conftest import sign_in

#: Where the screenshots go: SCREENSHOT_DIR (docs/screenshots holds the committed ones), else the test's tmp dir.
SHOT_DIR = os.environ.get("SCREENSHOT_DIR")
TYPED = "Please restart the laptop and tell me what the screen says."


def _shots(tmp_path: Path) -> Path:
    shots = Path(SHOT_DIR) if SHOT_DIR else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def _sign_out_elsewhere(browser, live, email: str) -> None:
    """The person signs in on another computer and signs out there: every session of theirs ends."""
    other = browser.new_context()
    elsewhere = other.new_page()
    sign_in(elsewhere, live.url, email)
    elsewhere.get_by_role("button", name="Sign out").click()
    expect(elsewhere.get_by_text("You're signed out.")).to_be_visible()
    other.close()


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


def test_after_an_action_from_the_keyboard_the_focus_stays_at_the_form_used(live, page):
    _desk(live, page)
    page.goto(live.url + "/desk/tickets/1001")
    page.get_by_role("button", name="Mark pending").focus()
    page.keyboard.press("Enter")  # the panel is swapped: that button is gone ("Mark pending" on a pending ticket)
    expect(page.get_by_role("status").filter(has_text="Status changed to Pending.")).to_be_visible()
    focused = page.evaluate("() => { const f = document.activeElement.closest('form'); return f && f.action; }")
    assert focused and focused.endswith("/desk/tickets/1001/status"), focused  # not the top of the page
    page.get_by_label("Priority", exact=True).select_option("high")
    page.get_by_role("button", name="Change priority").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Priority set to High.")).to_be_visible()
    assert page.evaluate("() => document.activeElement.closest('form').action").endswith("/priority")


def test_an_expired_page_says_to_reload_and_a_status_change_says_what_it_did(live, page):
    _desk(live, page)
    page.goto(live.url + "/desk/tickets/1001")
    assert page.evaluate("typeof htmx") == "object"
    page.get_by_role("button", name="Mark pending").click()
    done = page.get_by_role("status").filter(has_text="Status changed to Pending.")
    expect(done).to_be_visible()  # next to the buttons, and read out
    page.get_by_label("Assign to").select_option(label="Tess Tech")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_text("Assigned to Tess Tech.")).to_be_visible()
    expect(page.get_by_text("Status changed to Pending.")).to_have_count(0)  # only what was just done

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
    _sign_out_elsewhere(browser, live, "tess@example.com")  # this browser's session ends too

    page.get_by_role("button", name="Send reply").click()
    expect(_reply_form(page).get_by_role("alert")).to_have_text(
        "You were signed out, so this wasn't saved. What you typed is still here. "
        "Sign in again in a new tab or window, then come back here and try again.")
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


# -- the requester's side ---------------------------------------------------------------------------------

ASKED = "The printer still says offline after the restart."
LOG = b"09:14 spooler: printer PRN-2F-EAST offline\n"
READY = "It's on and says Ready (or shows its home screen)"


def _requester_ticket(live, *, resolved: bool = False, account: str | None = None) -> str:
    """Ticket #1001, opened on the contact form (by `account`, else by a name and email), and its address."""
    with live.app.app_context():
        requester = None
        if account:
            requester = User(email=account, name="Ann Asker", role=Role.REQUESTER)
            requester.set_password(PASSWORD)
            db.session.add(requester)
            db.session.commit()
        ticket, _ = services.open_ticket(TicketSource.WEB, subject="The printer on floor 2 is offline",
                                         requester=requester, name="Ann Asker", email="ann@example.com",
                                         request_key="e2e-requester")
        if resolved:
            services.requester_solved(ticket)
        with live.app.test_request_context():
            link = f"/tickets/{ticket.number}" if account else signed_ticket_url(ticket)
        db.session.remove()
    return live.url + link


def _posted(path: str):
    """A matcher for page.route: the form's requests to `path` (its query string aside)."""
    return re.compile(rf"^https?://[^/]+{re.escape(path)}(\?.*)?$")


def _messages(live) -> list:
    with live.app.app_context():
        found = [m.body for m in db.session.scalars(sa.select(Message))]
        db.session.remove()
    return found


def _chosen(field) -> list[str]:
    return field.evaluate("(input) => Array.from(input.files, (f) => f.name)")


def test_a_requesters_failed_reply_keeps_the_text_and_the_file_and_says_why(live, page):
    page.set_viewport_size({"width": 390, "height": 844})  # on a phone
    page.goto(_requester_ticket(live))
    page.get_by_label("Your reply").fill(ASKED)
    files = page.get_by_label("Attach files (optional)")
    files.set_input_files(files=[{"name": "spooler.txt", "mimeType": "text/plain", "buffer": LOG}])
    form, reply = page.locator("#reply-box"), _posted("/tickets/1001/reply")
    kept = "What you typed and the files you chose are still here."
    for answer, said in [
        (lambda route: route.fulfill(status=500, body="Internal Server Error"),
         f"Something went wrong on our side, so this wasn't saved. {kept} Try again in a moment."),
        (lambda route: route.fulfill(status=429, headers={"Retry-After": "120"}, body="Too many"),
         f"Too many attempts: wait 2 minutes and try again. {kept}"),
        (lambda route: route.fulfill(status=413, body="Too large"),
         f"That is more than we accept in one go, so nothing was sent. {kept} Make it smaller and try again."),
        (lambda route: route.abort("internetdisconnected"),
         f"We couldn't send this: the connection dropped. {kept} Check your connection and try again."),
    ]:
        page.route(reply, answer)
        page.get_by_role("button", name="Send reply").click()
        expect(form.get_by_role("alert")).to_have_text(said)  # at the form, one message: the latest
        expect(page.get_by_label("Your reply")).to_have_value(ASKED)
        assert _chosen(files) == ["spooler.txt"]
        page.unroute(reply)
    assert _messages(live) == []

    page.get_by_role("button", name="Send reply").click()  # the connection is back
    replies = page.locator("ol.messages")
    expect(replies.get_by_text(ASKED)).to_be_visible()
    expect(replies.get_by_role("link", name="spooler.txt")).to_be_visible()
    expect(page.get_by_label("Your reply")).to_have_value("")
    expect(page.get_by_role("alert")).to_have_count(0)
    assert _messages(live) == [ASKED]


def test_a_requester_signed_out_elsewhere_keeps_the_reply_and_sends_it_once_signed_in_again(live, page, browser):
    address = _requester_ticket(live, account="ann@example.com")
    sign_in(page, live.url, "ann@example.com")
    page.goto(address)
    page.get_by_label("Your reply").fill(ASKED)
    _sign_out_elsewhere(browser, live, "ann@example.com")  # every session of hers ends

    page.get_by_role("button", name="Send reply").click()
    expect(page.locator("#reply-box").get_by_role("alert")).to_have_text(
        "You were signed out, so this wasn't saved. What you typed is still here. "
        "Sign in again in a new tab or window, then come back here and try again.")
    expect(page.get_by_label("Your reply")).to_have_value(ASKED)
    assert page.url == address  # not sent away to the sign-in page, which would lose the reply

    tab = page.context.new_page()
    sign_in(tab, live.url, "ann@example.com")
    page.bring_to_front()
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator("ol.messages").get_by_text(ASKED)).to_be_visible()


def test_a_failed_rating_keeps_the_score_and_the_comment(live, page):
    page.goto(_requester_ticket(live, resolved=True))
    page.get_by_label("4 – Good").check()
    page.get_by_label("Anything you'd like to tell us? (optional)").fill("Quick, thanks")
    rating = _posted("/tickets/1001/rating")
    page.route(rating, lambda route: route.fulfill(status=503, headers={"Retry-After": "30"}, body="Busy"))
    page.get_by_role("button", name="Send rating").click()
    expect(page.locator("#rating").get_by_role("alert")).to_have_text(
        "The help desk is busy for a moment, so nothing was saved. What you typed is still here. "
        "Try again in a minute.")
    expect(page.get_by_label("4 – Good")).to_be_checked()
    expect(page.get_by_label("Anything you'd like to tell us? (optional)")).to_have_value("Quick, thanks")
    page.unroute(rating)
    page.get_by_role("button", name="Send rating").click()
    expect(page.get_by_text("Thank you for rating our help.")).to_be_visible()
    expect(page.locator(".rating-given")).to_contain_text("4 of 5 (Good): “Quick, thanks”")


def test_a_failed_withdrawal_keeps_the_reason(live, page):
    page.goto(_requester_ticket(live))
    page.get_by_role("button", name="Withdraw this request").click()
    expect(page.get_by_role("heading", name="Withdraw request #1001?")).to_be_visible()
    page.get_by_label("Why? (optional)").fill("A colleague fixed it.")
    withdraw = _posted("/tickets/1001/withdraw")
    page.route(withdraw, lambda route: route.abort("internetdisconnected") if route.request.method == "POST"
               else route.continue_())
    page.get_by_role("button", name="Withdraw this request").click()
    expect(page.get_by_role("alert")).to_have_text(
        "We couldn't send this: the connection dropped. What you typed is still here. "
        "Check your connection and try again.")
    expect(page.get_by_label("Why? (optional)")).to_have_value("A colleague fixed it.")
    page.unroute(withdraw)
    page.get_by_role("button", name="Withdraw this request").click()
    expect(page.get_by_text("You've withdrawn request #1001.")).to_be_visible()
    # Closed: no reply box, a new request instead.
    expect(page.get_by_label("Your reply")).to_have_count(0)
    expect(page.get_by_text("This request is closed. If you still need help, open a new request.")).to_be_visible()
    expect(page.locator(".messages")).to_contain_text("Withdrawn: A colleague fixed it.")


def test_a_failed_contact_form_keeps_the_text_and_the_file(live, page):
    page.goto(live.url + "/contact")
    page.get_by_label("Your name").fill("Ann Asker")
    page.get_by_label("Your email address").fill("ann@example.com")
    page.get_by_label("What's the problem, in a few words?").fill("Printer offline")
    files = page.get_by_label("Attach files (optional)")
    files.set_input_files(files=[{"name": "spooler.txt", "mimeType": "text/plain", "buffer": LOG}])
    contact = _posted("/contact")
    page.route(contact, lambda route: route.fulfill(status=500, body="Internal Server Error")
               if route.request.method == "POST" else route.continue_())
    page.get_by_role("button", name="Send to the help desk").click()
    expect(page.locator("form").filter(has=files).get_by_role("alert")).to_have_text(
        "Something went wrong on our side, so this wasn't saved. What you typed and the files you chose are "
        "still here. Try again in a moment.")
    expect(page.get_by_label("What's the problem, in a few words?")).to_have_value("Printer offline")
    assert _chosen(files) == ["spooler.txt"]
    page.unroute(contact)
    page.get_by_role("button", name="Send to the help desk").click()
    expect(page.get_by_text("Your ticket is open. Its number is #1001.")).to_be_visible()
    expect(page.get_by_role("link", name="spooler.txt")).to_be_visible()


def test_this_is_my_problem_too_keeps_the_name_and_email_when_it_fails(live, page):
    with live.app.app_context():
        tess = User(email="tess@example.com", name="Tess Tech", role=Role.TECHNICIAN)
        db.session.add(tess)
        db.session.commit()
        known_issues.declare("Printers on floor 2 are down", "Nothing prints", "We're on it.", [], tess)
        db.session.commit()
        issue_id = db.session.scalar(sa.select(KnownIssue.id))
        db.session.remove()
    page.goto(f"{live.url}/known-issues/{issue_id}")
    page.get_by_label("Your name").fill("Ann Asker")
    page.get_by_label("Your email").fill("ann@example.com")
    join = _posted(f"/known-issues/{issue_id}/join")
    page.route(join, lambda route: route.fulfill(status=500, body="Internal Server Error"))
    page.get_by_role("button", name="This is my problem too").click()
    expect(page.locator("#join").get_by_role("alert")).to_have_text(
        "Something went wrong on our side, so this wasn't saved. What you typed is still here. Try again in a moment.")
    expect(page.get_by_label("Your name")).to_have_value("Ann Asker")
    expect(page.get_by_label("Your email")).to_have_value("ann@example.com")
    page.unroute(join)
    page.get_by_role("button", name="This is my problem too").click()
    expect(page.get_by_role("heading", name="You're on the list: ticket #1001")).to_be_visible()


def test_a_failed_search_keeps_the_words_and_says_it_could_not_show_results(live, page):
    page.goto(live.url)
    search = re.compile(r"/search\?")
    page.route(search, lambda route: route.fulfill(status=500, body="Internal Server Error"))
    page.get_by_label("Describe your problem").fill("printer offline")
    expect(page.get_by_role("search").get_by_role("alert")).to_have_text(
        "Something went wrong on our side, so we couldn't show this. What you typed is still here. "
        "Try again in a moment.")  # nothing was being saved: it doesn't say "wasn't saved"
    expect(page.get_by_label("Describe your problem")).to_have_value("printer offline")
    page.unroute(search)
    page.get_by_label("Describe your problem").press("End")
    page.get_by_label("Describe your problem").press_sequentially(" paper")
    expect(page.locator("#search-results").get_by_role("link").first).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)


def test_a_guides_forms_keep_what_was_typed_when_they_fail(live, page):
    page.goto(live.url + "/flows/printer-offline")
    page.get_by_role("button", name=READY).click()
    expect(page.get_by_text("Step 2")).to_be_visible()
    walk = re.search(r"/walks/([\w-]+)/", page.url)[1]

    # "Send this guide to my email"
    page.get_by_text("Send this guide to my email").click()
    page.get_by_label("Your email address").fill("ann@example.com")
    send = _posted(f"/walks/{walk}/send")
    page.route(send, lambda route: route.fulfill(status=429, headers={"Retry-After": "60"}, body="Too many"))
    page.get_by_role("button", name="Send the link").click()
    expect(page.locator(".send-guide").get_by_role("alert")).to_have_text(
        "Too many attempts: wait a minute and try again. What you typed is still here.")
    expect(page.get_by_label("Your email address")).to_have_value("ann@example.com")
    page.unroute(send)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_text("We've sent a link to this guide to ann@example.com.")).to_be_visible()

    # A step's form
    page.get_by_role("button", name="No, nobody can print to it").click()
    page.get_by_label("Printer name or number").fill("PRN-2F-EAST")
    answer = _posted(f"/walks/{walk}/3")
    page.route(answer, lambda route: route.abort("internetdisconnected"))
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#step-form").get_by_role("alert")).to_have_text(
        "We couldn't send this: the connection dropped. What you typed is still here. "
        "Check your connection and try again.")
    expect(page.get_by_label("Printer name or number")).to_have_value("PRN-2F-EAST")
    page.unroute(answer)

    # "Where can the help desk reach you?"
    page.get_by_label("Where is the printer? (building, floor, room)").fill("HQ 2nd floor")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Where can the help desk reach you?")).to_be_visible()
    page.get_by_label("Your name").fill("Ann Asker")
    page.get_by_label("Your email address").fill("ann@example.com")
    contact = _posted(f"/walks/{walk}/contact")
    page.route(contact, lambda route: route.fulfill(status=500, body="Internal Server Error")
               if route.request.method == "POST" else route.continue_())
    page.get_by_role("button", name="Send to the help desk").click()
    expect(page.locator("#flow-step form").filter(has=page.get_by_label("Your name")).get_by_role("alert")
           ).to_have_text("Something went wrong on our side, so this wasn't saved. What you typed is still here. "
                          "Try again in a moment.")
    expect(page.get_by_label("Your name")).to_have_value("Ann Asker")
    page.unroute(contact)
    page.get_by_role("button", name="Send to the help desk").click()
    expect(page.get_by_role("heading", name="We've passed this to the help desk")).to_be_visible()
