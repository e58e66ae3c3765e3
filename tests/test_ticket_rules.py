"""The help desk's ticket rules, pinned from the outside before the ticket code moves.

Everything here is driven the way people drive it: the requester's pages (/contact, /tickets/...),
the technicians' workspace (/desk/...) and the CLI (`flask mail ingest`, `flask outbox send`).
Results are read from the tables (portal.models) and the outbox. No test imports the ticket
services, so these tests hold whichever module the services live in.

Time: the services read the real clock, so a test that needs time to have passed moves a
timestamp on the row (a pause that began three hours ago, a ticket resolved eight days ago) and
brackets the request with the clock read before and after it.
"""

from __future__ import annotations

import asyncio
import email
import html
import re
import secrets
import socket
from datetime import UTC, datetime, timedelta
from email import policy

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from portal.extensions import db
from portal.mail.tag import ticket_tag
from portal.models import (
    Message,
    OutboxMessage,
    Role,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketStatus,
    User,
)

from .conftest import PASSWORD

HX = {"HX-Request": "true"}
STATUSES = ["new", "open", "pending", "resolved", "closed"]
#: The moves a technician may make; every other (old, new) pair is refused.
ALLOWED = {("new", "open"), ("new", "pending"), ("new", "resolved"), ("new", "closed"),
           ("open", "pending"), ("open", "resolved"), ("open", "closed"),
           ("pending", "open"), ("pending", "resolved"), ("pending", "closed"),
           ("resolved", "open"), ("resolved", "closed"),
           ("closed", "open")}


# -- helpers: people, tickets, rows ---------------------------------------------------------------


def tag(app, number: int) -> str:
    """The ticket's tag in the subject of its notifications: #1001-xxxxxx (number and reply code)."""
    return ticket_tag(number, app.secret_key)


def now() -> datetime:
    return datetime.now(UTC)


def add_user(app, role: str = "technician", email: str | None = None, name: str = "", active: bool = True) -> int:
    """A user row with the test password; returns its id."""
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(User))
        user = User(email=email or f"{role}{count + 1}@example.com", name=name or f"{role.title()} {count + 1}",
                    role=Role(role), active=active)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        return user.id


