"""Knowledge-base articles in a real browser: script written into an article's title, text and tags never runs,
wherever the article shows (the article, the staff list, the editor and its preview, the history's diff, the
home search), and the pages still work: the article is found from the search and "Did this help?" answers.
"""

from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Role, User

from ..conftest import PASSWORD

TITLE = 'Outlook <img src=x onerror="window.__xss=1"> crash <script>window.__xss=2</script>'
BODY = """Restart Outlook. <script>window.__xss=3</script>

<img src=x onerror="window.__xss=4">

[click me](javascript:window.__xss=5) <a href="javascript:window.__xss=6" onclick="window.__xss=7">raw</a>

<svg onload="window.__xss=8"></svg> **Then** sign in again.
"""
TAGS = '<svg onload="window.__xss=9">, outlook'


def _never_ran(page):
    assert page.evaluate("typeof window.__xss") == "undefined", page.url


def test_script_in_articles_never_runs(live, browser):
    with live.app.app_context():
        tech = User(email="tess@example.com", name="Tess Tech", role=Role.TECHNICIAN)
        tech.set_password(PASSWORD)
        db.session.add(tech)
        db.session.commit()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    page.goto(f"{live.url}/signin")
    page.get_by_label("Email address").fill("tess@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Knowledge base").click()
    page.get_by_role("link", name="New article").click()
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Address (slug)").fill("outlook-crash")
    page.get_by_label("Article (Markdown)").fill(BODY)
    page.get_by_label("Tags").fill(TAGS)
    page.get_by_label("Public: anyone, and found by the home search").check()
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="Preview")).to_be_visible()
    expect(page.locator(".kb-preview strong")).to_have_text("Then")
    _never_ran(page)
    page.get_by_role("button", name="Save article").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)  # the title, as text
    expect(page.locator(".kb-body")).to_contain_text("<script>window.__xss=3</script>")
    _never_ran(page)
    page.get_by_role("link", name="Edit article").click()
    page.get_by_label("Article (Markdown)").fill(BODY + "\nAnd <b>one more</b> line.")
    page.get_by_role("button", name="Save article").click()
    page.get_by_role("link", name="Revision history").click()
    expect(page.locator(".kb-diff ins").last).to_contain_text("And <b>one more</b> line.")
    _never_ran(page)
    page.goto(f"{live.url}/desk/kb/")
    expect(page.get_by_role("link", name=TITLE, exact=True)).to_be_visible()
    _never_ran(page)
    context.close()

    # A requester, signed out: finds it from the home search, reads it, answers "Did this help?".
    requester = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    requester.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    requester.goto(f"{live.url}/")
    requester.get_by_label("Describe your problem").fill("outlook crash")
    result = requester.locator("#search-results .result", has_text="Article")
    expect(result.first).to_contain_text("Outlook <img src=x")
    _never_ran(requester)
    result.first.click()
    expect(requester.get_by_role("heading", level=1)).to_have_text(TITLE)
    requester.get_by_role("button", name="Yes, it helped").click()
    expect(requester.get_by_text("Thanks, your answer was recorded.")).to_be_visible()
    _never_ran(requester)
    assert dialogs == []
