"""Accessibility in a real browser: axe-core on every page type, colour contrast, the focus indicator.

axe-core is vendored (tests/e2e/vendor/axe.min.js, 4.14.1 from the npm registry, MPL-2.0) and its
sha256 is checked before use; it is injected into each page of a context opened with `bypass_csp`
(the portal's strict CSP rightly refuses injected script), and never served by the portal.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from portal.admin import services as admin_services
from portal.extensions import db
from portal.kb.services import Draft, create_article
from portal.models import Role, TicketSource, User
from portal.models.kb import Visibility
from portal.tickets import known_issues, services
from portal.tickets.links import signed_ticket_url

from ..conftest import PASSWORD
from .conftest import sign_in

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
AXE_VERSION = "4.14.1"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
#: WCAG 2.0, 2.1 and 2.2 A and AA (colour contrast is `color-contrast`, in wcag2aa), and axe's best practices.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
ERRORS = "[data-error-summary], .field-error, .flash-error"


def axe_source() -> str:
    data = AXE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == AXE_SHA256, "tests/e2e/vendor/axe.min.js is not the pinned axe-core"
    return data.decode()


def test_the_vendored_axe_is_the_pinned_release():
    source = axe_source()
    assert source.startswith(f"/*! axe v{AXE_VERSION}")
    assert (AXE.parent / "axe-core.LICENSE").read_text().startswith("Mozilla Public License")


class Auditor:
    """Runs axe on pages and keeps every serious or critical violation, and every contrast failure."""

    def __init__(self):
        self.source = axe_source()
        self.problems: list[str] = []
        self.audited: list[str] = []

    def __call__(self, page, name: str) -> None:
        page.wait_for_load_state("load")
        # No waiting for a swapped step's ease-in: text must meet contrast from its first frame.
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.add_script_tag(content=self.source)
        result = page.evaluate(
            "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags},"
            " resultTypes: ['violations']})", TAGS)
        self.audited.append(name)
        for v in result["violations"]:
            if v["impact"] not in ("serious", "critical") and v["id"] != "color-contrast":
                continue
            lines = [f"{name} ({page.url}): [{v['impact']}] {v['id']}: {v['help']} ({len(v['nodes'])})"]
            for node in v["nodes"][:8]:
                summary = node["failureSummary"].splitlines()[-1].strip()
                lines.append(f"    {' '.join(map(str, node['target']))}: {summary}")
                lines.append(f"      {node['html'][:160]}")
            self.problems.append("\n".join(lines))

    def report(self) -> str:
        return f"{len(self.problems)} problem(s) on {len(self.audited)} pages:\n" + "\n".join(self.problems)


def _people(app):
    with app.app_context():
        people = {}
        for email, name, role in [("rita@example.com", "Rita Requester", Role.REQUESTER),
                                  ("tess@example.com", "Tess Tech", Role.TECHNICIAN),
                                  ("adam@example.com", "Adam Admin", Role.ADMIN)]:
            user = User(email=email, name=name, role=role)
            user.set_password(PASSWORD)
            db.session.add(user)
            people[role] = user
        db.session.commit()
        ticket, _ = services.open_ticket(
            TicketSource.WEB, subject="Outlook says it is offline since this morning",
            description="It keeps asking for my password.", requester=people[Role.REQUESTER], request_key="a11y")
        services.staff_reply(ticket, people[Role.TECHNICIAN], "Please try signing out and in again.",
                             internal=False, request_key="a11y-reply")
        services.staff_reply(ticket, people[Role.TECHNICIAN], "Checked the mailbox: fine.", internal=True,
                             request_key="a11y-note")
        db.session.commit()
        issue = known_issues.declare("Email is slow for everyone", "Messages take ten minutes to arrive.",
                                     "We are looking into it.", ["email-not-working"], people[Role.TECHNICIAN])
        article = create_article(Draft(title="Set up email on a new phone", body="Open **Settings**, then Mail.",
                                       tags=["email"], visibility=Visibility.PUBLIC), people[Role.TECHNICIAN].id)
        db.session.commit()
        with app.test_request_context():
            link = signed_ticket_url(ticket)
        queue = admin_services.add_queue("network", "Network and VPN", "Wi-Fi, VPN and cabled network")
        canned = admin_services.add_canned("Need more details", "Hi {requester_first_name}, a screenshot?")
        db.session.commit()
        facts = {"number": ticket.number, "link": link, "issue": issue.id, "slug": article.slug,
                 "requester_id": people[Role.REQUESTER].id, "queue_id": queue.id, "canned_id": canned.id}
        db.session.remove()
    return facts



@pytest.mark.parametrize("width", [1280, 390])
def test_axe_finds_nothing_serious_on_any_page_type(browser, live, width):
    facts = _people(live.app)
    audit = Auditor()
    url = live.url

    def context():
        return browser.new_context(bypass_csp=True, viewport={"width": width, "height": 900})

    # Someone not signed in: home, search, a walk through its step types, the contact form, sign in / up.
    page = context().new_page()
    page.goto(url + "/")
    audit(page, "home")
    page.goto(url + "/search?q=printer")
    audit(page, "search results")
    page.goto(url + "/search?q=zzzqqq")
    audit(page, "search without results")
    page.goto(url + "/flows/printer-offline")
    audit(page, "flow step: question")
    page.get_by_role("button", name="It's off, or the screen is dark").click()
    expect(page.get_by_role("heading", name="Wake it up or switch it on")).to_be_visible()
    audit(page, "flow step: info")
    page.goto(url + "/flows/printer-offline")
    page.get_by_role("button", name="It's on and says Ready (or shows its home screen)").click()
    expect(page.get_by_role("heading", name="Can colleagues print to it?")).to_be_visible()
    page.get_by_role("button", name="No, nobody can print to it").click()
    expect(page.get_by_label("Printer name or number")).to_be_visible()
    audit(page, "flow step: form")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(ERRORS).first).to_be_visible()
    audit(page, "flow step: form with errors")
    page.get_by_label("Printer name or number").fill("PRN-2F-EAST")
    page.get_by_label("Where is the printer? (building, floor, room)").fill("HQ 2nd floor")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_label("Your email address")).to_be_visible()
    audit(page, "flow step: contact details")
    page.get_by_role("button", name="Send to the help desk").click()
    expect(page.locator(ERRORS).first).to_be_visible()
    audit(page, "flow step: contact details with errors")
    page.get_by_label("Your name").fill("Ann Lee")
    page.get_by_label("Your email address").fill("ann@example.com")
    page.get_by_role("button", name="Send to the help desk").click()
    expect(page.get_by_text(re.compile(r"#\d+"))).not_to_have_count(0)
    audit(page, "walk end: escalated")
    page.goto(url + "/flows/printer-offline")
    page.get_by_role("button", name="It shows an error (paper jam, toner, out of paper, door open)").click()
    expect(page.get_by_role("heading", name="What does the error say?")).to_be_visible()
    page.get_by_role("button", name="Paper jam").click()
    expect(page.get_by_role("heading", name="Clear the paper jam")).to_be_visible()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Is the printer ready again?")).to_be_visible()
    page.get_by_role("button", name="Yes, and my document has printed").click()
    expect(page.get_by_role("heading", name="Printing again")).to_be_visible()
    audit(page, "walk end: resolved")
    page.goto(url + "/contact")
    audit(page, "contact: sign in first")
    page.goto(url + "/signin")
    audit(page, "sign in")
    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_label("Password").fill("wrong password here")
    page.get_by_role("button", name="Sign in").click()
    audit(page, "sign in with an error")
    page.goto(url + "/signup")
    audit(page, "sign up")
    page.get_by_role("button", name=re.compile("Create|Sign up")).click()
    audit(page, "sign up with errors")
    page.goto(url + "/password/forgot")
    audit(page, "forgot password")
    page.goto(url + "/no/such/page")
    audit(page, "404")
    page.goto(url + facts["link"])
    audit(page, "requester ticket (signed link)")
    page.goto(url + f"/known-issues/{facts['issue']}")
    audit(page, "known issue (public)")
    page.goto(url + f"/kb/{facts['slug']}")
    audit(page, "article")
    page.context.close()

    # A requester.
    page = context().new_page()
    sign_in(page, url, "rita@example.com")
    page.goto(url + "/tickets")
    audit(page, "my tickets")
    page.goto(url + f"/tickets/{facts['number']}")
    audit(page, "requester ticket")
    page.goto(url + "/profile")
    audit(page, "profile")
    page.goto(url + f"/tickets/{facts['number']}/withdraw")
    audit(page, "withdraw a request")
    page.goto(url + "/contact")
    audit(page, "contact form")
    page.locator("main").get_by_role("button").last.click()
    expect(page.locator(ERRORS).first).to_be_visible()
    audit(page, "contact form with errors")
    page.context.close()

    # A technician.
    page = context().new_page()
    sign_in(page, url, "tess@example.com")
    n = facts["number"]
    for path, name in [("/desk/", "desk queue"), (f"/desk/tickets/{n}", "desk ticket"),
                       ("/desk/new", "desk new ticket"), ("/desk/flows", "desk flows"),
                       ("/desk/flows/printer-offline", "desk flow page"), ("/desk/overview", "supervisor overview"),
                       ("/desk/known-issues", "known issues"), (f"/desk/known-issues/{facts['issue']}", "known issue"),
                       ("/desk/known-issues/new", "declare a known issue"), ("/desk/kb/", "knowledge base"),
                       ("/desk/kb/new", "new article"), (f"/desk/kb/{facts['slug']}/edit", "edit article"),
                       (f"/desk/kb/{facts['slug']}/history", "article history")]:
        response = page.goto(url + path)
        assert response.ok, f"{path}: {response.status}"
        audit(page, name)
    page.goto(url + f"/desk/tickets/{n}/walk")
    audit(page, "walk a guide with the caller: choose")
    page.locator("main form").first.get_by_role("button").first.click()
    expect(page.locator("#flow-step")).to_be_visible()
    audit(page, "walk a guide with the caller: a step")
    page.goto(url + "/desk/flows/printer-offline")
    page.get_by_role("button", name=re.compile("Preview")).first.click()
    expect(page.locator("#flow-step")).to_be_visible()
    audit(page, "flow preview")
    page.goto(url + f"/desk/tickets/{n}")
    page.get_by_role("button", name="Send reply").click()  # nothing typed: the error next to the box
    expect(page.locator(ERRORS).first).to_be_visible()
    audit(page, "desk ticket: empty reply")
    page.get_by_label("Message", exact=True).fill("Fixed on our side: please try again.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_text("Fixed on our side: please try again.")).to_be_visible()
    audit(page, "desk ticket: reply sent")
    if width == 390:  # on a phone the actions open from one line first
        page.locator(".ticket-actions > summary").click()
    page.get_by_role("button", name="Mark resolved").click()
    expect(page.locator(".props .status")).to_have_text("Resolved")
    audit(page, "desk ticket: resolved")
    page.goto(url + "/desk/new")
    page.locator("main form").last.get_by_role("button").last.click()
    audit(page, "desk new ticket with errors")
    page.context.close()

    # An administrator.
    page = context().new_page()
    sign_in(page, url, "adam@example.com")
    for path, name in [("/admin/users", "admin users"), ("/admin/queues", "admin queues"),
                       ("/admin/canned", "admin canned responses"),
                       (f"/admin/users/{facts['requester_id']}", "admin edit account"),
                       (f"/admin/queues/{facts['queue_id']}", "admin edit queue"),
                       (f"/admin/canned/{facts['canned_id']}", "admin edit canned response")]:
        response = page.goto(url + path)
        assert response.ok, f"{path}: {response.status}"
        audit(page, name)
    page.context.close()

    assert not audit.problems, audit.report()


def _contrast(a, b) -> float:
    def lum(rgb):
        def channel(c):
            c = c / 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
        r, g, b_ = (channel(c) for c in rgb)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b_
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


FOCUS_STYLE = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  // The background the ring is drawn on: the nearest opaque background of the element's parents.
  let node = el.parentElement, bg = [255, 255, 255];
  while (node) {
    const c = parse(getComputedStyle(node).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] === 1)) { bg = c.slice(0, 3); break; }
    node = node.parentElement;
  }
  const ring = {style: style.outlineStyle, width: parseFloat(style.outlineWidth), color: parse(style.outlineColor)};
  if (ring.style === 'none' && style.boxShadow !== 'none') {  // a ring drawn as a box-shadow: "rgb(..) 0 0 0 3px"
    const numbers = parse(style.boxShadow);
    Object.assign(ring, {style: 'box-shadow', width: numbers[numbers.length - 1], color: numbers});
  }
  return {tag: el.tagName, text: (el.innerText || el.value || el.name || '').slice(0, 40),
          outlineStyle: ring.style, outlineWidth: ring.width, outlineColor: ring.color.slice(0, 3), background: bg};
}"""