def signed_in(app, email: str):
    """A fresh browser signed in as `email` through the real form."""
    client = app.test_client()
    response = client.post("/signin", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


def technician(app, name: str = "Tess Tech", email: str = "tess@example.com", role: str = "technician"):
    """(id, signed-in client) of a new technician."""
    user_id = add_user(app, role=role, email=email, name=name)
    return user_id, signed_in(app, email)


def open_by_contact(app, name: str = "Ann Lee", email: str = "ann@example.com", subject: str = "Fan is loud",
                    key: str | None = None, client=None) -> tuple[int, str]:
    """An anonymous requester uses Contact the help desk: (ticket number, their signed ticket link)."""
    client = client or app.test_client()
    response = client.post("/contact", data={"name": name, "email": email, "subject": subject,
                                             "description": "Since this morning.", "key": key or new_key()})
    assert response.status_code == 303, response.get_data(as_text=True)
    link = response.headers["Location"].replace("&new=1", "").replace("?new=1", "")
    return int(re.search(r"/tickets/(\d+)", link).group(1)), link


def new_key() -> str:
    return secrets.token_urlsafe(12)


def get(number: int) -> Ticket:
    """The ticket shown as `number` (inside an app context)."""
    ticket = db.session.get(Ticket, Ticket.id_from_number(number))
    assert ticket is not None, f"no ticket #{number}"
    return ticket


def update(app, number: int, **fields) -> None:
    """Set columns on a ticket's row directly (how these tests move time)."""
    with app.app_context():
        ticket = get(number)
        for name, value in fields.items():
            setattr(ticket, name, value)
        db.session.commit()


def snapshot(app, number: int) -> dict:
    """The ticket's columns as a dict (safe to use after the app context closes)."""
    with app.app_context():
        ticket = get(number)
        return {c.key: getattr(ticket, c.key) for c in sa.inspect(Ticket).mapper.column_attrs}


def messages(app, number: int) -> list[dict]:
    """The ticket's messages, oldest first, as dicts."""
    with app.app_context():
        rows = db.session.scalars(sa.select(Message).where(Message.ticket_id == Ticket.id_from_number(number))
                                  .order_by(Message.id)).all()
        return [{"body": m.body, "internal": m.internal, "from_requester": m.from_requester,
                 "author_id": m.author_id, "author_name": m.author_name} for m in rows]


def events(app, number: int) -> list[tuple]:
    """The ticket's timeline as (kind, old, new), oldest first."""
    with app.app_context():
        rows = db.session.execute(sa.select(TicketEvent.kind, TicketEvent.old, TicketEvent.new)
                                  .where(TicketEvent.ticket_id == Ticket.id_from_number(number))
                                  .order_by(TicketEvent.id)).all()
        return [(kind.value, old, new) for kind, old, new in rows]


def outbox(app) -> list[dict]:
    """Every queued email, oldest first."""
    with app.app_context():
        rows = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
        return [{"kind": r.kind, "to": r.to_address, "subject": r.subject, "text": r.body_text, "html": r.body_html,
                 "ticket": r.ticket_id + 1000 if r.ticket_id else None} for r in rows]


def sent(app, since: int = 0) -> list[tuple]:
    """(kind, recipient) of the emails queued after the first `since`."""
    return [(m["kind"], m["to"]) for m in outbox(app)[since:]]


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def act(client, number: int, action: str, **form) -> str:
    """A workspace action as htmx sends it; the re-rendered ticket panel, unescaped."""
    response = client.post(f"/desk/tickets/{number}/{action}", data=form, headers=HX)
    assert response.status_code == 200, response.get_data(as_text=True)
    return html.unescape(response.get_data(as_text=True))


def reply_as_requester(app, link: str, body: str, key: str | None = None):
    """The requester answers on their ticket page (through the signed link, not signed in)."""
    path, _, query = link.partition("?")
    response = app.test_client().post(f"{path}/reply?{query}", data={"body": body, "key": key or new_key()})
    assert response.status_code == 303, response.get_data(as_text=True)
    return response


def page(app, link: str) -> str:
    """The requester's ticket page, unescaped."""
    response = app.test_client().get(link)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def seconds(delta: timedelta) -> int:
    return int(delta.total_seconds())


# -- messages: replies, notes and who sees them ---------------------------------------------------


def test_a_technicians_reply_is_public_staff_text_and_a_note_stays_internal(any_app):
    app = any_app
    tech_id, tech = technician(app)
    number, link = open_by_contact(app)
    act(tech, number, "reply", body="Please restart the laptop.", kind="reply", key="r1")
    act(tech, number, "reply", body="SMART errors on the disk: order a new one.", kind="note", key="n1")
    reply_as_requester(app, link, "Restarted, still loud.")

    assert messages(app, number) == [
        {"body": "Please restart the laptop.", "internal": False, "from_requester": False, "author_id": tech_id,
         "author_name": "Tess Tech"},
        {"body": "SMART errors on the disk: order a new one.", "internal": True, "from_requester": False,
         "author_id": tech_id, "author_name": "Tess Tech"},
        {"body": "Restarted, still loud.", "internal": False, "from_requester": True, "author_id": None,
         "author_name": "Ann Lee"},
    ]
    requester_view = page(app, link)
    assert re.search(r"<strong[^>]*>Tess Tech</strong> \(help desk\)[^<]*</div>\s*"
                     r'<p class="pre-line[^"]*"[^>]*>Please restart the laptop.</p>', requester_view)
    assert re.search(r"<strong[^>]*>Ann Lee</strong> ·[^<]*</div>\s*"
                     r'<p class="pre-line[^"]*"[^>]*>Restarted, still loud.</p>',
                     requester_view)  # the requester's own words carry no "(help desk)"
    assert "SMART errors" not in requester_view
    desk_view = html.unescape(tech.get(f"/desk/tickets/{number}").get_data(as_text=True))
    assert re.search(r"internal note \(not shown to the requester\)[^<]*</div>\s*"
                     r'<p class="pre-line[^"]*"[^>]*>SMART errors', desk_view)
    assert re.search(r'public reply[^<]*</div>\s*<p class="pre-line[^"]*"[^>]*>Please restart', desk_view)
    # Only the reply is emailed, to the requester; the note goes nowhere.
    mails = outbox(app)
    assert [(m["kind"], m["to"]) for m in mails] == [("opened", "ann@example.com"), ("reply", "ann@example.com")]
    assert "Please restart the laptop." in mails[1]["text"] and "Please restart the laptop." in mails[1]["html"]
    assert not any("SMART errors" in m["text"] or "SMART errors" in m["html"] for m in mails)


def test_a_note_neither_counts_as_the_first_response_nor_opens_a_new_ticket(app):
    _, tech = technician(app)
    number, _ = open_by_contact(app)
    act(tech, number, "reply", body="Checking the logs first.", kind="note", key="n1")
    row = snapshot(app, number)
    assert row["status"] == TicketStatus.NEW and row["first_response_at"] is None
    before = now()
    act(tech, number, "reply", body="Which laptop model is it?", kind="reply", key="r1")
    row = snapshot(app, number)
    assert row["status"] == TicketStatus.OPEN and before <= row["first_response_at"] <= now()
    first = row["first_response_at"]
    act(tech, number, "reply", body="Any news?", kind="reply", key="r2")
    assert snapshot(app, number)["first_response_at"] == first  # the first response stays the first


def test_an_empty_reply_is_refused_and_nothing_is_stored(app):
    _, tech = technician(app)
    number, _ = open_by_contact(app)
    panel = act(tech, number, "reply", body="   ", kind="reply", key="e1")
    assert 'id="reply-error">Write the message first.' in panel
    assert messages(app, number) == [] and sent(app, 1) == []


def test_a_requester_cannot_use_the_workspace(app):
    requester_id = add_user(app, role="requester", email="ann@example.com", name="Ann Lee")
    number, _ = open_by_contact(app)
    client = signed_in(app, "ann@example.com")
    for action, form in [("claim", {}), ("status", {"status": "closed"}), ("priority", {"priority": "urgent"}),
                         ("queue", {"queue": "x"}), ("reply", {"body": "hi", "kind": "note", "key": "k"}),
                         ("assign", {"assignee": str(requester_id)})]:
        response = client.post(f"/desk/tickets/{number}/{action}", data=form)
        assert response.status_code == 403, action
    row = snapshot(app, number)
    assert (row["status"], row["assignee_id"], row["priority"].value, row["queue"]) == (
        TicketStatus.NEW, None, "normal", "general")
    assert messages(app, number) == []


# -- the note a merge writes ----------------------------------------------------------------------


class Sink:
    """An SMTP server on loopback that keeps every message it is given."""

    def __init__(self):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.received: list = []
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        self.received.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content,
                                                                                policy=policy.default)))
        await asyncio.sleep(0)
        return "250 OK"


