"""Errors as people expect them: a summary at the top of each form with errors, each problem a link to its
field, a page title that starts with "Error: ", flow form messages that name the field; and merging that
shows both tickets and asks before anything changes. (The browser side: tests/e2e/test_htmx_failures.py.)"""

from __future__ import annotations

import html
import re

import pytest

from portal.extensions import db
from portal.flows import engine
from portal.models import Ticket

from .test_ticket_rules import HX, add_user, events, open_by_contact, outbox, snapshot, technician


def _title(page: str) -> str:
    return html.unescape(re.search(r"<title>(.*?)</title>", page, re.S).group(1))


def _summary_links(page: str) -> list[tuple[str, str]]:
    """(href, text) of each link in the page's error summary, which must be focusable for feedback.js."""
    found = re.search(r'<div class="error-summary" role="alert" tabindex="-1" data-error-summary[^>]*>(.*?)</div>',
                      page, re.S)
    assert found, "no error summary on the page"
    return [(href, html.unescape(text)) for href, text in re.findall(r'<a href="([^"]+)">([^<]+)</a>', found.group(1))]


def _field_ids(page: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', page))


def _check(page: str, title: str, expected: list[tuple[str, str]]):
    assert _title(page) == f"Error: {title} · IT Help"
    links = _summary_links(page)
    assert links == expected
    ids = _field_ids(page)
    for href, _ in links:  # every link reaches an element of the page
        assert href[1:] in ids, href


def test_a_page_without_errors_has_no_summary_and_a_plain_title(client):
    page = client.get("/contact").get_data(as_text=True)
    assert _title(page) == "Contact the help desk · IT Help" and "data-error-summary" not in page


def test_contact_form_with_errors(client):
    response = client.post("/contact", data={"name": "Ann Lee", "email": "", "subject": "", "key": "c1"})
    assert response.status_code in (200, 422)
    page = response.get_data(as_text=True)
    _check(page, "Contact the help desk", [
        ("#email", "Enter your email address so we can reply, like name@example.com."),
        ("#subject", "Tell us in a few words what's wrong."),
    ])
    assert 'value="Ann Lee"' in page  # what was typed stays


def test_the_guide_contact_page_with_errors(client):
    # "Where can the help desk reach you?" at the end of a guide: the same summary and title as every form.
    contact = client.post("/flows/printer/start?help=1", data={}).headers["Location"]
    assert contact.endswith("/contact")
    response = client.post(contact, data={"name": "", "email": "not an address"})
    page = response.get_data(as_text=True)
    assert _title(page).startswith("Error: ")
    links = _summary_links(page)
    assert [href for href, _ in links] == ["#name", "#email"]
    assert all(href[1:] in _field_ids(page) for href, _ in links)
    assert 'value="not an address"' in page  # what was typed stays


def test_sign_in_with_a_wrong_password(app, client):
    add_user(app, role="requester", email="ann@example.com")
    page = client.post("/signin", data={"email": "ann@example.com", "password": "not it"}).get_data(as_text=True)
    _check(page, "Sign in", [("#email", "That email address and password don't match an account.")])


def test_sign_in_with_empty_fields(client):
    page = client.post("/signin", data={"email": "", "password": ""}).get_data(as_text=True)
    _check(page, "Sign in", [("#email", "Enter your email address."), ("#password", "Enter your password.")])


def test_sign_up_with_errors(client):
    page = client.post("/signup", data={"name": "", "email": "ann@example.com", "password": "short",
                                        "confirm": "other"}).get_data(as_text=True)
    assert _title(page).startswith("Error: Create an account")
    links = _summary_links(page)
    assert [href for href, _ in links][:1] == ["#name"] and ("#name", "Enter your name.") in links
    assert "#password" in [href for href, _ in links]
    assert all(href[1:] in _field_ids(page) for href, _ in links)


def test_a_flow_form_step_names_each_field_in_its_message(client):
    url = client.post("/flows/printer/start", data={"answer": "It shows an error"}).headers["Location"]
    page = client.post(url, data={"printer_name": "", "copies": "lots", "contact": "bob", "urgent": "no"}
                       ).get_data(as_text=True)
    assert _title(page).startswith("Error: ")
    links = _summary_links(page)
    assert links == [
        ("#field-printer_name", "Enter the printer name."),
        ("#field-copies", "Enter a number for “How many pages were you printing?”, like 3 or 2.5."),
        ("#field-contact", "Enter an email address like name@example.com for the email for updates."),
    ]
    assert all(href[1:] in _field_ids(page) for href, _ in links)
    assert 'id="field-printer_name-error">Enter the printer name.</p>' in html.unescape(page)
    assert "This field is required" not in page
    # htmx gets the step alone: the summary is in it (feedback.js starts the title with "Error: ").
    fragment = client.post(url, data={"printer_name": ""}, headers=HX).get_data(as_text=True)
    assert "<title>" not in fragment and ("#field-printer_name", "Enter the printer name.") in _summary_links(fragment)


@pytest.mark.parametrize(("label", "kind", "problem", "message"), [
    ("Computer name", "text", "missing", "Enter the computer name."),
    ("Your work email address", "email", "missing", "Enter your work email address."),
    ("Which app?", "text", "missing", "Enter an answer to “Which app?”"),
    ("Floor", "choice", "missing", "Choose the floor."),
    ("Floor", "choice", "choice", "Choose one of the listed options for the floor."),
    ("Is anyone blocked?", "yesno", "missing", "Answer yes or no to “Is anyone blocked?”"),
    ("Extension", "number", "number", "Enter a number for the extension, like 3 or 2.5."),
    ("Contact email", "email", "email", "Enter an email address like name@example.com for the contact email."),
    ("VPN client", "text", "missing", "Enter the VPN client."),  # capitals kept
    ("Notes", "textarea", "long", f"The notes must be {engine.MAX_FIELD_LENGTH} characters or fewer."),
])
def test_flow_form_messages_use_the_fields_label(label, kind, problem, message):
    field = type("Field", (), {"label": label, "kind": kind})()
    assert engine.field_error(field, problem) == message


def test_desk_new_ticket_with_errors(app):
    _, tech = technician(app)
    page = tech.post("/desk/new", data={"email": "", "name": "", "subject": "", "queue": "general",
                                        "priority": "normal", "key": "n1"}).get_data(as_text=True)
    assert _title(page).startswith("Error: New ticket")
    hrefs = [href for href, _ in _summary_links(page)]
    assert hrefs[:1] == ["#email"] and "#subject" in hrefs
    assert all(href[1:] in _field_ids(page) for href in hrefs)


def test_a_technicians_empty_reply_is_summarised_and_said_under_the_field(app):
    number, _ = open_by_contact(app)
    _, tech = technician(app)
    for headers in ({}, HX):
        page = tech.post(f"/desk/tickets/{number}/reply", data={"body": "  ", "key": "r1"},
                         headers=headers).get_data(as_text=True)
        (link,) = _summary_links(page)
        assert link[0] == "#reply-body" and 'id="reply-body"' in page
        assert f'id="reply-error">{html.escape(link[1], quote=True)}</p>' in page
        if not headers:
            assert _title(page).startswith("Error: ")


def test_a_requesters_empty_reply_is_summarised(app):
    number, link = open_by_contact(app)
    client = app.test_client()
    action = link.replace(f"/tickets/{number}", f"/tickets/{number}/reply")
    page = client.post(action, data={"body": "", "key": "q1"}).get_data(as_text=True)
    assert _title(page).startswith("Error: ")
    (href, _), = _summary_links(page)
    assert href == "#body" and 'id="body"' in page


def test_a_technicians_action_says_what_it_did_with_javascript_too(app):
    number, _ = open_by_contact(app)
    tech_id, tech = technician(app)
    response = tech.post(f"/desk/tickets/{number}/status", data={"status": "pending"}, headers=HX)
    assert response.headers["HX-Trigger-After-Settle"] == '{"portal:done": {"message": "Status changed to Pending."}}'
    response = tech.post(f"/desk/tickets/{number}/assign", data={"assignee": str(tech_id)}, headers=HX)
    assert "Assigned to Tess Tech." in response.headers["HX-Trigger-After-Settle"]
    plain = tech.post(f"/desk/tickets/{number}/status", data={"status": "open"})
    assert plain.status_code == 303
    assert "Status changed to Open." in tech.get(plain.headers["Location"]).get_data(as_text=True)


def test_an_htmx_error_leaves_the_page_to_the_browser(app):
    _, tech = technician(app)
    response = tech.post("/desk/tickets/99999/status", data={"status": "open"}, headers=HX)
    # Not swapped (htmx swaps no 4xx): the form and what was typed stay; feedback.js says what happened.
    assert response.status_code == 404 and "HX-Retarget" not in response.headers


@pytest.mark.parametrize("headers", [{}, HX])
def test_merging_shows_both_tickets_and_does_nothing_until_confirmed(any_app, headers):
    app = any_app
    duplicate, _ = open_by_contact(app, subject="Printer jammed")
    kept, _ = open_by_contact(app, name="Bo Berg", email="bo@example.com", subject="2nd floor printer broken")
    _, tech = technician(app)
    before = len(outbox(app))
    response = tech.post(f"/desk/tickets/{duplicate}/merge", data={"into": f"#{kept}"}, headers=headers)
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert f"Merge #{duplicate} into #{kept}?" in _title(page)
    for text in ("Printer jammed", "2nd floor printer broken", "Ann Lee (ann@example.com)", "Bo Berg (bo@example.com)",
                 "0 messages", "New", f'name="into" value="#{kept}"', 'name="confirm" value="yes"',
                 "Cancel: keep both"):
        assert text in page, text
    # Nothing changed: no merge, no email, no event.
    assert snapshot(app, duplicate)["merged_into_id"] is None
    assert [e for e in events(app, duplicate) if e[0] == "merged"] == [] and len(outbox(app)) == before

    done = tech.post(f"/desk/tickets/{duplicate}/merge", data={"into": f"#{kept}", "confirm": "yes"})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/desk/tickets/{kept}")
    assert snapshot(app, duplicate)["merged_into_id"] == Ticket.id_from_number(kept)


def test_a_merge_that_cannot_be_is_refused_before_asking(app):
    number, _ = open_by_contact(app)
    _, tech = technician(app)
    page = html.unescape(tech.post(f"/desk/tickets/{number}/merge", data={"into": f"#{number}"}, headers=HX)
                         .get_data(as_text=True))
    assert "id=\"merge-error\">A ticket can't be merged into itself." in page and "merge-confirm" not in page
    with app.app_context():
        assert db.session.get(Ticket, Ticket.id_from_number(number)).merged_into_id is None


def test_a_refused_merge_or_link_leads_the_page_with_its_summary(app):
    # Sent back to the top of a long ticket page, the technician sees what went wrong and a link to the field.
    number, _ = open_by_contact(app)
    _, tech = technician(app)
    for url, field, value in ((f"/desk/tickets/{number}/merge", "into", "²"),
                              (f"/desk/tickets/{number}/link", "other", f"#{number}")):
        page = tech.post(url, data={field: value}).get_data(as_text=True)
        assert _title(page).startswith("Error: ")
        (href, message), = _summary_links(page)
        assert href in ("#merge-into", "#link-other") and href[1:] in _field_ids(page)
        assert page.index("data-error-summary") < page.index('class="reply-form"')  # near the top, before the forms
        assert message
