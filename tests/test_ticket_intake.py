"""Every way a ticket is opened, pinned from the outside: what it carries, and that it opens once.

The four paths are a walk that escalates, Contact the help desk, a technician's "new ticket" and
an inbound email (`flask mail ingest`). Each is retried here the way people and mail servers retry
(double clicks, reloads, a redelivered message) and must still open exactly one ticket and send
one "we've received your request" email.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from portal.extensions import db
from portal.models import Message, Ticket, User, Walk, WalkStatus

from .conftest import _app_for
from .test_ticket_rules import (
    act,
    add_user,
    count,
    events,
    messages,
    new_key,
    open_by_contact,
    outbox,
    reply_as_requester,
    sent,
    signed_in,
    snapshot,
    tag,
    technician,
)

LAPTOP_FLOW = """\
id: laptop
title: Laptop won't start
ticket: {queue: desk-general, priority: low}
start: charger
steps:
  charger:
    type: question
    text: Is the charger light on?
    options:
      - label: "Yes"
        next: to-bench
      - label: "No"
        next: to-default
  to-bench:
    type: escalate
    text: Bring it to the repair bench.
    summary: Laptop for the repair bench
    queue: repair-bench
    priority: urgent
  to-default:
    type: escalate
    text: A technician will call you.
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def laptop_app(tmp_path, request):
    """A portal whose only flow is LAPTOP_FLOW, on SQLite and on PostgreSQL."""
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "laptop.yaml").write_text(LAPTOP_FLOW)
    app = _app_for(request.param, tmp_path, request, FLOWS_DIR=str(flows))
    yield app
    with app.app_context():
        db.engine.dispose()


def the_ticket(app) -> dict:
    """The one ticket in the database, as a dict."""
    assert count(app, Ticket) == 1
    return snapshot(app, 1001)


# -- an escalate step's own queue and priority ----------------------------------------------------


def test_an_escalate_steps_own_queue_and_priority_override_the_flows(laptop_app):
    app = laptop_app
    client = app.test_client()
    contact = client.post("/flows/laptop/start", data={"answer": "Yes"}).headers["Location"]
    assert contact.endswith("/contact")
    client.post(contact, data={"name": "Ann Lee", "email": "ann@example.com"})
    ticket = the_ticket(app)
    assert (ticket["queue"], ticket["priority"].value, ticket["subject"]) == (
        "repair-bench", "urgent", "Laptop for the repair bench")
    opened = ticket["created_at"]
    assert (ticket["response_due_at"], ticket["resolution_due_at"]) == (opened + timedelta(hours=1),
                                                                        opened + timedelta(hours=4))


def test_an_escalate_step_without_a_queue_uses_the_flows(laptop_app):
    app = laptop_app
    add_user(app, role="requester", email="bo@example.com", name="Bo Berg")
    client = signed_in(app, "bo@example.com")
    end = client.post("/flows/laptop/start", data={"answer": "No"}).headers["Location"]
    assert end.endswith("/end")  # signed in: the ticket opens at once
    ticket = the_ticket(app)
    assert (ticket["queue"], ticket["priority"].value, ticket["subject"]) == (
        "desk-general", "low", "Laptop won't start: not solved")
    assert ticket["requester_email"] == "bo@example.com" and ticket["source"].value == "walk"


def test_i_still_need_help_uses_the_flows_queue(laptop_app):
    app = laptop_app
    client = app.test_client()
    contact = client.post("/flows/laptop/start?help=1").headers["Location"]
    client.post(contact, data={"name": "Ann Lee", "email": "ann@example.com"})
    ticket = the_ticket(app)
    assert (ticket["queue"], ticket["priority"].value) == ("desk-general", "low")


# -- each path opens one ticket, however often it is tried ----------------------------------------


def test_a_walk_that_escalates_twice_opens_one_ticket(any_app):
    app = any_app
    add_user(app, role="requester", email="bo@example.com", name="Bo Berg")
    client = signed_in(app, "bo@example.com")
    step2 = client.post("/flows/printer/start", data={"answer": "It shows an error"}).headers["Location"]
    form = {"printer_name": "HP-3F", "urgent": "no"}
    end = client.post(step2, data=form).headers["Location"]
    assert end.endswith("/end")
    walk_id = step2.split("/")[2]
    # A double click, the browser's retry, "I still need help" and the contact page afterwards.
    assert client.post(step2, data=form).headers["Location"] == end
    client.post(f"/walks/{walk_id}/help")
    client.post(f"/walks/{walk_id}/contact", data={"help": "1"})
    assert count(app, Ticket) == 1
    assert sent(app) == [("opened", "bo@example.com")]
    ticket = the_ticket(app)
    assert ticket["source"].value == "walk" and ticket["queue"] == "hardware"
    with app.app_context():
        assert db.session.get(Walk, walk_id).status == WalkStatus.ESCALATED
        assert db.session.get(Walk, walk_id).ticket.number == 1001
    assert events(app, 1001) == [("created", None, "walk")]