@pytest.fixture
def smtp_sink():
    sink = Sink()
    sink.controller.start()
    yield sink
    sink.controller.stop()


def email_ticket(app, sender: str, subject: str, body: str = "It broke.") -> int:
    """`flask mail ingest` with a new message from `sender`; the ticket number it opened."""
    raw = (f"From: {sender}\r\nTo: helpdesk@example.com\r\nSubject: {subject}\r\n"
           f"Message-ID: <{new_key()}@example.net>\r\n\r\n{body}\r\n").encode()
    with app.app_context():  # as in its own process (see test_ticket_intake.ingest)
        result = app.test_cli_runner().invoke(args=["mail", "ingest"], input=raw)
    assert result.exit_code == 0, result.output
    return int(re.search(r"opened ticket #(\d+)", result.output).group(1))


@pytest.mark.parametrize("via", ["contact form", "email without a name"])
def test_the_note_a_merge_writes_names_the_other_requester_and_stays_internal(any_app, via, smtp_sink):
    app = any_app
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_sink.port, MAIL_FROM="helpdesk@example.com",
                      MAIL_TIMEOUT=5)
    tech_id, tech = technician(app)
    kept, kept_link = open_by_contact(app, subject="Printer jammed")
    if via == "contact form":
        duplicate, _ = open_by_contact(app, name="Bo Berg", email="bo@example.com",
                                       subject="2nd floor printer broken")
        named = "Bo Berg"
    else:
        duplicate = email_ticket(app, "bo@example.com", "2nd floor printer broken")
        named = "bo@example.com"
    before = len(outbox(app))

    response = tech.post(f"/desk/tickets/{duplicate}/merge", data={"into": f"#{kept}", "confirm": "yes"})
    assert response.status_code == 303 and response.headers["Location"] == f"/desk/tickets/{kept}"

    (note,) = [m for m in messages(app, kept) if "was merged into this ticket" in m["body"]]
    with app.app_context():
        described = db.session.get(Ticket, Ticket.id_from_number(duplicate)).description
    assert note == {"body": f"#{duplicate} (2nd floor printer broken) from {named} was merged into this ticket."
                            f" Its description:\n\n{described}",
                    "internal": True, "from_requester": False, "author_id": tech_id, "author_name": "Tess Tech"}
    assert "internal note (not shown to the requester)" in html.unescape(
        tech.get(f"/desk/tickets/{kept}").get_data(as_text=True))
    requester_view = page(app, kept_link)
    for secret in (named, "bo@example.com", "was merged into this ticket", "2nd floor printer broken"):
        assert secret not in requester_view
    assert "No replies yet." in requester_view
    # The duplicate's requester is told where the conversation went on; the kept ticket's requester hears nothing.
    assert sent(app, before) == [("merged", "bo@example.com")]
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["outbox", "send"])
    assert result.exit_code == 0 and result.output.strip() == f"sent {len(outbox(app))}, failed 0"
    delivered = [(to, message.get_body(("plain",)).get_content() + message.get_body(("html",)).get_content())
                 for to, message in smtp_sink.received]
    assert sorted(to for (to,), _ in delivered) == ["ann@example.com", "bo@example.com", "bo@example.com"]
    for (to,), body in delivered:
        assert "was merged into this ticket" not in body
        if to == "ann@example.com":
            assert "bo@example.com" not in body and "Bo Berg" not in body


