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
from .conftest import sign_in

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

    if width == 390:  # on a phone the actions, with the priority box, open from one line first
        page.locator(".ticket-actions > summary").click()
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
    page.locator(".ticket-actions > summary").click()  # the actions, with the priority box, open from one line
    path = page.get_by_role("heading", name="Path the user took", exact=False).bounding_box()
    for box in (page.locator(".props-card").bounding_box(), page.get_by_label("Priority", exact=True).bounding_box()):
        assert box["y"] + box["height"] <= path["y"]
    expect(page.get_by_text("طابعة الطابق الثاني", exact=True)).to_have_attribute("dir", "auto")


# -- The queue on a phone, and every page at 390 px with long addresses and links (issue 12 item 4) ----------

LONG_EMAIL = "maximilian.fitzgerald.worthington@facilities.north.example.com"  # 62 characters, no space
LONG_URL = "https://sharepoint.example.com/sites/IT/Shared%20Documents/VPN-Setup-Guide-Final-v3.pdf"
ADMIN_EMAIL = "alexandra.okonkwo.fitzgerald@servicedesk.headquarters.example.com"
QUEUE_SUBJECTS = [
    SUBJECT,
    "The second monitor in meeting room 3B flickers and goes black every few minutes during presentations",
    "VPN disconnects every twenty minutes when I work from the hotel Wi-Fi in Lisbon",
    "Please install Adobe Acrobat Pro on my laptop so I can sign the supplier contracts",
]

# Every word of the visible text under `root` (a selector, or the whole page) whose letters the browser put on
# more than one line: a word broken mid-word. A word is what lies between spaces (and after a hyphen or a slash,
# where a line may end); `ordinary` keeps only words of 2 to 20 letters (an address, a link or a 60-letter word
# may wrap; "password" may not). Selects, the hidden texts for screen readers and unrendered text are left out.
BROKEN_WORDS = r"""([root, ordinary]) => {
  const roots = root ? [...document.querySelectorAll(root)] : [document.body];
  const skip = 'script, style, template, textarea, noscript, select, option, .visually-hidden';
  const plain = /^[("“‘']?[\p{L}\p{M}'’]{2,20}[.,:;!?)"”’]*$/u;
  const broken = [];
  for (const r of roots) {
    const walker = document.createTreeWalker(r, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (!parent || parent.closest(skip)) continue;
      for (const m of node.data.matchAll(/[^\s\-\u2010\/]+[\-\u2010\/]?/gu)) {
        if (ordinary && !plain.test(m[0])) continue;
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const rects = [...range.getClientRects()].filter((b) => b.width > 0 && b.height > 0);
        if (rects.length < 2) continue;
        const tops = rects.map((b) => b.top);
        if (Math.max(...tops) - Math.min(...tops) > rects[0].height / 2) {
          broken.push({word: m[0], lines: rects.length, in: parent.outerHTML.slice(0, 120)});
        }
      }
    }
  }
  return broken;
}"""

# Each select whose chosen option doesn't fit its box and isn't cut with an ellipsis either.
SELECTS_CUT = """(root) => [...document.querySelectorAll(root.split(',').map((r) => r + ' select').join(','))]
.map((select) => {
  const s = getComputedStyle(select), ctx = document.createElement('canvas').getContext('2d');
  ctx.font = `${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
  const text = select.options[select.selectedIndex] ? select.options[select.selectedIndex].text : '';
  const room = select.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight)
               - ctx.measureText(text).width;
  return {id: select.id, text, room, ellipsis: s.textOverflow === 'ellipsis'};
}).filter((box) => box.room < 0 && !box.ellipsis)"""

