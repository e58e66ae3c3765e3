"""Fail-safe publishing, in a real browser: an author saves a broken version of a live flow while a
user is mid-walk. The user finishes on the version they started, new users get the last good
version, the staff flows page shows the finding, and fixing the file publishes the fix.
"""

import re

from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Role, User

from ..conftest import PASSWORD
from .conftest import serve

FLOW = """\
id: vpn-drops
title: The VPN keeps dropping
start: connects
steps:
  connects:
    type: question
    text: Does the VPN connect at all?
    options:
      - label: It connects, then drops
        next: cable
      - label: It never connects
        next: call-us
  cable:
    type: question
    text: Plug in a network cable. Does the VPN stay connected now?
    options:
      - label: Yes, it stays connected
        next: fixed
      - label: No, it still drops
        next: call-us
  fixed:
    type: resolved
    text: The Wi-Fi was the weak link. Use the cable for calls.
  call-us:
    type: escalate
    text: We'll look at your VPN.
"""
OLD_STEP = "Plug in a network cable. Does the VPN stay connected now?"
NEW_STEP = "Restart the VPN app. Does it stay connected now?"
# The author's new version: a new second step, and a typo in the option that leads to the fix.
BROKEN = FLOW.replace(OLD_STEP, NEW_STEP).replace("        next: fixed\n", "        next: fixd\n")
FIXED = FLOW.replace(OLD_STEP, NEW_STEP)


def first_two_steps(page, url):
    page.goto(f"{url}/flows/vpn-drops")
    expect(page.get_by_text("Does the VPN connect at all?")).to_be_visible()
    page.get_by_role("button", name="It connects, then drops").click()
    expect(page).to_have_url(re.compile(r"/walks/[\w-]+/2$"))


def test_a_broken_save_keeps_the_last_good_version_until_the_fix(browser, tmp_path):
    source = tmp_path / "library"
    source.mkdir()
    (source / "vpn-drops.yaml").write_text(FLOW)
    with serve(tmp_path, source) as live:  # FLOWS_RELOAD_SECONDS=0: every request looks at the files
        path = tmp_path / "flows" / "vpn-drops.yaml"
        with live.app.app_context():
            tech = User(email="tess@example.com", name="Tess Tech", role=Role.TECHNICIAN)
            tech.set_password(PASSWORD)
            db.session.add(tech)
            db.session.commit()

        # A user is mid-walk.
        user = browser.new_context().new_page()
        first_two_steps(user, live.url)
        expect(user.get_by_text(OLD_STEP)).to_be_visible()

        # The author saves a broken version.
        path.write_text(BROKEN)

        # The user finishes on the version they started.
        user.get_by_role("button", name="Yes, it stays connected").click()
        expect(user.get_by_text("The Wi-Fi was the weak link.")).to_be_visible()
        expect(user.get_by_text("Did this help?")).to_be_visible()

        # A new user gets the last good version, not the broken one and not a 404.
        newcomer = browser.new_context().new_page()
        first_two_steps(newcomer, live.url)
        expect(newcomer.get_by_text(OLD_STEP)).to_be_visible()
        expect(newcomer.get_by_text(NEW_STEP)).to_have_count(0)

        # The staff flows page shows the broken file with its finding, file:line first.
        staff = browser.new_context().new_page()
        staff.goto(f"{live.url}/signin")
        staff.get_by_label("Email address").fill("tess@example.com")
        staff.get_by_label("Password").fill(PASSWORD)
        staff.get_by_role("button", name="Sign in").click()
        expect(staff.get_by_role("heading", name="Queue")).to_be_visible()
        staff.goto(f"{live.url}/desk/flows")
        finding = staff.get_by_text(re.compile(r"vpn-drops\.yaml:18:15: error: .*'fixd'.*\[unknown-step\]"))
        expect(finding.first).to_be_visible()
        expect(staff.get_by_text("Serving the last good version").first).to_be_visible()

        # Fixing the file publishes the fix: new users get the new version.
        path.write_text(FIXED)
        later = browser.new_context().new_page()
        first_two_steps(later, live.url)
        expect(later.get_by_text(NEW_STEP)).to_be_visible()
        later.get_by_role("button", name="Yes, it stays connected").click()
        expect(later.get_by_text("The Wi-Fi was the weak link.")).to_be_visible()
        staff.reload()
        expect(staff.get_by_text(re.compile(r"vpn-drops\.yaml:\d+:\d+: error"))).to_have_count(0)