def test_merge_moves_the_messages_closes_the_duplicate_and_resumes_its_clock(any_app):
    app = any_app
    _, tech = technician(app)
    kept, _ = open_by_contact(app, subject="Printer jammed")
    duplicate, duplicate_link = open_by_contact(app, name="Bo Berg", email="bo@example.com", subject="Printer")
    reply_as_requester(app, duplicate_link, "It's making a noise too.")
    act(tech, duplicate, "status", status="pending")
    paused_at = now() - timedelta(hours=2)
    update(app, duplicate, paused_at=paused_at)
    due = snapshot(app, duplicate)["resolution_due_at"]
    before = now()
    tech.post(f"/desk/tickets/{duplicate}/merge", data={"into": f"#{kept}", "confirm": "yes"})
    after = now()
    row = snapshot(app, duplicate)
    assert row["status"] == TicketStatus.CLOSED and row["merged_into_id"] == Ticket.id_from_number(kept)
    assert before <= row["closed_at"] <= after
    assert row["paused_at"] is None
    assert seconds(before - paused_at) <= row["paused_seconds"] <= seconds(after - paused_at) + 1
    assert due + (before - paused_at) <= row["resolution_due_at"] <= due + (after - paused_at)
    assert messages(app, duplicate) == []
    assert [m["body"] for m in messages(app, kept) if m["from_requester"]] == ["It's making a noise too."]
    assert ("merged", f"#{duplicate}", f"#{kept}") in events(app, kept)
    assert events(app, duplicate)[-2:] == [("merged", f"#{duplicate}", f"#{kept}"), ("status", "pending", "closed")]


def test_merging_a_closed_duplicate_keeps_its_closing_time(app):
    _, tech = technician(app)
    kept, _ = open_by_contact(app)
    duplicate, _ = open_by_contact(app, name="Bo Berg", email="bo@example.com")
    act(tech, duplicate, "status", status="closed")
    closed_at = now() - timedelta(days=3)
    update(app, duplicate, closed_at=closed_at)
    tech.post(f"/desk/tickets/{duplicate}/merge", data={"into": f"#{kept}", "confirm": "yes"})
    row = snapshot(app, duplicate)
    assert row["closed_at"] == closed_at and row["merged_into_id"] is not None
    assert events(app, duplicate)[-1] == ("merged", f"#{duplicate}", f"#{kept}")  # no status line: it was closed


def test_merges_that_cannot_be_are_refused_under_the_field(any_app):
    app = any_app
    _, tech = technician(app)
    a, _ = open_by_contact(app)
    b, _ = open_by_contact(app, name="Bo Berg", email="bo@example.com")
    c, _ = open_by_contact(app, name="Cy Ng", email="cy@example.com")
    panel = act(tech, a, "merge", into=f"#{a}")
    assert 'id="merge-error">A ticket can\'t be merged into itself.' in panel
    merged = tech.post(f"/desk/tickets/{b}/merge", data={"into": str(a), "confirm": "yes"})
    assert merged.status_code == 303  # b is now merged
    before = len(outbox(app))
    panel = act(tech, c, "merge", into=f"#{b}")
    assert f'id="merge-error">#{b} was itself merged into another ticket; merge into that one.' in panel
    panel = act(tech, b, "merge", into=f"#{c}")
    assert f'id="merge-error">#{b} is already merged.' in panel
    assert sent(app, before) == []
    assert snapshot(app, c)["merged_into_id"] is None and snapshot(app, c)["status"] == TicketStatus.NEW
    assert snapshot(app, b)["merged_into_id"] == Ticket.id_from_number(a)
    assert [e for e in events(app, c) if e[0] == "merged"] == []


# -- the requester's reply and the 7-day rule -----------------------------------------------------


@pytest.mark.parametrize(("resolved_ago", "reopens"), [
    (timedelta(days=6, hours=23, minutes=50), True),
    (timedelta(days=7, minutes=10), False),
    (timedelta(days=30), False),
])
def test_a_requesters_reply_reopens_a_resolved_ticket_within_seven_days_only(any_app, resolved_ago, reopens):
    app = any_app
    _, tech = technician(app)
    number, link = open_by_contact(app)
    act(tech, number, "claim")
    act(tech, number, "status", status="resolved")
    resolved_at = now() - resolved_ago
    update(app, number, resolved_at=resolved_at)
    assert ("Reopen this ticket" in page(app, link)) is reopens
    before = len(outbox(app))

    reply_as_requester(app, link, "It's loud again.")

    row = snapshot(app, number)
    assert messages(app, number)[-1]["body"] == "It's loud again."  # kept either way
    assert sent(app, before) == [("requester-reply", "tess@example.com")]  # the assignee hears either way
    if reopens:
        assert row["status"] == TicketStatus.OPEN and row["resolved_at"] is None
        assert events(app, number)[-1] == ("reopened", "resolved", "open")
    else:
        assert row["status"] == TicketStatus.RESOLVED and row["resolved_at"] == resolved_at
        assert events(app, number)[-1][0] == "reply"