def test_an_anonymous_walks_contact_form_sent_twice_opens_one_ticket(any_app):
    app = any_app
    client = app.test_client()
    step2 = client.post("/flows/printer/start", data={"answer": "It shows an error"}).headers["Location"]
    contact = client.post(step2, data={"printer_name": "HP-3F", "urgent": "yes"}).headers["Location"]
    first = client.post(contact, data={"name": "Ann Lee", "email": "ann@example.com"})
    second = client.post(contact, data={"name": "Ann Lee", "email": "ann@example.com"})
    assert first.headers["Location"] == second.headers["Location"]
    assert count(app, Ticket) == 1 and sent(app) == [("opened", "ann@example.com")]
    assert the_ticket(app)["priority"].value == "high"  # the printer flow's urgent escalation


def test_the_contact_form_sent_twice_opens_one_ticket(any_app):
    app = any_app
    key, browser = new_key(), app.test_client()
    first, first_link = open_by_contact(app, key=key, client=browser)
    again, again_link = open_by_contact(app, key=key, client=browser)  # a double click in the same browser
    assert (first, first_link) == (again, again_link)
    assert count(app, Ticket) == 1 and sent(app) == [("opened", "ann@example.com")]
    ticket = the_ticket(app)
    assert (ticket["source"].value, ticket["requester_name"], ticket["requester_email"], ticket["subject"],
            ticket["description"]) == ("web", "Ann Lee", "ann@example.com", "Fan is loud", "Since this morning.")
    assert ticket["requester_id"] is None and ticket["status"].value == "new" and ticket["queue"] == "general"
    other, _ = open_by_contact(app)  # a new form is a new ticket
    assert other == first + 1 and count(app, Ticket) == 2


def test_a_signed_in_requesters_contact_form_sent_twice_opens_one_ticket_of_theirs(any_app):
    app = any_app
    user_id = add_user(app, role="requester", email="bo@example.com", name="Bo Berg")
    client = signed_in(app, "bo@example.com")
    data = {"subject": "VPN drops", "description": "Every ten minutes.", "key": new_key()}
    first = client.post("/contact", data=data)
    second = client.post("/contact", data=data)
    assert first.headers["Location"] == second.headers["Location"] == "/tickets/1001?new=1"
    ticket = the_ticket(app)
    assert (ticket["requester_id"], ticket["requester_name"], ticket["requester_email"]) == (
        user_id, "Bo Berg", "bo@example.com")
    assert sent(app) == [("opened", "bo@example.com")]
    client.post("/tickets/1001/reply", data={"body": "Still dropping.", "key": "k1"})
    client.post("/tickets/1001/reply", data={"body": "Still dropping.", "key": "k1"})
    assert messages(app, 1001) == [{"body": "Still dropping.", "internal": False, "from_requester": True,
                                    "author_id": user_id, "author_name": "Bo Berg"}]