# What sticks out of the window on the right: the innermost elements, to say what made a page scroll sideways.
STICKING_OUT = """() => {
  const out = (box) => box.right > window.innerWidth + 1;
  const boxes = '.table-scroll, .source-box, .diagram-box, pre';  // they scroll inside themselves
  const scrolled = (el) => el.parentElement && el.parentElement.closest(boxes);
  const found = [...document.body.querySelectorAll('*')].filter((el) => out(el.getBoundingClientRect())
    && !scrolled(el) && ![...el.children].some((c) => out(c.getBoundingClientRect())));
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const range = document.createRange();
    range.selectNodeContents(node);
    if (node.parentElement && !scrolled(node) && out(range.getBoundingClientRect())) found.push(node.parentElement);
  }
  return [...new Set(found)].slice(0, 4).map((el) => el.outerHTML.slice(0, 100));
}"""

FITS_BOX = """(selector) => [...document.querySelectorAll(selector)].map((el) =>
  ({cls: el.className, scrollWidth: el.scrollWidth, clientWidth: el.clientWidth}))"""


def _user(email, name, role=Role.REQUESTER):
    user = User(email=email, name=name, role=role)
    user.set_password(PASSWORD)
    db.session.add(user)
    db.session.flush()
    return user


def _seed_queue(app):
    """Tess, and tickets with long subjects from people known only by a 62-character address; their numbers."""
    from portal.tickets import known_issues

    with app.app_context():
        tess = _user("tess@example.com", "Tess Tech", Role.TECHNICIAN)
        sam = _user("sam@example.com", "Samantha Okafor-Richardson", Role.TECHNICIAN)
        db.session.commit()
        numbers = []
        for i, subject in enumerate(QUEUE_SUBJECTS):
            ticket, _ = services.open_ticket(
                TicketSource.WEB, subject=subject, description="It started this morning.",
                name="سارة أحمد" if i == 2 else "", email=LONG_EMAIL.replace("@", f"{i}@"),
                request_key=f"queue-{i}", queue="hardware" if i % 2 else "general")
            numbers.append(ticket.number)
            if i == 1:
                services.assign(ticket, sam, tess)
                services.set_priority(ticket, "urgent", tess)
            if i == 3:
                services.set_priority(ticket, "high", tess)
        known_issues.declare("Mail to external addresses is delayed since the provider's maintenance this morning",
                             "Messages to outside addresses bounce.", "We are on it.", [], tess, [],
                             request_key="queue-issue")
        db.session.commit()
        db.session.remove()
    return numbers