@pytest.mark.parametrize(("status", "after"), [("new", "new"), ("open", "open"), ("pending", "open")])
# A reply to a closed ticket opens a follow-up instead: tests/test_requester_actions.py
def test_a_requesters_reply_moves_only_a_pending_ticket(app, status, after):
    _, tech = technician(app)
    number, link = open_by_contact(app)
    if status != "new":
        act(tech, number, "status", status=status)
    reply_as_requester(app, link, "Any news?")
    assert snapshot(app, number)["status"] == TicketStatus(after)
    assert messages(app, number)[-1] == {"body": "Any news?", "internal": False, "from_requester": True,
                                         "author_id": None, "author_name": "Ann Lee"}


def test_the_reopen_button_is_refused_after_seven_days(app):
    _, tech = technician(app)
    number, link = open_by_contact(app)
    act(tech, number, "status", status="resolved")
    update(app, number, resolved_at=now() - timedelta(days=8))
    path, _, query = link.partition("?")
    client = app.test_client()
    response = client.post(f"{path}/reopen?{query}")
    assert response.status_code == 303
    assert "This ticket can no longer be reopened; please open a new one." in html.unescape(
        client.get(response.headers["Location"]).get_data(as_text=True))
    assert snapshot(app, number)["status"] == TicketStatus.RESOLVED

    update(app, number, resolved_at=now() - timedelta(days=6))
    response = client.post(f"{path}/reopen?{query}")
    assert f"Ticket #{number} is open again." in html.unescape(
        client.get(response.headers["Location"]).get_data(as_text=True))
    assert snapshot(app, number)["status"] == TicketStatus.OPEN
    assert events(app, number)[-1] == ("reopened", "resolved", "open")


def test_the_resolved_email_carries_a_reopen_link_that_honours_the_seven_days(app):
    _, tech = technician(app)
    number, _ = open_by_contact(app)
    act(tech, number, "status", status="resolved")
    mail = outbox(app)[-1]
    assert (mail["kind"], mail["to"]) == ("resolved", "ann@example.com") and f"[{tag(app, number)}]" in mail["subject"]
    reopen = re.search(r"http://localhost(?::\d+)?(/tickets/\d+/reopen/\S+)", mail["text"]).group(1)

    stranger = app.test_client()
    assert stranger.get(reopen).status_code == 200  # a page that asks; opening the link changes nothing
    assert snapshot(app, number)["status"] == TicketStatus.RESOLVED
    assert stranger.post(reopen).status_code == 200
    assert snapshot(app, number)["status"] == TicketStatus.OPEN
    assert events(app, number)[-1] == ("reopened", "resolved", "open")
    assert stranger.post(reopen).status_code == 410  # single use
    forged = reopen.rsplit("/", 1)[0] + "/forged"
    assert stranger.get(forged).status_code == 410

    act(tech, number, "status", status="resolved")
    second = re.search(r"http://localhost(?::\d+)?(/tickets/\d+/reopen/\S+)", outbox(app)[-1]["text"]).group(1)
    assert stranger.get(reopen).status_code == 410  # the first resolution's link stays dead
    update(app, number, resolved_at=now() - timedelta(days=7, minutes=5))
    assert stranger.post(second).status_code == 410  # bound to the resolution it was sent for
    assert snapshot(app, number)["status"] == TicketStatus.RESOLVED


# -- status transitions ---------------------------------------------------------------------------


def at_status(app, tech, status: str) -> int:
    """A new ticket moved to `status` through the workspace."""
    number, _ = open_by_contact(app)
    if status != "new":
        act(tech, number, "status", status=status)
    assert snapshot(app, number)["status"] == TicketStatus(status)
    return number


@pytest.mark.parametrize("old", STATUSES)
def test_every_status_move_is_allowed_or_refused_with_a_reason(app, old):
    _, tech = technician(app)
    for new in STATUSES:
        number = at_status(app, tech, old)
        timeline = events(app, number)
        panel = act(tech, number, "status", status=new)
        if (old, new) in ALLOWED:
            assert snapshot(app, number)["status"] == TicketStatus(new), (old, new)
            reopened = new == "open" and old in ("resolved", "closed")
            expected = ("reopened", old, new) if reopened else ("status", old, new)
            assert events(app, number)[len(timeline):] == [expected], (old, new)
            assert (f"reopened it ({old} → {new})" if reopened else f"changed status from {old} to {new}") in panel
        else:
            reason = f"The ticket is already {new}." if old == new else f"A {old} ticket can't be set to {new}."
            assert f'role="alert">{reason}</p>' in panel, (old, new)
            assert snapshot(app, number)["status"] == TicketStatus(old), (old, new)
            assert events(app, number) == timeline, (old, new)


@pytest.mark.parametrize("old", STATUSES)
def test_the_ticket_page_offers_exactly_the_allowed_moves(app, old):
    _, tech = technician(app)
    number = at_status(app, tech, old)
    view = html.unescape(tech.get(f"/desk/tickets/{number}").get_data(as_text=True))
    offered = re.findall(r'name="status" value="(\w+)" class="secondary">([^<]+)</button>', view)
    allowed = [s for s in STATUSES if (old, s) in ALLOWED]
    assert [value for value, _ in offered] == allowed
    for value, label in offered:
        assert label == ("Reopen" if value == "open" and old in ("resolved", "closed") else f"Mark {value}")


