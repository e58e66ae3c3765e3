"""Guides that show the way (issue 12, item 7): how far along a person is, weak search results said as
such, walks and tickets from this browser on the start page, a guide sent to another device."""

import re

import sqlalchemy as sa

from portal.extensions import db
from portal.flows.engine import progress
from portal.flows.graph import remaining_steps
from portal.flows.lint import check_text
from portal.models import OutboxMessage, SearchMiss

from .conftest import _app_for
from .test_walks import WINDOWS_UA, start

HX = {"HX-Request": "true"}


def flow_of(text):
    checked = check_text(text)
    assert checked.flow is not None, checked
    return checked.flow


LOOPY = """id: loopy
title: Loopy
start: one
steps:
  one:
    type: question
    text: Which?
    options:
      - {label: Quick, next: done}
      - {label: Long, next: two}
  two: {type: info, text: Two, next: three}
  three:
    type: question
    text: Did it work?
    options:
      - {label: Yes, next: done}
      - {label: Try again, next: two}
      - {label: No, next: side}
  side: {type: branch, cases: [{when: {client.os: iOS}, next: four}], default: four}
  four: {type: form, fields: [{name: n, label: Name}], next: help}
  help: {type: escalate}
  done: {type: resolved}
"""


def test_remaining_steps_count_shown_steps_and_go_round_no_loop():
    flow = flow_of(LOOPY)
    # one -> done is 1 step; one -> two -> three -> (branch) -> four -> help is 4 (the loop back is not counted)
    assert remaining_steps(flow, "one") == (1, 4)
    assert remaining_steps(flow, "three") == (1, 2)
    assert remaining_steps(flow, "four") == (1, 1)
    assert remaining_steps(flow, "done") == (0, 0)
    assert remaining_steps(flow, "nope") is None
    # the same table again for the same version: worked out once
    assert remaining_steps(flow, "two") == (2, 3)


def test_progress_is_exact_when_every_path_is_as_long_and_about_the_middle_otherwise():
    flow = flow_of(LOOPY)
    assert progress(flow, "four", 3) == (3, True)  # "Step 3 of 3"
    assert progress(flow, "one", 1) == (3, False)  # 1 to 4 steps left: "of about 3"
    assert progress(flow, "three", 3) == (4, False)  # 1 to 2 left: never below the step's own number
    assert progress(flow, "done", 2) is None


def test_a_goto_counts_the_steps_of_the_flow_it_leads_to():
    target = flow_of("id: target\ntitle: T\nstart: a\nsteps:\n  a: {type: info, text: A, next: b}\n"
                     "  b: {type: info, text: B, next: c}\n  c: {type: resolved}\n")
    source = flow_of("id: source\ntitle: S\nstart: s\nsteps:\n  s: {type: info, text: S, next: g}\n"
                     "  g: {type: goto, flow: target}\n")
    assert remaining_steps(source, "s", {"target": target}.get) == (3, 3)
    # the flow it leads to is gone: the walk would escalate there, so only this flow's step is left
    assert remaining_steps(source, "s", {}.get) == (1, 1)


def progress_text(html):
    found = re.search(r'<p class="progress">([^<]*)</p>', html)
    return found.group(1) if found else None


def test_each_step_says_how_far_along_the_person_is(any_app):
    client = any_app.test_client()
    # printer: 2 to 4 shown steps from the first one
    assert progress_text(client.get("/flows/printer").get_data(as_text=True)) == "Step 1 of about 3"
    url = start(client, "Yes, it says Ready", **{"User-Agent": WINDOWS_UA})
    assert progress_text(client.get(url).get_data(as_text=True)) == "Step 2 of about 4"
    # the htmx fragment says it too
    answered = client.post(url, data={"answer": "Continue"}, headers=HX)
    assert progress_text(answered.get_data(as_text=True)) == "Step 3 of about 4"
    # on the form every path left is one step: exact
    url = start(client, "It shows an error")
    fragment = client.get(url, headers=HX).get_data(as_text=True)
    assert progress_text(fragment) == "Step 2 of 2"
    # an earlier step shown again counts from there
    assert progress_text(client.get(url[:-1] + "1").get_data(as_text=True)) == "Step 1 of about 3"


