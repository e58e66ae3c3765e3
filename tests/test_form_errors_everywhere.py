"""Errors as people expect them, on every form (issue 12 item 5): a value refused comes back with a summary at
the top whose link reaches the field, a page title that starts with "Error: ", the message next to the field
in words that name it (never "This field is required" or "Not a valid choice"), and what was typed still in
the form. Each test posts one refused value to one form, as the person who uses it (htmx too where the form
posts through htmx: then the fragment carries the summary and feedback.js starts the title with "Error: ").
Passwords are the one thing never sent back.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from portal.auth import password_links, profile
from portal.auth.services import verification_token
from portal.extensions import db
from portal.models import KnownIssue, Message, Ticket, User

from .test_ticket_rules import HX, add_user, open_by_contact, signed_in, technician


@pytest.fixture
def app(any_app):
    """Every test here on SQLite and on PostgreSQL (a taken address or slug is the database's answer)."""
    return any_app


# -- reading a page as a browser builds it ------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: dict, parent: Node | None):
        self.tag, self.attrs, self.parent, self.children = tag, attrs, parent, []

    def text(self) -> str:
        return " ".join("".join(c if isinstance(c, str) else c.text() for c in self.children).split())

    def walk(self):
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.walk()

    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def contains(self, other: Node) -> bool:
        while other is not None:
            if other is self:
                return True
            other = other.parent
        return False


class Page(HTMLParser):
    """The element tree of a page or an htmx fragment (the templates close every element they open)."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#root", {}, None)
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: (v if v is not None else "") for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)

    def all(self, tag: str | None = None, **attrs):
        return [n for n in self.root.walk() if (tag is None or n.tag == tag)
                and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def by_id(self, element_id: str) -> Node | None:
        found = [n for n in self.root.walk() if n.attrs.get("id") == element_id]
        assert len(found) <= 1, f"{len(found)} elements with the id {element_id}"
        return found[0] if found else None


CONTROLS = ("input", "select", "textarea")


def _control(node: Node) -> Node:
    """The field itself, or the first choice of a group (a fieldset or list of radios or checkboxes)."""
    if node.tag in CONTROLS:
        return node
    return next(n for n in node.walk() if n.tag in CONTROLS and n.attrs.get("type") != "hidden")


def _group(node: Node) -> Node:
    """What a field's message belongs in: its `.field` box (or fieldset), else its form."""
    box = node
    while box is not None and not ("field" in box.classes() or box.tag == "fieldset"):
        box = box.parent
    if box is not None:
        return box
    while node.tag != "form":
        node = node.parent
    return node


def _value(control: Node, page: Page):
    """What the form holds in a field: its text, its chosen option, or its ticked values."""
    if control.tag == "textarea":
        text = "".join(c for c in control.children if isinstance(c, str))
        return text.removeprefix("\r\n") if text.startswith("\r\n") else text.removeprefix("\n")
    if control.tag == "select":
        chosen = [o.attrs.get("value") for o in control.walk() if o.tag == "option" and "selected" in o.attrs]
        return chosen[0] if chosen else None
    if control.attrs.get("type") in ("checkbox", "radio"):
        return [n.attrs["value"] for n in page.all("input", name=control.attrs["name"]) if "checked" in n.attrs]
    return control.attrs.get("value", "")


def refused(response, field_id: str, names: str, typed=None, *, htmx: bool = False, status=(200, 422)) -> str:
    """Check the answer to a refused form; returns the message. `names`: words of the field's label that the
    message must use; `typed`: what the field must still hold."""
    assert response.status_code in status, response.status_code
    text = response.get_data(as_text=True)
    page = Page(text)
    titles = page.all("title")
    if htmx:
        assert not titles, "an htmx answer is a fragment, not a whole page"
    else:
        assert titles and titles[0].text().startswith("Error: "), titles and titles[0].text()
    summaries = [n for n in page.root.walk() if "data-error-summary" in n.attrs]
    assert len(summaries) == 1, f"{len(summaries)} error summaries"
    links = {a.attrs["href"]: a.text() for a in summaries[0].walk() if a.tag == "a"}
    assert f"#{field_id}" in links, f"the summary links {sorted(links)}, not #{field_id}"
    message = links[f"#{field_id}"]
    field = page.by_id(field_id)
    assert field is not None, f"the summary links #{field_id}, which is on no element of the page"
    # The message itself sits with its field, and the field says so to a screen reader.
    errors = [p for p in page.all("p") if "field-error" in p.classes() and p.text() == message]
    assert errors, f"“{message}” is in the summary but not next to the field"
    assert _group(field).contains(errors[0]), f"“{message}” is not next to #{field_id}"
    control = _control(field)
    described = control if control is field else field  # a group of choices is described as a whole
    assert errors[0].attrs.get("id") and errors[0].attrs["id"] in described.attrs.get("aria-describedby", "").split()
    if control is field:
        assert control.attrs.get("aria-invalid") == "true"
    # In words that name the field, never a generic one.
    assert names.lower() in message.lower(), f"“{message}” does not say “{names}”"
    for generic in ("This field is required", "Not a valid choice", "Invalid choice", "Invalid value",
                    "Field cannot be longer", "Field must be"):
        assert generic.lower() not in message.lower()
    if typed is not None:
        assert _value(control, page) == typed, f"#{field_id} holds {_value(control, page)!r}, not {typed!r}"
    return message


def _location_id(response) -> int:
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return int(re.search(r"/(\d+)(?:[/?#]|$)", response.headers["Location"]).group(1))


LONG = "It worked after a restart. " * 80  # 2,160 characters
#: A form htmx sends for a boosted page: the answer is a whole page, title and all.
BOOSTED = {**HX, "HX-Boosted": "true"}


# -- signing up, in and back in ----------------------------------------------------------------------------


def test_sign_up_keeps_what_was_typed(client):
    response = client.post("/signup", data={"name": "", "email": "ann@example.com", "password": "x", "confirm": "x"})
    refused(response, "name", "your name", "")
    refused(response, "password", "password")
    assert 'value="ann@example.com"' in response.get_data(as_text=True)


def test_sign_in_with_a_wrong_address(client):
    response = client.post("/signin", data={"email": "ann@", "password": "secret"})
    refused(response, "email", "email address", "ann@")


def test_forgot_password_with_a_wrong_address(client):
    refused(client.post("/password/forgot", data={"email": "ann at example"}), "email", "email address",
            "ann at example")


def test_changing_the_password_with_a_wrong_current_one(app):
    add_user(app, role="requester", email="ann@example.com")
    ann = signed_in(app, "ann@example.com")
    response = ann.post("/password", data={"current": "not it", "password": "a new long passphrase",
                                           "confirm": "a new long passphrase"})
    refused(response, "current", "current password")


def test_choosing_a_password_from_a_link_with_two_different_ones(app):
    user_id = add_user(app, role="requester", email="ann@example.com")
    with app.test_request_context():
        token = password_links.token(db.session.get(User, user_id), password_links.RESET)
    response = app.test_client().post(f"/password/reset/{token}", data={"password": "a new long passphrase",
                                                                        "confirm": "another passphrase"})
    refused(response, "confirm", "passwords")


def test_confirming_an_address_with_a_wrong_password(app):
    # Was a red line above the form, neither in a summary nor under the field.
    user_id = add_user(app, role="requester", email="ann@example.com")
    with app.test_request_context():
        token = verification_token(db.session.get(User, user_id))
    response = app.test_client().post(f"/verify/{token}", data={"password": "not it"})
    refused(response, "password", "password")


# -- the profile ---------------------------------------------------------------------------------------------


def test_profile_without_a_name_keeps_the_rest(app):
    add_user(app, role="requester", email="ann@example.com")
    ann = signed_in(app, "ann@example.com")
    response = ann.post("/profile", data={"name": " ", "time_zone": "Europe/Paris", "email_on_reply": "y"})
    refused(response, "name", "your name")
    assert _value(Page(response.get_data(as_text=True)).by_id("time_zone"), None) == "Europe/Paris"


def test_profile_with_an_unknown_time_zone(app):
    add_user(app, role="requester", email="ann@example.com")
    ann = signed_in(app, "ann@example.com")
    response = ann.post("/profile", data={"name": "Ann Typed", "time_zone": "Mars/Olympus_Mons"})
    refused(response, "time_zone", "time zone")
    assert 'value="Ann Typed"' in response.get_data(as_text=True)


def test_a_new_email_address_that_is_not_one(app):
    add_user(app, role="requester", email="ann@example.com")
    ann = signed_in(app, "ann@example.com")
    refused(ann.post("/profile/email", data={"email": "ann@work", "password": "x"}), "email", "email address",
            "ann@work")


def test_confirming_a_new_address_that_another_account_took_meanwhile(app):
    # Was a flash message on the profile page, the address gone from the form.
    user_id = add_user(app, role="requester", email="ann@example.com")
    with app.test_request_context():
        token = profile.change_token(db.session.get(User, user_id), "ann@work.example")
    add_user(app, role="requester", email="ann@work.example")
    ann = signed_in(app, "ann@example.com")
    refused(ann.post(f"/profile/email/{token}"), "email", "ann@work.example", "ann@work.example")
    with app.app_context():
        assert db.session.get(User, user_id).email == "ann@example.com"


# -- requesters' tickets -------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, BOOSTED])
def test_withdrawing_with_a_reason_too_long(app, headers):
    # Was cut at 2,000 characters without a word. (The form is boosted: htmx swaps the whole page, 422 too.)
    number, link = open_by_contact(app)
    client = app.test_client()
    action = link.replace(f"/tickets/{number}", f"/tickets/{number}/withdraw")
    assert "withdraw-reason" in client.get(action).get_data(as_text=True)
    refused(client.post(action, data={"reason": LONG}, headers=headers), "withdraw-reason", "reason", LONG,
            status=(422,))
    with app.app_context():
        assert db.session.get(Ticket, Ticket.id_from_number(number)).is_open  # nothing withdrawn
    assert client.post(action, data={"reason": "It works again."}).status_code == 303


def test_me_too_signed_out_with_a_wrong_address(app):
    _, tech = technician(app)
    issue = _location_id(tech.post("/desk/known-issues/new", data={
        "title": "Outlook won't open", "message": "We're on it.", "status": "investigating", "key": "d1"}))
    response = app.test_client().post(f"/known-issues/{issue}/join", data={"name": "Bo", "email": "bo@", "key": "j"})
    refused(response, "email", "email", "bo@")


# -- guides --------------------------------------------------------------------------------------------------


def _walk_to_the_end(client) -> str:
    response = client.post("/flows/wifi/start", data={"answer": "No"})  # "Do other websites load?" No: fixed
    walk_id = re.search(r"/walks/([^/]+)/", response.headers["Location"]).group(1)
    return walk_id


@pytest.mark.parametrize("headers", [{}, HX])
def test_did_this_help_with_a_comment_too_long(client, headers):
    # Was cut at 2,000 characters without a word.
    walk_id = _walk_to_the_end(client)
    response = client.post(f"/walks/{walk_id}/feedback", data={"helped": "no", "comment": LONG}, headers=headers)
    refused(response, "feedback-comment", "comment", LONG, htmx=bool(headers))
    response = client.post(f"/walks/{walk_id}/feedback", data={"helped": "no", "comment": "Still slow."})
    assert response.status_code == 303
    assert "Thank" in client.get(response.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize("headers", [{}, HX])
def test_sending_a_guide_to_a_wrong_address(client, headers):
    response = client.post("/flows/printer/start", data={"answer": "No"})
    url = response.headers["Location"]
    send = url.rsplit("/", 1)[0] + "/send"
    refused(client.post(send, data={"email": "ann@exmaple"}, headers=headers), "send-email", "email address",
            "ann@exmaple", htmx=bool(headers))


@pytest.mark.parametrize("headers", [{}, HX])
def test_a_guides_contact_step_with_a_wrong_address(client, headers):
    contact = client.post("/flows/printer/start?help=1", data={}).headers["Location"]
    response = client.post(contact, data={"name": "Ann Lee", "email": "ann@"}, headers=headers)
    refused(response, "email", "email address", "ann@", htmx=bool(headers))


# -- the desk ------------------------------------------------------------------------------------------------


def test_desk_new_ticket_in_a_queue_that_is_not_offered(app):
    # Was "Not a valid choice." (a queue removed while the form was open).
    _, tech = technician(app)
    response = tech.post("/desk/new", data={"email": "ann@example.com", "name": "Ann", "subject": "Fan is loud",
                                            "queue": "gone-queue", "priority": "normal", "key": "n1"})
    refused(response, "queue", "queue")
    assert 'value="Fan is loud"' in response.get_data(as_text=True)


def test_desk_new_ticket_with_a_description_too_long(app):
    # Was "Field cannot be longer than 10000 characters.", and for a text the browser had let through: it
    # counts a line break once (maxlength="10000") and sends it as two characters.
    _, tech = technician(app)
    lines = "\r\n".join(["The fan is loud."] * 588)  # 10,000 characters as the browser counts them
    data = {"email": "ann@example.com", "subject": "Fan is loud", "queue": "general", "priority": "normal"}
    assert tech.post("/desk/new", data={**data, "description": lines, "key": "n1"}).status_code == 303
    too_long = lines + " And hot."
    response = tech.post("/desk/new", data={**data, "description": too_long, "key": "n2"})
    refused(response, "description", "description", too_long.replace("\r\n", "\n"))


def test_walking_with_a_caller_without_a_valid_answer(app):
    # "Is the problem on a phone or tablet?": the summary linked #mobile, on no element, with "Not a valid choice."
    number, _ = open_by_contact(app)
    _, tech = technician(app)
    response = tech.post(f"/desk/tickets/{number}/walk", data={"flow": "printer", "os": "macOS", "mobile": "maybe"})
    refused(response, "mobile", "phone or tablet")
    assert _value(Page(response.get_data(as_text=True)).by_id("os"), None) == "macOS"


@pytest.mark.parametrize("headers", [{}, HX])
def test_linking_a_ticket_that_does_not_exist(app, headers):
    number, _ = open_by_contact(app)
    _, tech = technician(app)
    response = tech.post(f"/desk/tickets/{number}/link", data={"other": "#99999"}, headers=headers)
    refused(response, "link-other", "ticket", "#99999", htmx=bool(headers))


@pytest.mark.parametrize("headers", [{}, HX])
def test_an_empty_reply_on_the_desk(app, headers):
    number, _ = open_by_contact(app)
    _, tech = technician(app)
    response = tech.post(f"/desk/tickets/{number}/reply", data={"body": " ", "then_status": "pending", "key": "r"},
                         headers=headers)
    refused(response, "reply-body", "message", htmx=bool(headers))
    assert _value(Page(response.get_data(as_text=True)).by_id("reply-then-status"), None) == "pending"


# -- known issues --------------------------------------------------------------------------------------------


def _issue(app):
    _, tech = technician(app)
    issue_id = _location_id(tech.post("/desk/known-issues/new", data={
        "title": "Outlook won't open", "message": "We're on it.", "status": "investigating", "key": "d1"}))
    return issue_id, tech


def test_declaring_a_known_issue_with_a_guide_that_is_not_offered(app):
    # The summary linked #flows, on no element of the page.
    _, tech = technician(app)
    response = tech.post("/desk/known-issues/new", data={"title": "Outlook won't open", "message": "We're on it.",
                                                         "flows": ["printer", "no-such-guide"],
                                                         "status": "investigating", "key": "d1"})
    refused(response, "flows", "guides", ["printer"], status=(422,))
    assert 'value="Outlook won&#39;t open"' in response.get_data(as_text=True)


def test_declaring_a_known_issue_without_a_title(app):
    _, tech = technician(app)
    response = tech.post("/desk/known-issues/new", data={"title": " ", "message": "We're on it.",
                                                         "status": "investigating", "key": "d1"})
    refused(response, "title", "title", status=(422,))
    assert "We&#39;re on it.</textarea>" in response.get_data(as_text=True)


def test_an_empty_known_issue_update(app):
    # No summary: the message was under the field only, and the title did not say "Error: ".
    issue_id, tech = _issue(app)
    refused(tech.post(f"/desk/known-issues/{issue_id}/updates", data={"body": "  ", "key": "u1"}), "update-body",
            "update", status=(422,))


def test_a_known_issue_update_too_long(app):
    issue_id, tech = _issue(app)
    body = "Still on it. " * 400  # 5,200 characters
    refused(tech.post(f"/desk/known-issues/{issue_id}/updates", data={"body": body, "key": "u1"}), "update-body",
            "update", body, status=(422,))


def test_marking_a_known_issue_fixed_without_ticking_the_box(app):
    # "Tick the box" was said under the fix text, not next to the box, and not in a summary.
    issue_id, tech = _issue(app)
    response = tech.post(f"/desk/known-issues/{issue_id}/fix", data={"fix": "Restart Outlook.", "key": "f1"})
    refused(response, "issue-fix-confirm", "tick the box", status=(422,))
    assert "Restart Outlook.</textarea>" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(KnownIssue, issue_id).is_open


def test_marking_a_known_issue_fixed_without_the_fix(app):
    issue_id, tech = _issue(app)
    response = tech.post(f"/desk/known-issues/{issue_id}/fix", data={"fix": "", "confirm": "yes", "key": "f1"})
    refused(response, "issue-fix", "fix", "", status=(422,))


def test_a_known_issue_status_not_offered(app):
    issue_id, tech = _issue(app)
    refused(tech.post(f"/desk/known-issues/{issue_id}/status", data={"status": "fixed"}), "issue-status", "status",
            status=(422,))


# -- the knowledge base ----------------------------------------------------------------------------------------


def _article(**fields) -> dict:
    return {"title": "Outlook crashes on start", "slug": "", "body": "Start it in safe mode.", "tags": "outlook",
            "visibility": "internal", "action": "save", **fields}


def test_an_article_without_a_title(app):
    # "Give the article a title." was in the summary only, not under the field.
    tech_id, tech = technician(app)
    response = tech.post("/desk/kb/new", data=_article(title=" ", owner=str(tech_id)))
    refused(response, "title", "title", status=(422,))
    assert "Start it in safe mode.</textarea>" in response.get_data(as_text=True)


def test_an_article_with_an_address_that_is_not_one(app):
    tech_id, tech = technician(app)
    response = tech.post("/desk/kb/new", data=_article(slug="Has Spaces", owner=str(tech_id)))
    refused(response, "slug", "address", "Has Spaces", status=(422,))


def test_an_article_too_long(app):
    # Its message had no id: the field did not point a screen reader to it.
    tech_id, tech = technician(app)
    body = "Restart. " * 12000
    response = tech.post("/desk/kb/new", data=_article(body=body, owner=str(tech_id)))
    refused(response, "body", "article", body, status=(422,))


def test_an_article_with_a_visibility_not_offered(app):
    # The summary linked #visibility, on no element, with "Not a valid choice."
    tech_id, tech = technician(app)
    refused(tech.post("/desk/kb/new", data=_article(visibility="everyone", owner=str(tech_id))), "visibility",
            "who can read it", status=(422,))


def test_an_article_owned_by_a_requester(app):
    # "The owner must be …" sat under the Owner box, outside its field, not pointed to by it.
    technician(app)
    requester_id = add_user(app, role="requester", email="ann@example.com")
    tech = signed_in(app, "tess@example.com")
    refused(tech.post("/desk/kb/new", data=_article(owner=str(requester_id))), "owner", "owner", status=(422,))


def test_editing_an_article_with_an_address_already_used(app):
    tech_id, tech = technician(app)
    tech.post("/desk/kb/new", data=_article(owner=str(tech_id)))
    tech.post("/desk/kb/new", data=_article(title="Outlook is slow", owner=str(tech_id)))
    response = tech.post("/desk/kb/outlook-is-slow/edit", data=_article(
        title="Outlook is slow", slug="outlook-crashes-on-start", owner=str(tech_id)))
    refused(response, "slug", "address", "outlook-crashes-on-start", status=(422,))


# -- figures: the period form ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/desk/overview", "/desk/flows", "/desk/flows/wifi"])
def test_a_period_that_ends_before_it_starts(app, url):
    # Was a red box above the form, and the dates typed were replaced by the last 30 days.
    _, tech = technician(app)
    response = tech.get(f"{url}?from=2026-05-10&to=2026-05-01")
    refused(response, "p-to", "to", "2026-05-01", status=(200,))
    assert 'value="2026-05-10"' in response.get_data(as_text=True)


def test_a_period_with_a_date_that_is_not_one(app):
    _, tech = technician(app)
    refused(tech.get("/desk/overview?from=yesterday&to=2026-05-01"), "p-from", "from", "yesterday", status=(200,))


def test_a_flow_version_without_walks(app):
    _, tech = technician(app)
    refused(tech.get("/desk/flows/wifi?version=0123456789ab"), "p-version", "version", status=(200,))


# -- administration ----------------------------------------------------------------------------------------------


def _admin(app):
    return technician(app, name="Ada Admin", email="ada@example.com", role="admin")[1]


def test_adding_an_account_without_a_name(app):
    admin = _admin(app)
    response = admin.post("/admin/users", data={"name": "", "email": "bo@example.com", "role": "technician"})
    refused(response, "account-name", "name", "")
    assert _value(Page(response.get_data(as_text=True)).by_id("account-email"), None) == "bo@example.com"
    assert _value(Page(response.get_data(as_text=True)).by_id("account-role"), None) == "technician"


def test_adding_an_account_with_a_role_not_offered(app):
    # Was "Not a valid choice."
    admin = _admin(app)
    response = admin.post("/admin/users", data={"name": "Bo", "email": "bo@example.com", "role": "superuser"})
    refused(response, "account-role", "role")
    assert 'value="Bo"' in response.get_data(as_text=True)


def test_editing_an_account_with_a_wrong_address(app):
    admin = _admin(app)
    user_id = add_user(app, role="requester", email="bo@example.com")
    refused(admin.post(f"/admin/users/{user_id}", data={"name": "Bo", "email": "bo@"}), "email", "email address",
            "bo@")


def test_adding_a_queue_with_a_name_flows_cannot_use(app):
    admin = _admin(app)
    response = admin.post("/admin/queues", data={"name": "Service Desk", "title": "Service desk"})
    refused(response, "name", "lowercase", "Service Desk")


def test_editing_a_queue_without_a_title(app):
    admin = _admin(app)
    admin.post("/admin/queues", data={"name": "service-desk", "title": "Service desk"})
    with app.app_context():
        from portal.models import Queue
        queue_id = db.session.scalar(sa.select(Queue.id).where(Queue.name == "service-desk"))
    response = admin.post(f"/admin/queues/{queue_id}", data={"title": "", "description": "Typed here"})
    refused(response, "title", "title", "")
    assert "Typed here</textarea>" in response.get_data(as_text=True)


def test_adding_a_canned_response_with_an_unknown_placeholder(app):
    admin = _admin(app)
    response = admin.post("/admin/canned", data={"title": "Hello", "body": "Hi {requester_firstname}"})
    refused(response, "body", "placeholder", "Hi {requester_firstname}")


def test_editing_a_canned_response_without_a_title(app):
    admin = _admin(app)
    admin.post("/admin/canned", data={"title": "Hello", "body": "Hi there"})
    with app.app_context():
        from portal.models import CannedResponse
        canned_id = db.session.scalar(sa.select(CannedResponse.id))
    response = admin.post(f"/admin/canned/{canned_id}", data={"title": "", "body": "Hi again"})
    refused(response, "title", "title", "")
    assert "Hi again</textarea>" in response.get_data(as_text=True)


# -- nothing was stored by any refused form above ---------------------------------------------------------------


def test_a_refused_form_stores_nothing(app):
    number, link = open_by_contact(app)
    client = app.test_client()
    client.post(link.replace(f"/tickets/{number}", f"/tickets/{number}/withdraw"), data={"reason": LONG})
    issue_id, tech = _issue(app)
    tech.post(f"/desk/known-issues/{issue_id}/updates", data={"body": " ", "key": "u"})
    with app.app_context():
        assert db.session.scalars(sa.select(Message.body).where(
            Message.ticket_id == Ticket.id_from_number(number))).all() == []