def test_a_plain_browser_sees_a_refused_move_as_a_message_after_the_redirect(app):
    _, tech = technician(app)
    number = at_status(app, tech, "closed")
    response = tech.post(f"/desk/tickets/{number}/status", data={"status": "resolved"})
    assert response.status_code == 303 and response.headers["Location"] == f"/desk/tickets/{number}"
    assert "A closed ticket can't be set to resolved." in html.unescape(
        tech.get(f"/desk/tickets/{number}").get_data(as_text=True))
    assert "Choose a status." in act(tech, number, "status", status="archived")


def test_resolving_closing_and_reopening_stamp_and_clear_their_times(any_app):
    app = any_app
    _, tech = technician(app)
    number, _ = open_by_contact(app)
    before = now()
    act(tech, number, "status", status="resolved")
    row = snapshot(app, number)
    assert before <= row["resolved_at"] <= now() and row["closed_at"] is None
    act(tech, number, "status", status="closed")
    row = snapshot(app, number)
    assert before <= row["closed_at"] <= now() and row["resolved_at"] is not None
    act(tech, number, "status", status="open")
    row = snapshot(app, number)
    assert row["resolved_at"] is None and row["closed_at"] is None
    assert [e for e in events(app, number) if e[0] != "created"] == [
        ("status", "new", "resolved"), ("status", "resolved", "closed"), ("reopened", "closed", "open")]


# -- SLA: due times, the pending pause ------------------------------------------------------------


@pytest.mark.parametrize(("priority", "response_h", "resolution_h"),
                         [("urgent", 1, 4), ("high", 4, 24), ("normal", 24, 72), ("low", 72, 240)])
def test_priority_sets_the_due_times_from_when_the_ticket_was_opened(app, priority, response_h, resolution_h):
    _, tech = technician(app)
    number, _ = open_by_contact(app)
    row = snapshot(app, number)
    opened = row["created_at"]
    assert (row["response_due_at"], row["resolution_due_at"]) == (opened + timedelta(hours=24),
                                                                  opened + timedelta(hours=72))
    panel = act(tech, number, "priority", priority=priority)
    row = snapshot(app, number)
    if priority == "normal":
        assert 'role="alert">The priority is already normal.</p>' in panel
    else:
        assert f"changed priority from normal to {priority}" in panel and row["priority"].value == priority
    assert row["response_due_at"] == opened + timedelta(hours=response_h)
    assert row["resolution_due_at"] == opened + timedelta(hours=resolution_h)


def test_only_pending_pauses_the_resolution_clock(any_app):
    app = any_app
    _, tech = technician(app)
    for old in ("new", "open"):
        for new in ("open", "pending", "resolved", "closed"):
            if (old, new) not in ALLOWED:
                continue
            number = at_status(app, tech, old)
            due = snapshot(app, number)["resolution_due_at"]
            before = now()
            act(tech, number, "status", status=new)
            after = now()
            row = snapshot(app, number)
            if new == "pending":
                assert row["paused_at"] is not None and before <= row["paused_at"] <= after, (old, new)
            else:
                assert row["paused_at"] is None, (old, new)
            assert (row["resolution_due_at"], row["paused_seconds"]) == (due, 0), (old, new)


@pytest.mark.parametrize("leave", ["open", "resolved", "closed", "requester replies"])
def test_leaving_pending_adds_the_wait_to_the_resolution_due_time(any_app, leave):
    app = any_app
    _, tech = technician(app)
    number, link = open_by_contact(app)
    act(tech, number, "status", status="pending")
    due = snapshot(app, number)["resolution_due_at"]
    response_due = snapshot(app, number)["response_due_at"]
    paused_at = now() - timedelta(hours=3)
    update(app, number, paused_at=paused_at)
    before = now()
    if leave == "requester replies":
        reply_as_requester(app, link, "Here's the photo.")
    else:
        act(tech, number, "status", status=leave)
    after = now()
    row = snapshot(app, number)
    assert row["status"] == TicketStatus("open" if leave == "requester replies" else leave)
    assert row["paused_at"] is None
    assert seconds(before - paused_at) <= row["paused_seconds"] <= seconds(after - paused_at)
    assert due + (before - paused_at) <= row["resolution_due_at"] <= due + (after - paused_at)
    assert row["response_due_at"] == response_due  # only the resolution clock pauses