# --- search never presents weak matches as confident ones -----------------------------------------------


def misses(app):
    with app.app_context():
        return db.session.scalars(sa.select(SearchMiss.query).order_by(SearchMiss.id)).all()


def test_a_guide_about_the_words_is_shown_plainly(any_app):
    client = any_app.test_client()
    page = client.get("/?q=printer+offline").get_data(as_text=True)
    assert "My printer won&#39;t print" in page and "These might help" not in page
    assert misses(any_app) == []


def test_words_found_only_deep_in_a_guide_say_these_might_help_and_are_kept_for_authors(any_app):
    client = any_app.test_client()
    # "cancel every job" is only in a step of the printer guide: not what the guide is about
    page = client.get("/?q=cancel").get_data(as_text=True)
    assert "My printer won&#39;t print" in page
    assert "These might help" in page and "No guide is clearly about “cancel”" in page
    assert "contact the help desk" in page
    fragment = client.get("/search?q=cancel", headers=HX).get_data(as_text=True)  # as the person types
    assert "<html" not in fragment and "These might help" in fragment
    # guides that lack some of the words say so, under the same careful heading
    page = client.get("/?q=printer+zebra").get_data(as_text=True)
    assert "These might help" in page and "No guide matches all of “printer zebra”" in page
    assert misses(any_app) == ["cancel", "cancel", "printer zebra"]


def test_live_results_put_the_search_in_the_address_bar_for_back_and_reload(any_app):
    client = any_app.test_client()
    typed = client.get("/search?q=printer offline", headers=HX)
    assert typed.headers["HX-Replace-Url"] == "/?q=printer+offline"  # replaced: no entry per keystroke
    assert "HX-Push-Url" not in typed.headers
    # that address is the start page with the same results
    assert "My printer won&#39;t print" in client.get(typed.headers["HX-Replace-Url"]).get_data(as_text=True)
    # the box emptied: the address is the plain start page again
    assert client.get("/search?q=", headers=HX).headers["HX-Replace-Url"] == "/"


# --- the start page remembers this browser's walks and requests -----------------------------------------


def test_the_start_page_shows_this_browsers_walks_and_requests_without_an_account(any_app):
    client = any_app.test_client()
    home = client.get("/").get_data(as_text=True)
    assert "Continue where you left off" not in home and "Your requests from this browser" not in home
    unfinished = start(client, "No")  # printer: "Switch it on", step 2
    home = client.get("/").get_data(as_text=True)
    assert "Continue where you left off" in home and "My printer won&#39;t print" in home and "Step 2" in home
    resume = re.search(r'href="(/walks/[^"]+)"', home).group(1)
    assert client.get(resume).headers["Location"] == unfinished
    # a walk that ends in a ticket, and a ticket from the contact form: both listed with links that open them
    contact = client.post(start(client, "It shows an error"), data={"printer_name": "HP-3F", "urgent": "no"})
    end = client.post(contact.headers["Location"], data={"name": "Ann Lee", "email": "ann@example.com"})
    client.get(end.headers["Location"])
    client.post("/contact", data={"subject": "Laptop fan noise", "description": "Loud", "key": "k1",
                                  "name": "Ann Lee", "email": "ann@example.com"})
    home = client.get("/").get_data(as_text=True)
    assert "Your requests from this browser" in home
    assert "Laptop fan noise" in home and "My printer won&#39;t print: not solved" in home
    links = re.findall(r'href="(/tickets/\d+\?key=[^"]+)"', home)
    assert len(links) == 2
    assert "Laptop fan noise" in client.get(links[0].replace("&amp;", "&")).get_data(as_text=True)
    # another browser sees none of it
    other = any_app.test_client().get("/").get_data(as_text=True)
    assert "Continue where you left off" not in other and "Your requests from this browser" not in other


