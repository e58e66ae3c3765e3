"""Step pages kept rendered (web.render_kept): what people see is what a fresh render would show them.

A step page is rendered once per flow version, step and kind of page, with marks where the walk's id
and the CSRF token go, and filled in for each request. These tests hold that page to a fresh render of
the same page (KEPT_PAGES = 0), on every step of the shipped guides, and check each thing that must not
be kept: another walk's id, a message waiting to be shown, a known issue opened since, an edited flow,
the signed-in person's menu, and a token that must still be accepted.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest

from portal.database import create_schema
from portal.extensions import db
from portal.kb import services as kb_services
from portal.models import User, Visibility
from portal.tickets import known_issues

from .conftest import FIXTURE_FLOWS, SHIPPED_FLOWS, _build, make_config
from .test_desk import sign_in_staff
from .test_known_issues import staff_user

HX = {"HX-Request": "true"}
PREVIEW = "<strong>Preview:</strong> nothing you do here is counted"
WINDOWS_UA = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"}


def _portal(tmp_path, **overrides):
    app = _build(make_config(tmp_path, **overrides))
    with app.app_context():
        create_schema()
    return app


@pytest.fixture
def portal(tmp_path):
    """A portal whose every request has its own app context, as in production (for a fixture named `app`,
    pytest-flask keeps one request context, and its `g`, for the whole test)."""
    return _portal(tmp_path)


@pytest.fixture
def csrf_app(tmp_path):
    return _portal(tmp_path, WTF_CSRF_ENABLED=True)


def _get(client, url, **headers) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


VARIANTS = (WINDOWS_UA, {**WINDOWS_UA, **HX}, {**WINDOWS_UA, **HX, "HX-Boosted": "true"})


def _fresh_and_kept(app, client, url) -> tuple[list, list, list]:
    """The page as a plain request, an htmx swap and a boosted link get it: rendered afresh, then as first
    kept, then as served from the keep (all kinds kept side by side)."""
    app.config["KEPT_PAGES"] = 0
    app.extensions.pop("portal_kept_pages", None)
    fresh = [_get(client, url, **headers) for headers in VARIANTS]
    app.config["KEPT_PAGES"] = 512
    app.extensions.pop("portal_kept_pages", None)
    kept = [_get(client, url, **headers) for headers in VARIANTS]
    return fresh, kept, [_get(client, url, **headers) for headers in VARIANTS]


def _answers(page: str) -> list[str]:
    return [html.unescape(v) for v in re.findall(r'<button type="submit" name="answer" value="([^"]*)"', page)]


def test_every_step_of_the_shipped_guides_is_shown_as_a_fresh_render_would(tmp_path):
    shipped_app = _portal(tmp_path, FLOWS_DIR=str(SHIPPED_FLOWS))
    compared = 0
    for flow_id in sorted(shipped_app.extensions["flows"].flows):
        client = shipped_app.test_client()
        first = _get(client, f"/flows/{flow_id}", **WINDOWS_UA)
        answers = _answers(first)
        if not answers:
            continue  # a guide that starts with a form: its first page is not a walk's yet
        start = re.search(r'action="(/flows/[^"]+/start[^"]*)"', first).group(1).replace("&amp;", "&")
        url = client.post(start, data={"answer": answers[-1]}, headers=WINDOWS_UA).headers["Location"]
        for _ in range(8):  # along the last answer of each step, as far as steps go
            if not re.fullmatch(r"/walks/[\w-]+/\d+", url):
                break
            fresh, kept, again = _fresh_and_kept(shipped_app, client, url)
            assert kept == fresh and again == fresh, (flow_id, url)
            compared += 1
            answers = _answers(fresh[0])
            if not answers:
                break  # a form step: compared, and the walk ends here
            url = client.post(url, data={"answer": answers[-1]}, headers=WINDOWS_UA).headers["Location"]
    assert compared >= 15


def test_one_step_reached_at_different_numbers_says_where_each_walk_is(portal):
    app = portal
    short, long = app.test_client(), app.test_client()
    short_url = short.post("/flows/printer/start", data={"answer": "It shows an error"}).headers["Location"]
    url = long.post("/flows/printer/start", data={"answer": "No"}).headers["Location"]
    url = long.post(url, data={"answer": "Continue"}).headers["Location"]
    long_url = long.post(url, data={"answer": "No"}).headers["Location"]
    assert (short_url[-2:], long_url[-2:]) == ("/2", "/4")
    short_page, long_page = _get(short, short_url), _get(long, long_url)
    assert "Tell us about the printer" in short_page and "Tell us about the printer" in long_page
    assert "Step 2" in short_page and "Step 4" in long_page and "Step 2" not in long_page
    assert 'href="/walks/' + short_url.split("/")[2] + '/1"' in short_page
    assert 'href="/walks/' + long_url.split("/")[2] + '/3"' in long_page


def test_two_walks_on_the_same_step_each_get_their_own_addresses(portal):
    app = portal
    one, two = app.test_client(), app.test_client()
    first = one.post("/flows/printer/start", data={"answer": "No"}).headers["Location"]
    second = two.post("/flows/printer/start", data={"answer": "No"}).headers["Location"]
    walk_one, walk_two = first.split("/")[2], second.split("/")[2]
    page_one, page_two = _get(one, first), _get(two, second)  # the second from the keep
    assert "Switch it on" in page_two
    assert walk_one in page_one and walk_one not in page_two
    assert f'action="/walks/{walk_two}/2"' in page_two and f"/walks/{walk_two}/restart" in page_two
    assert f"/walks/{walk_two}/help" in page_two
    # The kept page's form works for its own walk, and the other browser's walk is not reachable from it.
    assert two.post(second, data={"answer": "Continue"}).headers["Location"] == f"/walks/{walk_two}/3"
    assert two.get(first).status_code == 404


def test_a_message_waiting_for_the_page_is_shown_on_a_kept_step(portal):
    app = portal
    client = app.test_client()
    url = client.post("/flows/printer/start", data={"answer": "No"}).headers["Location"]
    _get(client, url)
    _get(client, url)  # kept now
    sent = client.post(url.rsplit("/", 1)[0] + "/send", data={"email": "ann@example.com"})
    assert sent.status_code == 303 and sent.headers["Location"] == url
    assert "We&#39;ve sent a link to this guide to ann@example.com" in _get(client, url)
    assert "We&#39;ve sent a link" not in _get(client, url)  # said once
    sent = client.post(url.rsplit("/", 1)[0] + "/send", data={"email": "bo@example.com"}, headers=HX)
    assert "We&#39;ve sent a link to this guide to bo@example.com" in sent.get_data(as_text=True)
    assert "We&#39;ve sent a link" not in _get(client, url, **HX) + _get(client, url)


def test_a_known_issue_opened_after_a_step_was_kept_shows_on_it(portal):
    app = portal
    tech = staff_user(app)
    visitor = app.test_client()
    url = visitor.post("/flows/printer/start", data={"answer": "No"}).headers["Location"]
    assert "Known problem" not in _get(visitor, url) + _get(visitor, url)  # kept now
    with app.app_context():  # declared from a spike of people stuck at this step (switch-on)
        known_issues.declare("Printers on floor 2 are down", "Nothing prints", "We're on it.", ["printer"],
                             db.session.get(User, tech), seen_flow_id="printer", seen_step_id="switch-on")
        db.session.commit()
    page = _get(visitor, url)
    assert "Printers on floor 2 are down" in page and "This is my problem too" in page


def test_an_edited_flow_shows_its_new_title_to_new_walks_and_the_old_to_walks_begun_before(tmp_path):
    flows = tmp_path / "flows"
    shutil.copytree(FIXTURE_FLOWS, flows)
    app = _portal(tmp_path, FLOWS_DIR=str(flows))
    before, after = app.test_client(), app.test_client()
    old_url = before.post("/flows/printer/start", data={"answer": "No"}).headers["Location"]
    assert "Switch it on" in _get(before, old_url) + _get(before, old_url)
    path = Path(flows / "printer.yaml")
    path.write_text(path.read_text().replace("title: Switch it on", "title: Turn the printer on"))
    new_url = after.post("/flows/printer/start", data={"answer": "No"}).headers["Location"]
    new_page = _get(after, new_url)
    assert "Turn the printer on" in new_page and "Switch it on" not in new_page
    assert "Switch it on" in _get(before, old_url)  # pinned to the version it began on


def test_the_menu_on_a_kept_step_is_the_viewers_own(portal):
    app = portal
    technician, visitor = app.test_client(), app.test_client()
    sign_in_staff(app, technician)
    staff_url = technician.post("/flows/printer/start", data={"answer": "No"}).headers["Location"]
    staff_page = _get(technician, staff_url)
    assert 'href="/desk/queue"' in staff_page or "Queue</a>" in staff_page
    assert "Sign out" in staff_page
    url = visitor.post("/flows/printer/start", data={"answer": "No"}).headers["Location"]
    page = _get(visitor, url)
    assert "Switch it on" in page and "Queue</a>" not in page and "Sign out" not in page and "Sign in" in page


def test_the_token_on_a_kept_step_is_this_browsers_and_is_accepted(csrf_app):
    def token(page: str) -> str:
        return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    one, two = csrf_app.test_client(), csrf_app.test_client()
    urls = []
    for client in (one, two):
        page = _get(client, "/flows/printer")
        response = client.post("/flows/printer/start", data={"answer": "No", "csrf_token": token(page)})
        assert response.status_code == 303
        urls.append(response.headers["Location"])
    page_one, page_two = _get(one, urls[0]), _get(two, urls[1])  # the second from the keep
    assert token(page_one) != token(page_two)
    assert f'"X-CSRFToken": "{token(page_two)}"' in page_two
    answered = two.post(urls[1], data={"answer": "Continue", "csrf_token": token(page_two)})
    assert answered.status_code == 303 and answered.headers["Location"].endswith("/3")
    # Another browser's token is refused, as on any page.
    assert one.post(urls[0], data={"answer": "Continue", "csrf_token": token(page_two)}).status_code == 400


def test_previews_and_walks_with_a_caller_keep_their_banners_to_themselves(portal):
    app = portal
    technician, visitor = app.test_client(), app.test_client()
    sign_in_staff(app, technician)
    preview = technician.post("/flows/printer/preview", data={"os": "Windows"}).headers["Location"]
    preview = technician.post(preview, data={"answer": "No"}).headers["Location"]
    technician.post("/desk/new", data={"email": "cal@example.com", "name": "Cal", "subject": "Printing",
                                       "queue": "general", "priority": "normal", "key": "w1"})
    form = {"flow": "printer", "os": "Windows", "mobile": "no"}
    started = technician.post(technician.post("/desk/tickets/1001/walk", data=form).headers["Location"], data=form)
    caller = technician.get(started.headers["Location"]).headers["Location"]
    caller = technician.post(caller, data={"answer": "No"}).headers["Location"]
    technician.post("/desk/new", data={"email": "dee@example.com", "name": "Dee", "subject": "Printing too",
                                       "queue": "general", "priority": "normal", "key": "w2"})
    started = technician.post(technician.post("/desk/tickets/1002/walk", data=form).headers["Location"], data=form)
    second = technician.get(started.headers["Location"]).headers["Location"]
    second = technician.post(second, data={"answer": "No"}).headers["Location"]
    own = technician.post("/flows/printer/start", data={"answer": "No"}).headers["Location"]  # their own problem
    url = visitor.post("/flows/printer/start", data={"answer": "No"}).headers["Location"]
    for _ in range(2):  # each page twice: as first rendered, then as it would come from the keep
        for page in (_get(technician, preview), _get(technician, preview, **HX)):
            assert PREVIEW in page and "Walking with the caller" not in page
        for page in (_get(technician, caller), _get(technician, caller, **HX)):
            assert "Walking with the caller for ticket" in page and "#1001" in page and PREVIEW not in page
        for page in (_get(technician, second), _get(technician, second, **HX)):
            assert "Walking with the caller for ticket" in page and "#1002" in page and "#1001" not in page
        for page in (_get(technician, own), _get(visitor, url)):
            assert "Switch it on" in page and PREVIEW not in page and "Walking with the caller" not in page


def test_an_earlier_step_shown_again_is_not_the_step_of_a_walk_standing_on_it(portal):
    app = portal
    back, standing = app.test_client(), app.test_client()
    earlier = back.post("/flows/printer/start", data={"answer": "No"}).headers["Location"]
    back.post(earlier, data={"answer": "Continue"})
    url = standing.post("/flows/printer/start", data={"answer": "No"}).headers["Location"]
    for _ in range(2):
        assert "You went back to an earlier step" in _get(back, earlier)  # Back from step 3 to step 2
        assert "You went back" not in _get(standing, url)


def test_what_was_typed_into_a_step_is_shown_again_not_a_kept_empty_form(portal):
    app = portal
    other, client = app.test_client(), app.test_client()
    for browser in (other, client):  # the empty form kept by another walk first
        url = browser.post("/flows/printer/start", data={"answer": "It shows an error"}).headers["Location"]
        assert 'name="notes" rows="5"></textarea>' in _get(browser, url)
    sent = client.post(url, data={"notes": "Paper tray 2 rattles", "floor": "2"})  # no printer name
    assert "Enter the printer name" in sent.get_data(as_text=True) or sent.status_code == 303
    page = _get(client, url)
    assert "Paper tray 2 rattles" in page and "Enter the printer name" in page


ARTICLE_LINK = """      - {article: printer-reset, label: Reset the printer}
"""


def test_an_article_published_after_a_step_was_kept_is_linked_from_it(tmp_path):
    flows = tmp_path / "flows"
    shutil.copytree(FIXTURE_FLOWS, flows)
    path = flows / "printer.yaml"
    text = path.read_text()
    step = "    title: Switch it on\n"
    path.write_text(text.replace(step, step + "    links:\n" + ARTICLE_LINK))
    app = _portal(tmp_path, FLOWS_DIR=str(flows))
    visitor = app.test_client()
    url = visitor.post("/flows/printer/start", data={"answer": "No"}).headers["Location"]
    page = _get(visitor, url) + _get(visitor, url)
    assert "Reset the printer" in page and 'href="/kb/printer-reset"' not in page  # no such article yet
    with app.app_context():
        kb_services.create_article(kb_services.Draft(title="Reset a printer", body="Hold the button.",
                                                     slug="printer-reset", visibility=Visibility.PUBLIC), None)
        db.session.commit()
    assert 'href="/kb/printer-reset"' in _get(visitor, url)