def test_a_desk_ticket_sent_twice_opens_one_ticket_and_one_requester(any_app):
    app = any_app
    _, tech = technician(app)
    data = {"email": "New.Person@Example.com", "name": "New Person", "subject": "Can't log in",
            "description": "Called at 9:05", "queue": "general", "priority": "high", "key": new_key()}
    first = tech.post("/desk/new", data=data)
    second = tech.post("/desk/new", data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"] == "/desk/tickets/1001"
    ticket = the_ticket(app)
    assert (ticket["source"].value, ticket["priority"].value, ticket["requester_email"], ticket["status"].value) == (
        "phone", "high", "new.person@example.com", "new")
    opened = ticket["created_at"]
    assert ticket["resolution_due_at"] == opened + timedelta(hours=24)
    # A caller new to the portal is also invited to set a password (issue 9), once.
    assert sent(app) == [("opened", "new.person@example.com"), ("invitation", "new.person@example.com")]
    assert events(app, 1001) == [("created", None, "phone")]
    # The same caller again, on a new form: a second ticket, the same requester.
    tech.post("/desk/new", data={**data, "subject": "Still can't log in", "key": new_key()})
    assert count(app, Ticket) == 2
    with app.app_context():
        assert db.session.query(User).filter_by(email="new.person@example.com").count() == 1
        requester = db.session.query(User).filter_by(email="new.person@example.com").one()
        assert requester.password_hash is None and requester.role.value == "requester"
        assert {t.requester_id for t in db.session.query(Ticket)} == {requester.id}


def ingest(app, raw: bytes):
    """`flask mail ingest` with `raw` on standard input.

    It runs in an app context of its own, as the command does in its own process: pytest-flask keeps
    a request context open around tests that use `app`, and the command must not leave its
    anonymous user cached there for the next request.
    """
    with app.app_context():
        return app.test_cli_runner().invoke(args=["mail", "ingest"], input=raw)


def mail(subject: str, body: str, message_id: str, sender: str = "Alex Kim <alex.kim@contoso.com>") -> bytes:
    return (f"From: {sender}\r\nTo: helpdesk@example.com\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n"
            f"\r\n{body}\r\n").encode()


def test_the_same_email_delivered_twice_opens_one_ticket(any_app):
    app = any_app
    raw = mail("Laptop will not charge", "It stopped charging.", "first@contoso.com")
    assert ingest(app, raw).output.strip() == "opened ticket #1001"
    again = ingest(app, raw)
    assert again.exit_code == 0 and again.output.strip() == "this message already opened ticket #1001"
    ticket = the_ticket(app)
    assert (ticket["source"].value, ticket["requester_email"], ticket["requester_name"], ticket["subject"]) == (
        "email", "alex.kim@contoso.com", "Alex Kim", "Laptop will not charge")
    assert sent(app) == [("opened", "alex.kim@contoso.com")]
    assert events(app, 1001) == [("created", None, "email")]
    # Another message with the same text is another request.
    assert ingest(app, mail("Laptop will not charge", "It stopped charging.", "second@contoso.com")).output.strip() \
        == "opened ticket #1002"


def test_the_same_reply_email_delivered_twice_is_added_once(any_app):
    app = any_app
    _, tech = technician(app)
    assert ingest(app, mail("Laptop will not charge", "It stopped charging.", "a@contoso.com")).exit_code == 0
    act(tech, 1001, "claim")
    act(tech, 1001, "status", status="pending")
    raw = mail(f"RE: [{tag(app, 1001)}] Laptop will not charge", "Tried another socket, same.", "b@contoso.com")
    before = len(outbox(app))
    assert ingest(app, raw).output.strip() == "added reply to #1001"
    again = ingest(app, raw)
    assert again.exit_code == 0 and again.output.strip() == "this message was already added to #1001"
    assert messages(app, 1001) == [{"body": "Tried another socket, same.", "internal": False, "from_requester": True,
                                    "author_id": None, "author_name": "Alex Kim"}]
    assert sent(app, before) == [("requester-reply", "tess@example.com")]
    assert snapshot(app, 1001)["status"].value == "open"  # the answer ends the wait


def test_a_reply_email_to_a_merged_ticket_goes_where_the_conversation_went(any_app):
    app = any_app
    _, tech = technician(app)
    assert ingest(app, mail("Laptop will not charge", "It stopped charging.", "a@contoso.com")).exit_code == 0
    assert ingest(app, mail("Charger broken", "The cable is frayed.", "b@contoso.com")).exit_code == 0
    tech.post("/desk/tickets/1001/merge", data={"into": "#1002", "confirm": "yes"})
    result = ingest(app, mail(f"Re: [{tag(app, 1001)}] Laptop will not charge", "Any news?", "c@contoso.com"))
    assert result.output.strip() == "added reply to #1002 (#1001 was merged into it)"
    assert [m["body"] for m in messages(app, 1002) if m["from_requester"]] == ["Any news?"]
    assert messages(app, 1001) == [] and count(app, Ticket) == 2
    stranger = ingest(app, mail(f"Re: [{tag(app, 1002)}] Charger broken", "Me too!", "d@fabrikam.com",
                                sender="Eve <eve@fabrikam.com>"))
    assert stranger.output.strip() == "opened ticket #1003"  # only the requester's mail is a reply


def test_a_reply_sent_twice_from_the_same_form_is_added_once(any_app):
    app = any_app
    _, tech = technician(app)
    number, link = open_by_contact(app)
    act(tech, number, "reply", body="Which model?", kind="reply", key="same")
    act(tech, number, "reply", body="Which model?", kind="reply", key="same")
    act(tech, number, "reply", body="Ordered a fan.", kind="note", key="same-note")
    act(tech, number, "reply", body="Ordered a fan.", kind="note", key="same-note")
    reply_as_requester(app, link, "A T14.", key="mine")
    reply_as_requester(app, link, "A T14.", key="mine")
    assert [m["body"] for m in messages(app, number)] == ["Which model?", "Ordered a fan.", "A T14."]
    assert sent(app) == [("opened", "ann@example.com"), ("reply", "ann@example.com")]
    assert [e[0] for e in events(app, number)] == ["created", "reply", "status", "note", "reply"]
    # The key belongs to one ticket: the same key on another ticket is another message.
    other, _ = open_by_contact(app, name="Bo Berg", email="bo@example.com")
    act(tech, other, "reply", body="Which model?", kind="reply", key="same")
    assert [m["body"] for m in messages(app, other)] == ["Which model?"]
    with app.app_context():
        assert db.session.query(Message).count() == 4


def test_a_desk_ticket_page_shows_where_it_came_from(app):
    _, tech = technician(app)
    open_by_contact(app)
    assert ingest(app, mail("Printer offline", "Floor 3.", "p@contoso.com")).exit_code == 0
    for number, source in ((1001, "web"), (1002, "email")):
        view = tech.get(f"/desk/tickets/{number}").get_data(as_text=True)
        assert re.search(rf"opened the ticket \({source}\)", view), source


# -- a technician walks a guide with a caller: the transcript goes into the caller's ticket -------


def browse(client, url: str, form: dict) -> tuple[str, str]:
    """POST a form and follow the redirects as a browser does (307 sends the form again): (last URL, page)."""
    response = client.post(url, data=form)
    for _ in range(10):
        if response.status_code not in (301, 302, 303, 307, 308):
            return url, response.get_data(as_text=True)
        url = response.headers["Location"]
        response = client.post(url, data=form) if response.status_code in (307, 308) else client.get(url)
    raise AssertionError(f"too many redirects, the last to {url}")


@pytest.mark.parametrize(("answers", "outcome", "walk_status"), [
    ([("2", {"answer": "Yes, it says Ready"}), ("2", {"answer": "Continue"}), ("3", {"answer": "Yes"})],
     "solved the problem", WalkStatus.RESOLVED),
    ([("1", {"answer": "It shows an error"}), ("2", {"printer_name": "HP-3F", "urgent": "no"})],
     "did not solve it", WalkStatus.ESCALATED),
])
def test_a_walk_with_the_caller_fills_their_ticket_and_opens_no_other(any_app, answers, outcome, walk_status):
    app = any_app
    _, tech = technician(app)
    tech.post("/desk/new", data={"email": "cal@example.com", "name": "Cal Caller", "subject": "Printing",
                                 "queue": "general", "priority": "normal", "key": new_key()})
    step_url, page = browse(tech, "/desk/tickets/1001/walk", {"flow": "printer", "os": "Windows", "mobile": "no"})
    assert re.fullmatch(r"/walks/[\w-]+/1", step_url) and "Is the printer on?" in page
    walk_id = step_url.split("/")[2]
    first = tech.post(step_url, data=answers[0][1])
    response = first
    for number, form in answers[1:]:
        response = tech.post(f"/walks/{walk_id}/{number}", data=form)
    assert response.headers["Location"] == "/desk/tickets/1001"
    assert count(app, Ticket) == 1
    assert sent(app) == [("opened", "cal@example.com"), ("invitation", "cal@example.com")]
    ticket = the_ticket(app)
    assert ticket["flow_id"] == "printer" and ticket["client_facts"] == {"os": "Windows", "mobile": False}
    assert ticket["transcript"][0]["step"] == "power" and ticket["transcript"][0]["answer"] == answers[0][1].get(
        "answer")
    if walk_status == WalkStatus.ESCALATED:
        assert ticket["form_values"]["printer_name"] == {"label": "Printer name", "value": "HP-3F"}
        assert ticket["transcript"][-1]["step"] == "escalate"
    else:
        assert ticket["transcript"][-1]["step"] == "fixed"
    assert (ticket["source"].value, ticket["queue"], ticket["subject"]) == ("phone", "general", "Printing")
    started, walked = events(app, 1001)[1:]
    assert started[0] == walked[0] == "note"
    assert re.fullmatch(r"started the guide .My printer won't print. with the caller", started[2])
    assert re.fullmatch(rf"walked .My printer won't print. with the caller: {outcome}", walked[2])
    with app.app_context():
        assert db.session.get(Walk, walk_id).status == walk_status