def test_the_queue_reads_as_cards_on_a_phone(browser, live):
    """At 390 px the queue fits the screen: each ticket a card whose subject, status and priority show
    without scrolling sideways, each value with its column's name, and a tick box to choose it."""
    numbers = _seed_queue(live.app)
    page = browser.new_context(viewport={"width": 390, "height": 900}).new_page()
    sign_in(page, live.url, "tess@example.com")
    page.goto(f"{live.url}/desk/")
    page.wait_for_function("() => window.htmx !== undefined")

    _no_sideways_scroll(page)
    for box in page.evaluate(FITS_BOX, "#queue-table, #queue-table .table-scroll, .queue-table"):
        assert box["scrollWidth"] <= box["clientWidth"], f"the queue scrolls sideways: {box}"
    for number in numbers:
        row = page.locator(f"#ticket-{number}")
        subject = row.get_by_role("link", name=f"#{number}")
        parts = {"subject": subject, "status": row.locator(".status"), "priority": row.locator(".priority")}
        boxes = {}
        for what, part in parts.items():
            expect(part).to_be_visible()
            boxes[what] = part.bounding_box()
            assert boxes[what]["x"] >= 0 and boxes[what]["x"] + boxes[what]["width"] <= 390, (number, what, boxes)
        # The number and subject come first, then the rest of the card.
        assert boxes["subject"]["y"] + boxes["subject"]["height"] <= boxes["status"]["y"] + 1, boxes
        # Each value says which column it is ("Requester", "Status", ...), in small visible text.
        labels = row.evaluate("""(tr) => [...tr.querySelectorAll('td')].map((td) =>
            getComputedStyle(td, '::before').content)""")
        for name in ("Requester", "Status", "Priority", "Assignee", "Due"):
            assert any(name in label for label in labels), (name, labels)
        # The tick box: visible, a 24 px target at least, named after its ticket, and it ticks.
        box = page.get_by_role("checkbox", name=f"Choose #{number}")
        expect(box).to_be_visible()
        size = box.bounding_box()
        assert size["width"] >= 24 and size["height"] >= 24, size
        assert size["x"] >= 0 and size["y"] < boxes["subject"]["y"] + boxes["subject"]["height"], (size, boxes)
    # "Choose all" is there too, with a visible name, and ticks every box.
    page.get_by_label("Choose all on this page").check()
    for number in numbers:
        expect(page.get_by_role("checkbox", name=f"Choose #{number}")).to_be_checked()
    page.get_by_label("Choose all on this page").uncheck()
    expect(page.get_by_text("All on this page", exact=True)).to_be_visible()

    # A long address is cut with an ellipsis, the whole of it on hover.
    requester = page.locator(f"#ticket-{numbers[0]} td.clip")
    assert requester.evaluate("(td) => td.scrollWidth <= td.clientWidth || getComputedStyle(td).textOverflow "
                              "=== 'ellipsis'")
    assert (requester.get_attribute("title") or "").endswith("example.com")

    # The 30 s refresh swaps the cards in place: still fitting, the focus kept where it was.
    page.locator("#f-q").focus()
    page.evaluate("() => { document.getElementById('queue-table').dataset.before = 'yes'; }")
    with page.expect_response(lambda r: r.request.headers.get("hx-trigger") == "queue-table"):
        page.evaluate("() => htmx.trigger(document.getElementById('queue-table'), 'refresh')")
    page.wait_for_function("() => document.getElementById('queue-table').dataset.before !== 'yes'")
    page.wait_for_timeout(300)
    assert page.evaluate("() => document.activeElement.id") == "f-q"
    _no_sideways_scroll(page)
    status = page.locator(f"#ticket-{numbers[0]} .status").bounding_box()
    assert status["x"] >= 0 and status["x"] + status["width"] <= 390, status
    page.context.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_no_word_in_the_queue_is_broken_mid_word(browser, live, width):
    """Subjects wrap at spaces, badges stay whole, a long word or address is cut with an ellipsis, and no
    list shows its choice cut mid-word without one."""
    numbers = _seed_queue(live.app)
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    sign_in(page, live.url, "tess@example.com")
    page.goto(f"{live.url}/desk/")
    expect(page.get_by_role("link", name=f"#{numbers[0]}")).to_be_visible()
    broken = page.evaluate(BROKEN_WORDS, ["#queue-filters, #queue-table", False])
    assert broken == [], f"words broken mid-word in the queue: {broken}"
    assert page.evaluate(SELECTS_CUT, "#queue-filters, #queue-table") == []
    if width == 1280:  # the desktop keeps its table: a header row, and a row per ticket
        expect(page.get_by_role("columnheader", name="Requester")).to_be_visible()
        assert page.locator(f"#ticket-{numbers[0]}").evaluate("(tr) => getComputedStyle(tr).display") == "table-row"
    page.context.close()


