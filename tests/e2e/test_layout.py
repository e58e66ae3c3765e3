"""Layout on a phone (390 px) and a desktop (1280 px): long subjects, right-to-left messages, the desk ticket.

A ticket with a 200-character subject holding a 60-letter word, and a message in Arabic and Hebrew:
no page scrolls sideways, no subject or badge is broken mid-word (a word too long for the line is cut
with an ellipsis and the full subject is in the title), the priority box is whole, and on a phone the
status and priority come before the guide's transcript.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Role, TicketSource, User
from portal.tickets import services
from portal.tickets.links import signed_ticket_url

from ..conftest import PASSWORD

LONG_WORD = "Antidisestablishmentarianism" + "Supercalifragilistic" + "Pneumonoultra"  # 61 letters
SUBJECT = ("Outlook keeps asking for my password after the update and the error says " + LONG_WORD
           + " which nobody here understands so we cannot send any mail to customers today at all")
SUBJECT = (SUBJECT + " please help")[:200]
ARABIC = "لا أستطيع الاتصال بالشبكة اللاسلكية منذ الصباح"
HEBREW = "המדפסת בקומה השנייה לא מדפיסה"
STATE = """(selector) => [...document.querySelectorAll(selector)].map((el) => {
  const s = getComputedStyle(el);
  return {wordBreak: s.wordBreak, overflowWrap: s.overflowWrap, textOverflow: s.textOverflow,
          overflowX: s.overflowX, whiteSpace: s.whiteSpace, cut: el.scrollWidth > el.clientWidth,
          title: el.getAttribute('title'), text: el.textContent.trim().slice(0, 30)};
})"""

FITS = """(selector) => [...document.querySelectorAll(selector)].map((select) => {
  const s = getComputedStyle(select), ctx = document.createElement('canvas').getContext('2d');
  ctx.font = `${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
  const longest = Math.max(...[...select.options].map((o) => ctx.measureText(o.text).width));
  return {id: select.id, room: select.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight) - longest};
})"""


def _seed(app):
    with app.app_context():
        tech = User(email="tess@example.com", name="Tess Tech", role=Role.TECHNICIAN)
        tech.set_password(PASSWORD)
        db.session.add(tech)
        db.session.commit()
        ticket, _ = services.open_ticket(TicketSource.WEB, subject=SUBJECT, description=ARABIC, name="سارة أحمد",
                                         email="sara@example.com", request_key="layout", queue="general")
        services.requester_reply(ticket, HEBREW, request_key="layout-reply")
        db.session.commit()
        number = ticket.number
        with app.test_request_context():
            link = signed_ticket_url(ticket)
        db.session.remove()
    return number, link


def _no_sideways_scroll(page):
    width = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways: {width[0]}px of content in {width[1]}px"


def _not_broken_mid_word(page, selector):
    found = page.evaluate(STATE, selector)
    assert found, f"nothing matches {selector}"
    for el in found:
        assert el["wordBreak"] not in ("break-all", "break-word"), (selector, el)
        assert el["overflowWrap"] not in ("anywhere", "break-word"), (selector, el)
        if el["cut"]:  # cut: with an ellipsis, and the whole text on hover
            assert el["textOverflow"] == "ellipsis" and el["overflowX"] == "hidden", (selector, el)
            assert el["title"] and LONG_WORD in el["title"], (selector, el)
    return found


@pytest.mark.parametrize("width", [390, 1280])
def test_long_subjects_and_right_to_left_messages_fit(browser, live, width):
    number, link = _seed(live.app)
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    page.goto(f"{live.url}/signin")
    page.get_by_label("Email").fill("tess@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # The queue: the subject wraps at spaces, the long word is cut with an ellipsis, badges stay whole.
    page.goto(f"{live.url}/desk/")
    expect(page.get_by_role("link", name=f"#{number}")).to_be_visible()
    _no_sideways_scroll(page)
    subjects = _not_broken_mid_word(page, ".queue-table a.subject")
    assert any(s["title"] and SUBJECT in s["title"] for s in subjects)
    for badge in _not_broken_mid_word(page, ".queue-table .status, .queue-table .priority"):
        assert badge["whiteSpace"] == "nowrap" and not badge["cut"], badge
    assert page.evaluate("() => document.querySelector('.queue-table a.subject').getBoundingClientRect().height") \
        > 30, "the subject wraps at spaces onto more than one line"

    # The filters' boxes show their longest choice whole.
    for box in page.evaluate(FITS, ".filters select"):
        assert box["room"] >= 16, f"a filter box cuts its longest choice: {box}"
    # The search box shows its whole placeholder ("Subject, requester or #number").
    search = page.get_by_role("searchbox", name="Search").evaluate("""(input) => {
      const s = getComputedStyle(input), ctx = document.createElement('canvas').getContext('2d');
      ctx.font = `${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
      return {room: input.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight)
                    - ctx.measureText(input.placeholder).width, placeholder: input.placeholder};
    }""")
    assert search["room"] >= 0, f"the search box cuts its placeholder: {search}"

    # The ticket page.
    page.goto(f"{live.url}/desk/tickets/{number}")
    _no_sideways_scroll(page)
    _not_broken_mid_word(page, "h1.subject")
    _not_broken_mid_word(page, ".props .status, .props .priority")
    for text in (ARABIC, HEBREW):
        message = page.get_by_text(text, exact=True)
        expect(message).to_have_attribute("dir", "auto")
        assert message.evaluate("(el) => getComputedStyle(el).direction") == "rtl"
    names = page.get_by_text("سارة أحمد", exact=True)
    assert names.count() >= 2  # the requester card, their reply in the timeline, the "opened" event
    for name in names.all():  # each isolated in its own direction
        assert name.evaluate("(el) => el.dir === 'auto' || el.tagName === 'BDI'"), name.evaluate("(el) => el.outerHTML")

    # The priority box is whole: inside its card, and wide enough for its longest choice.
    fit = page.evaluate("""() => {
      const select = document.getElementById('priority');
      const box = select.getBoundingClientRect(), card = select.closest('.card').getBoundingClientRect();
      const s = getComputedStyle(select), ctx = document.createElement('canvas').getContext('2d');
      ctx.font = `${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
      const longest = Math.max(...[...select.options].map((o) => ctx.measureText(o.text).width));
      return {inside: box.left >= card.left && box.right <= card.right
                      && box.top >= card.top && box.bottom <= card.bottom,
              room: select.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight) - longest};
    }""")
    assert fit["inside"], fit
    assert fit["room"] >= 16, f"the priority box cuts its longest choice: {fit}"

    status = page.locator(".props-card").bounding_box()
    priority = page.get_by_label("Priority", exact=True).bounding_box()
    timeline = page.get_by_role("heading", name="Timeline").bounding_box()
    if width == 390:  # one column: status and priority before the transcript and the timeline
        assert status["y"] + status["height"] <= timeline["y"]
        assert priority["y"] + priority["height"] <= timeline["y"]
    else:  # two columns: the properties beside the timeline
        assert status["x"] > timeline["x"] + timeline["width"]

    # The requester's own page (their signed link): the same subject and messages.
    page.goto(live.url + link)
    _no_sideways_scroll(page)
    _not_broken_mid_word(page, "h1.subject")
    for text in (ARABIC, HEBREW):
        message = page.get_by_text(text, exact=True)
        expect(message).to_have_attribute("dir", "auto")
        assert message.evaluate("(el) => getComputedStyle(el).direction") == "rtl"
    page.context.close()


def test_a_guides_transcript_on_the_phone_puts_status_first(browser, live):
    """A ticket from a guide: on a phone its status and priority come before the path the user took."""
    with live.app.app_context():
        tech = User(email="tess@example.com", name="Tess Tech", role=Role.TECHNICIAN)
        tech.set_password(PASSWORD)
        db.session.add(tech)
        db.session.commit()
        db.session.remove()
    user = browser.new_context(viewport={"width": 390, "height": 900}).new_page()
    user.goto(f"{live.url}/flows/printer-offline")
    user.get_by_role("button", name="It's on and says Ready (or shows its home screen)").click()
    user.get_by_role("button", name="No, nobody can print to it").click()
    user.get_by_label("Printer name or number").fill("طابعة الطابق الثاني")
    user.get_by_label("Where is the printer? (building, floor, room)").fill("HQ 2nd floor")
    user.get_by_role("button", name="Continue").click()
    user.get_by_label("Your name").fill("Ann Lee")
    user.get_by_label("Your email address").fill("ann@example.com")
    user.get_by_role("button", name="Send to the help desk").click()
    expect(user.get_by_text("Your ticket number is")).to_be_visible()
    number = user.locator(".ticket-number strong").inner_text().lstrip("#")

    page = user.context.browser.new_context(viewport={"width": 390, "height": 900}).new_page()
    page.goto(f"{live.url}/signin")
    page.get_by_label("Email").fill("tess@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live.url}/desk/tickets/{number}")
    _no_sideways_scroll(page)
    path = page.get_by_role("heading", name="Path the user took", exact=False).bounding_box()
    for box in (page.locator(".props-card").bounding_box(), page.get_by_label("Priority", exact=True).bounding_box()):
        assert box["y"] + box["height"] <= path["y"]
    expect(page.get_by_text("طابعة الطابق الثاني", exact=True)).to_have_attribute("dir", "auto")