def test_repeated_pauses_add_up(any_app):
    app = any_app
    _, tech = technician(app)
    number, link = open_by_contact(app)
    row = snapshot(app, number)
    opened, due = row["created_at"], row["resolution_due_at"]
    waits = []
    for hours, leave in ((2, "open"), (3, "requester replies")):
        act(tech, number, "status", status="pending")
        paused_at = now() - timedelta(hours=hours)
        update(app, number, paused_at=paused_at)
        before = now()
        if leave == "open":
            act(tech, number, "status", status="open")
        else:
            reply_as_requester(app, link, "Back at my desk.")
        waits.append((before - paused_at, now() - paused_at))
    row = snapshot(app, number)
    shortest, longest = sum((lo for lo, _ in waits), timedelta()), sum((hi for _, hi in waits), timedelta())
    assert timedelta(hours=5) <= shortest
    assert seconds(shortest) - 1 <= row["paused_seconds"] <= seconds(longest)
    assert due + shortest <= row["resolution_due_at"] <= due + longest
    assert row["paused_at"] is None and row["status"] == TicketStatus.OPEN
    # A priority change recomputes from the opening time and keeps the waits.
    act(tech, number, "priority", priority="urgent")
    row = snapshot(app, number)
    assert row["response_due_at"] == opened + timedelta(hours=1)
    assert row["resolution_due_at"] == opened + timedelta(hours=4, seconds=row["paused_seconds"])


def test_a_priority_change_while_pending_keeps_the_pause_running(app):
    _, tech = technician(app)
    number, _ = open_by_contact(app)
    act(tech, number, "status", status="pending")
    paused_at = snapshot(app, number)["paused_at"]
    act(tech, number, "priority", priority="high")
    row = snapshot(app, number)
    assert row["paused_at"] == paused_at and row["status"] == TicketStatus.PENDING
    assert row["resolution_due_at"] == row["created_at"] + timedelta(hours=24)


# -- assigning, queues, links ---------------------------------------------------------------------


def test_only_active_technicians_can_be_assigned(any_app):
    app = any_app
    _, tech = technician(app)
    gone = add_user(app, email="gone@example.com", name="Gone Tech", active=False)
    requester = add_user(app, role="requester", email="rita@example.com", name="Rita")
    number, _ = open_by_contact(app)
    before = len(outbox(app))
    for assignee in (gone, requester):
        panel = act(tech, number, "assign", assignee=str(assignee))
        assert 'role="alert">Tickets can only be assigned to active technicians.</p>' in panel
    assert 'role="alert">Choose a technician from the list.</p>' in act(tech, number, "assign", assignee="99999")
    row = snapshot(app, number)
    assert row["assignee_id"] is None and row["status"] == TicketStatus.NEW
    assert sent(app, before) == [] and [e for e in events(app, number) if e[0] == "assigned"] == []
    view = tech.get(f"/desk/tickets/{number}").get_data(as_text=True)
    assert "Gone Tech" not in view and "Tess Tech" in view  # the inactive one is not even offered


def test_assigning_opens_a_new_ticket_and_tells_the_technician_unless_they_took_it(any_app):
    app = any_app
    tess_id, tess = technician(app)
    tom_id = add_user(app, email="tom@example.com", name="Tom Tech")
    admin_id = add_user(app, role="admin", email="ada@example.com", name="Ada Admin")
    number, _ = open_by_contact(app)
    start = len(outbox(app))

    assert "assigned it to Tess Tech" in act(tess, number, "claim")
    row = snapshot(app, number)
    assert (row["assignee_id"], row["status"]) == (tess_id, TicketStatus.OPEN)
    assert sent(app, start) == []  # she took it herself
    assert events(app, number)[1:] == [("assigned", "nobody", "Tess Tech"), ("status", "new", "open")]

    act(tess, number, "assign", assignee=str(tom_id))
    assert snapshot(app, number)["assignee_id"] == tom_id
    assert sent(app, start) == [("assigned", "tom@example.com")]
    assert f"[{tag(app, number)}] Assigned to you" in outbox(app)[-1]["subject"]
    assert 'role="alert">The ticket is already assigned to Tom Tech.</p>' in act(
        tess, number, "assign", assignee=str(tom_id))
    act(tess, number, "assign", assignee=str(admin_id))  # admins are technicians too
    assert snapshot(app, number)["assignee_id"] == admin_id
    act(tess, number, "assign", assignee="")
    row = snapshot(app, number)
    assert (row["assignee_id"], row["status"]) == (None, TicketStatus.OPEN)
    assert events(app, number)[-1] == ("assigned", "Ada Admin", "nobody")
    assert 'role="alert">The ticket is already assigned to nobody.</p>' in act(tess, number, "assign", assignee="")
    assert sent(app, start) == [("assigned", "tom@example.com"), ("assigned", "ada@example.com")]


def test_setting_the_queue(app):
    _, tech = technician(app)
    number, _ = open_by_contact(app)
    assert "changed queue from general to hardware" in act(tech, number, "queue", queue="  hardware ")
    assert snapshot(app, number)["queue"] == "hardware"
    assert 'role="alert">The ticket is already in hardware.</p>' in act(tech, number, "queue", queue="hardware")
    assert 'role="alert">Choose a queue.</p>' in act(tech, number, "queue", queue="  ")
    assert snapshot(app, number)["queue"] == "hardware"
    assert [e for e in events(app, number) if e[0] == "queue"] == [("queue", "general", "hardware")]
    act(tech, number, "queue", queue="x" * 80)
    assert snapshot(app, number)["queue"] == "x" * 60
    assert sent(app, 1) == []