# --- a guide sent to another device ---------------------------------------------------------------------


def guide_mail(app):
    with app.app_context():
        return db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == "guide-link")).all()


def test_a_guide_is_sent_by_email_and_carries_on_in_another_browser(any_app):
    client = any_app.test_client()
    url = start(client, "No")  # printer, step 2: "Switch it on"
    page = client.get(url).get_data(as_text=True)
    assert "Send this guide to my email" in page and 'name="email"' in page
    send = url.rsplit("/", 1)[0] + "/send"
    # a bad address: said at the step, nothing sent
    bad = client.post(send, data={"email": "ann@exmaple"}, headers=HX)
    assert bad.status_code == 200 and "Enter an email address like name@example.com" in bad.get_data(as_text=True)
    # what was typed stays in the field, open, with the message next to it and in the summary at the top
    field = re.search(r'<input id="send-email"[^>]*>', bad.get_data(as_text=True)).group(0)
    assert 'value="ann@exmaple"' in field and 'aria-invalid="true"' in field and "send-email-error" in field
    assert '<details class="send-guide" open>' in bad.get_data(as_text=True)
    assert '<a href="#send-email">Enter an email address' in bad.get_data(as_text=True)
    plain_bad = client.post(send, data={"email": "ann@exmaple"}).get_data(as_text=True)  # without JavaScript
    assert "<title>Error: " in plain_bad and 'value="ann@exmaple"' in plain_bad
    assert 'value="ann@exmaple"' not in client.get(url).get_data(as_text=True)  # the step as it was, afterwards
    assert guide_mail(any_app) == []
    sent = client.post(send, data={"email": "ann@example.com"}, headers=HX).get_data(as_text=True)
    assert "We&#39;ve sent a link to this guide to ann@example.com" in sent and "Switch it on" in sent
    plain = client.post(send, data={"email": "ann@example.com"})  # without JavaScript: back to the step, said there
    assert plain.status_code == 303 and plain.headers["Location"] == url
    assert "We&#39;ve sent a link to this guide" in client.get(url).get_data(as_text=True)
    mails = guide_mail(any_app)
    assert [m.to_address for m in mails] == ["ann@example.com"] * 2
    assert "My printer won't print" in mails[0].subject
    link = re.search(r"https?://\S+/walks/link/\S+", mails[0].body_text).group(0)
    path = "/" + link.split("/", 3)[3]
    # another device: the walk isn't theirs until the link is opened; then it carries on at the same step
    phone = any_app.test_client()
    assert phone.get(url).status_code == 404
    opened = phone.get(path)
    assert opened.status_code == 303
    assert phone.get(opened.headers["Location"]).headers["Location"] == url
    assert "Switch it on" in phone.get(url).get_data(as_text=True)
    # a tampered link opens nothing
    assert any_app.test_client().get(path[:-3] + "xyz").status_code == 404


def test_sending_a_guide_needs_the_walks_browser_and_a_csrf_token(tmp_path, request):
    app = _app_for("sqlite", tmp_path, request, WTF_CSRF_ENABLED=True)
    client = app.test_client()
    page = client.get("/flows/printer").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    url = client.post("/flows/printer/start", data={"answer": "No", "csrf_token": token}).headers["Location"]
    send = url.rsplit("/", 1)[0] + "/send"
    assert client.post(send, data={"email": "ann@example.com"}).status_code == 400  # no token
    assert app.test_client().post(send, data={"email": "ann@example.com", "csrf_token": token}).status_code in (
        400, 404)  # another browser: not its walk
    assert client.post(send, data={"email": "ann@example.com", "csrf_token": token}).status_code == 303
    assert len(guide_mail(app)) == 1