def _seed_pages(app):
    """A requester and an admin with 62-character addresses, a ticket whose messages hold a long link,
    a known issue and a public article with the same link; what the pages need."""
    from portal.kb import services as kb
    from portal.models import Visibility
    from portal.tickets import known_issues

    with app.app_context():
        admin = _user(ADMIN_EMAIL, "Alexandra Okonkwo-Fitzgerald", Role.ADMIN)
        requester = _user(LONG_EMAIL, "")
        db.session.commit()
        ticket, _ = services.open_ticket(
            TicketSource.WEB, requester=requester, request_key="pages", queue="general", subject=SUBJECT,
            description=f"The guide at {LONG_URL} says to reinstall. Write to {LONG_EMAIL} for the licence.")
        services.assign(ticket, admin, admin)
        services.staff_reply(ticket, admin, f"Please try the steps in {LONG_URL} and tell me what happens.",
                             internal=False, request_key="pages-reply")
        services.requester_reply(ticket, f"Done, no change. My manager is {ADMIN_EMAIL}.", request_key="pages-2",
                                 author=requester)
        issue = known_issues.declare("VPN drops every twenty minutes for people working from hotels",
                                     f"It drops; see {LONG_URL}", f"Reconnect, or follow {LONG_URL} meanwhile.",
                                     [], admin, [ticket], request_key="pages-issue")
        article = kb.create_article(kb.Draft(title="Set up the VPN on a new laptop", slug="vpn-setup",
                                             body=f"Download the guide from {LONG_URL}\n\nAsk {LONG_EMAIL}.",
                                             visibility=Visibility.PUBLIC), admin.id)
        db.session.commit()
        seeded = {"ticket": ticket.number, "issue": issue.id, "article": article.slug}
        db.session.remove()
    return seeded


def _step(page, base):
    page.goto(f"{base}/flows/printer-offline")
    page.get_by_role("button", name="It's on and says Ready (or shows its home screen)").click()
    expect(page.locator("p.progress")).to_contain_text("Step 2")


def _contact_errors(page, base):
    page.goto(f"{base}/contact")
    page.get_by_role("button", name="Send to the help desk").click()
    expect(page.locator(".error-summary")).to_be_visible()


PAGES = [  # (who, what, how to get there: a path, or a function of the page and base URL)
    ("anonymous", "home", "/"),
    ("anonymous", "a step", _step),
    ("anonymous", "contact with errors", _contact_errors),
    ("anonymous", "known issue", "/known-issues/{issue}"),
    ("requester", "requester's ticket", "/tickets/{ticket}"),
    ("requester", "/tickets", "/tickets"),
    ("requester", "profile", "/profile"),
    ("admin", "desk queue", "/desk/"),
    ("admin", "desk ticket", "/desk/tickets/{ticket}"),
    ("admin", "desk new", "/desk/new"),
    ("admin", "KB article", "/kb/{article}"),
    ("admin", "desk known issue", "/desk/known-issues/{issue}"),
    ("admin", "admin users", "/admin/users"),
    ("admin", "profile", "/profile"),
]


def test_every_page_fits_a_phone_and_breaks_no_ordinary_word(browser, live):
    """At 390 px, with a 62-character address and an 87-character link in what people wrote: no page
    scrolls sideways (the long things wrap), and no ordinary word is broken mid-word."""
    seeded = _seed_pages(live.app)
    pages = {}
    for who, email in (("anonymous", None), ("requester", LONG_EMAIL), ("admin", ADMIN_EMAIL)):
        pages[who] = browser.new_context(viewport={"width": 390, "height": 900}).new_page()
        if email:
            sign_in(pages[who], live.url, email)
    problems = []
    for who, what, path in PAGES:
        page = pages[who]
        if callable(path):
            path(page, live.url)
        else:
            response = page.goto(live.url + path.format(**seeded))
            assert response.ok, (what, response.status)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        if width[0] > width[1]:
            problems.append(f"{what}: the page is {width[0]}px wide in a {width[1]}px window: "
                            f"{page.evaluate(STICKING_OUT)}")
        broken = page.evaluate(BROKEN_WORDS, [None, True])
        if broken:
            problems.append(f"{what}: ordinary words broken mid-word: {broken[:5]}")
        if what == "desk ticket":  # the long link and addresses are on the page, to be wrapped
            expect(page.get_by_text(LONG_URL, exact=False).first).to_be_visible()
            expect(page.get_by_role("link", name=LONG_EMAIL).first).to_be_visible()
    for page in pages.values():
        page.context.close()
    assert problems == [], "\n".join(problems)