def test_linking_twice_or_to_itself_is_refused(any_app):
    app = any_app
    _, tech = technician(app)
    a, _ = open_by_contact(app, subject="Wi-Fi drops on floor 3")
    b, _ = open_by_contact(app, name="Bo Berg", email="bo@example.com", subject="No Wi-Fi in room 301")
    assert f"linked #{b}" in act(tech, a, "link", other=f"#{b}")
    assert f'id="link-error">#{b} and #{a} are already linked.' in act(tech, b, "link", other=f"#{a}")
    assert f'id="link-error">#{a} and #{b} are already linked.' in act(tech, a, "link", other=str(b))
    assert 'id="link-error">A ticket can\'t be linked to itself.' in act(tech, a, "link", other=f"#{a}")
    assert count(app, TicketLink) == 1
    assert events(app, a)[-1] == ("linked", None, f"#{b}") and events(app, b)[-1] == ("linked", None, f"#{a}")
    view_a = html.unescape(tech.get(f"/desk/tickets/{a}").get_data(as_text=True))
    view_b = html.unescape(tech.get(f"/desk/tickets/{b}").get_data(as_text=True))
    assert f"#{b} No Wi-Fi in room 301</a>" in view_a and f"#{a} Wi-Fi drops on floor 3</a>" in view_b
    assert sent(app, 2) == []


# -- which emails each action queues --------------------------------------------------------------


def test_the_emails_each_action_queues(any_app):
    app = any_app
    _, tess = technician(app)
    tom_id = add_user(app, email="tom@example.com", name="Tom Tech")
    number, link = open_by_contact(app)
    other, other_link = open_by_contact(app, name="Bo Berg", email="bo@example.com")
    assert sent(app) == [("opened", "ann@example.com"), ("opened", "bo@example.com")]
    opened = outbox(app)[0]
    assert f"[{tag(app, number)}] We've received your request: Fan is loud" == opened["subject"]
    assert "Hello Ann Lee" in opened["text"] and link in opened["text"].replace("&amp;", "&")

    steps = [
        ("requester replies, nobody assigned", lambda: reply_as_requester(app, link, "Any news?"), []),
        ("claim", lambda: act(tess, number, "claim"), []),
        ("assign to Tom", lambda: act(tess, number, "assign", assignee=str(tom_id)),
         [("assigned", "tom@example.com")]),
        ("note", lambda: act(tess, number, "reply", body="Fan bearing.", kind="note", key="n"), []),
        ("reply", lambda: act(tess, number, "reply", body="A new fan is on its way.", kind="reply", key="r"),
         [("reply", "ann@example.com")]),
        ("priority", lambda: act(tess, number, "priority", priority="high"), []),
        ("queue", lambda: act(tess, number, "queue", queue="hardware"), []),
        ("pending", lambda: act(tess, number, "status", status="pending"), []),
        ("requester replies to the assignee", lambda: reply_as_requester(app, link, "Thanks!"),
         [("requester-reply", "tom@example.com")]),
        ("link", lambda: act(tess, number, "link", other=f"#{other}"), []),
        ("resolve", lambda: act(tess, number, "status", status="resolved"), [("resolved", "ann@example.com")]),
        ("close", lambda: act(tess, number, "status", status="closed"), []),
        ("reopen", lambda: act(tess, number, "status", status="open"), []),
        ("merge Bo's into Ann's",
         lambda: tess.post(f"/desk/tickets/{other}/merge", data={"into": f"#{number}", "confirm": "yes"}),
         [("merged", "bo@example.com")]),
    ]
    for name, action, expected in steps:
        before = len(outbox(app))
        action()
        assert sent(app, before) == expected, name
    mails = {m["kind"]: m for m in outbox(app)}
    assert mails["reply"]["subject"] == f"Re: [{tag(app, number)}] Fan is loud"
    assert "A new fan is on its way." in mails["reply"]["text"]
    assert mails["requester-reply"]["subject"] == f"[{tag(app, number)}] Ann Lee replied: Fan is loud"
    assert "Thanks!" in mails["requester-reply"]["text"] and f"/desk/tickets/{number}" in mails["requester-reply"][
        "text"]
    assert mails["merged"]["subject"] == f"[{tag(app, other)}] Merged into #{number}: Fan is loud"
    assert mails["merged"]["ticket"] == other
    assert all(m["ticket"] == number for m in outbox(app) if m["kind"] in ("reply", "resolved", "requester-reply"))
    # An inactive assignee is not written to.
    update(app, number, assignee_id=tom_id)
    with app.app_context():
        db.session.get(User, tom_id).active = False
        db.session.commit()
    before = len(outbox(app))
    reply_as_requester(app, link, "Still there?")
    assert sent(app, before) == []
    assert other_link  # Bo's own link stays valid after the merge
    assert app.test_client().get(other_link).status_code == 200