def test_the_focus_indicator_reaches_3_to_1_against_its_background(live, page):
    """Tabbing through pages as a requester and as a technician: every focused element has a visible
    ring at least 2px wide whose colour has 3:1 contrast with what is behind it (WCAG 2.2 1.4.11)."""
    seen = []

    def tab_through(path, presses):
        if path:
            page.goto(live.url + path)
        for _ in range(presses):
            page.keyboard.press("Tab")
            focus = page.evaluate(FOCUS_STYLE)
            if focus["tag"] != "BODY":
                seen.append((page.url, focus, round(_contrast(focus["outlineColor"], focus["background"]), 2)))

    facts = _people(live.app)
    for path in ("/", "/signin", "/flows/printer-offline"):
        tab_through(path, 12)
    page.get_by_role("button", name="It's on and says Ready (or shows its home screen)").click()
    page.get_by_role("button", name="No, nobody can print to it").click()
    page.get_by_role("button", name="Continue").click()  # the form step with its errors
    expect(page.locator(ERRORS).first).to_be_visible()
    tab_through(None, 10)
    sign_in(page, live.url, "tess@example.com")
    tab_through("/desk/", 25)
    tab_through(f"/desk/tickets/{facts['number']}", 40)
    problems = [json.dumps(s) for s in seen
                if s[1]["outlineStyle"] in ("none", "") or s[1]["outlineWidth"] < 2 or s[2] < 3]
    assert len(seen) >= 100
    assert not problems, "focus indicator too faint:\n" + "\n".join(problems)
