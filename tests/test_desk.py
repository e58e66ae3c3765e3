"""The technicians' workspace: status transitions, SLA arithmetic, actions, the queue, no N+1."""

import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal import clock as portal_clock
from portal.extensions import db
from portal.mail import notify
from portal.models import (
    EventKind,
    Message,
    OutboxMessage,
    Priority,
    Role,
    Ticket,
    TicketEvent,
    TicketSource,
    TicketStatus,
    User,
)
from portal.tickets import queries, services
from portal.tickets.services import ActionError

from .conftest import PASSWORD

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
HX = {"HX-Request": "true"}


class Clock:
    """Frozen time for the services: clock.now = ...; clock.advance(hours=2)."""

    def __init__(self, monkeypatch, at=T0):
        self.now = at
        monkeypatch.setattr(portal_clock, "now", lambda: self.now)

    def advance(self, **delta):
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def staff(role="technician", email=None, name="Tess Tech"):
    user = User(email=email or f"{role}{db.session.scalar(sa.select(sa.func.count()).select_from(User))}@example.com",
                name=name, role=Role(role))
    user.set_password(PASSWORD)
    db.session.add(user)
    db.session.commit()
    return user


def ticket_at(status=TicketStatus.NEW, priority=Priority.NORMAL, queue="general", created=T0, **kw):
    """A ticket opened through the service at `created`, then put straight into `status`."""
    ticket, _ = services.open_ticket(TicketSource.WEB, subject=kw.pop("subject", "Laptop is slow"), name="Ann",
                                     email=kw.pop("email", "ann@example.com"), priority=priority, queue=queue)
    ticket.created_at = created
    services.start_clock(ticket, created)
    ticket.status = status
    for name, value in kw.items():
        setattr(ticket, name, value)
    db.session.commit()
    return ticket


@pytest.mark.parametrize(("old", "new"), list(itertools.product(TicketStatus, TicketStatus)))
def test_every_status_transition_is_allowed_or_refused(app, clock, old, new):
    allowed = {("new", "open"), ("new", "pending"), ("new", "resolved"), ("new", "closed"),
               ("open", "pending"), ("open", "resolved"), ("open", "closed"),
               ("pending", "open"), ("pending", "resolved"), ("pending", "closed"),
               ("resolved", "open"), ("resolved", "closed"), ("closed", "open")}
    with app.app_context():
        tech = staff()
        ticket = ticket_at(status=old)
        if (old.value, new.value) in allowed:
            services.set_status(ticket, new, tech)
            assert ticket.status == new
            last = db.session.scalars(sa.select(TicketEvent).order_by(TicketEvent.id.desc())).first()
            assert (last.old, last.new) == (old.value, new.value)
        else:
            with pytest.raises(ActionError):
                services.set_status(ticket, new, tech)
            db.session.rollback()
            assert db.session.get(Ticket, ticket.id).status == old


def test_requesters_cannot_act(app, clock):
    with app.app_context():
        requester = staff(role="requester")
        ticket = ticket_at()
        for action in (lambda: services.claim(ticket, requester),
                       lambda: services.set_status(ticket, "open", requester),
                       lambda: services.staff_reply(ticket, requester, "hi", internal=True, request_key="x")):
            with pytest.raises(ActionError, match="Only technicians"):
                action()


@pytest.mark.parametrize(("priority", "response_h", "resolution_h"),
                         [("urgent", 1, 4), ("high", 4, 24), ("normal", 24, 72), ("low", 72, 240)])
def test_sla_due_times_from_priority(app, clock, priority, response_h, resolution_h):
    with app.app_context():
        ticket = ticket_at(priority=Priority(priority))
        assert ticket.response_due_at == T0 + timedelta(hours=response_h)
        assert ticket.resolution_due_at == T0 + timedelta(hours=resolution_h)


def test_sla_targets_come_from_configuration(tmp_path, clock):
    from .conftest import _build, make_config

    app = _build(make_config(tmp_path, SLA_TARGETS={"normal": (2, 8)}))
    with app.app_context():
        from portal.database import create_schema

        create_schema()
        ticket = ticket_at()
        assert ticket.resolution_due_at - T0 == timedelta(hours=8)


def test_pending_pauses_the_resolution_clock_and_first_reply_meets_response(app, clock):
    with app.app_context():
        tech = staff()
        ticket = ticket_at(priority=Priority.URGENT)  # resolution due at T0 + 4 h
        clock.advance(minutes=30)
        services.staff_reply(ticket, tech, "Can you send a photo?", internal=False, request_key="r1")
        assert ticket.first_response_at == T0 + timedelta(minutes=30) <= ticket.response_due_at
        assert ticket.status == TicketStatus.OPEN
        services.set_status(ticket, "pending", tech)
        clock.advance(hours=5)  # waiting for the user: not the help desk's time
        services.requester_reply(ticket, "Here it is", request_key="u1")
        assert ticket.status == TicketStatus.OPEN
        assert ticket.resolution_due_at == T0 + timedelta(hours=9)
        assert ticket.paused_seconds == 5 * 3600
        services.set_priority(ticket, "high", tech)  # 24 h target, the 5 h pause still counts
        assert ticket.resolution_due_at == T0 + timedelta(hours=29)


def test_internal_notes_are_not_emailed_and_replies_are(app, clock):
    with app.app_context():
        tech = staff()
        ticket = ticket_at()
        services.staff_reply(ticket, tech, "Looks like the disk", internal=True, request_key="n1")
        services.staff_reply(ticket, tech, "We'll swap your disk", internal=False, request_key="r1")
        services.staff_reply(ticket, tech, "We'll swap your disk", internal=False, request_key="r1")  # double click
        kinds = db.session.scalars(sa.select(OutboxMessage.kind).order_by(OutboxMessage.id)).all()
        assert kinds == ["opened", "reply"]
        mail = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == "reply")).one()
        assert "Looks like the disk" not in mail.body_text and "We'll swap your disk" in mail.body_text
        assert f"[{notify.tag(ticket)}]" in mail.subject and notify.tag(ticket).startswith(f"{ticket.label}-")
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 2


def test_assignment_tells_the_technician_unless_they_claimed_it(app, clock):
    with app.app_context():
        tess, tom = staff(name="Tess"), staff(name="Tom", email="tom@example.com")
        ticket = ticket_at()
        services.claim(ticket, tess)
        assert ticket.assignee_id == tess.id and ticket.status == TicketStatus.OPEN
        services.assign(ticket, tom, tess)
        assigned = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == "assigned")).all()
        assert [m.to_address for m in assigned] == ["tom@example.com"]
        with pytest.raises(ActionError, match="already assigned"):
            services.assign(ticket, tom, tess)


def test_resolving_sends_a_reopen_link_that_works_for_seven_days(app, client, clock, monkeypatch):
    with app.app_context():
        tech = staff()
        ticket = ticket_at()
        number = ticket.number
        with app.test_request_context():
            services.set_status(ticket, "resolved", tech)
        mail = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == "resolved")).one()
        link = re.search(r"(http://\S+/reopen/\S+)", mail.body_text).group(1)
    clock.advance(days=2)
    path = re.sub(r"^https?://[^/]+", "", link)
    confirm = client.get(path)  # a mail scanner opening the link changes nothing
    assert confirm.status_code == 200 and "Reopen the ticket" in confirm.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Ticket, Ticket.id_from_number(number)).status == TicketStatus.RESOLVED
    response = client.post(path)
    assert response.status_code == 200 and "is open again" in response.get_data(as_text=True)
    with app.app_context():
        ticket = db.session.get(Ticket, Ticket.id_from_number(number))
        assert ticket.status == TicketStatus.OPEN
        kinds = db.session.scalars(sa.select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id)).all()
        assert EventKind.REOPENED in kinds
        services.set_status(ticket, "resolved", db.session.get(User, tech.id))
    # Used once; and resolving again does not bring the old link back to life.
    assert client.get(path).status_code == 410
    assert client.post(path).status_code == 410


def test_a_reopen_link_expires(app, client, clock, monkeypatch):
    import itsdangerous.timed

    with app.app_context():
        tech = staff()
        ticket = ticket_at()
        with app.test_request_context():
            monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: 1_000_000_000)
            services.set_status(ticket, "resolved", tech)
            monkeypatch.undo()
            Clock(monkeypatch)  # keep the services' clock frozen after undo
        mail = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == "resolved")).one()
        link = re.search(r"(http://\S+/reopen/\S+)", mail.body_text).group(1)
    response = client.get(re.sub(r"^https?://[^/]+", "", link))
    assert response.status_code == 410 and "has expired" in response.get_data(as_text=True)


def test_merge_moves_messages_closes_the_duplicate_and_tells_its_requester(app, clock):
    with app.app_context():
        tech = staff()
        original = ticket_at(subject="Printer jammed")
        duplicate = ticket_at(subject="Printer on 2nd floor broken", email="bo@example.com")
        services.requester_reply(duplicate, "It's making a noise too", request_key="d1")
        services.merge(duplicate, original, tech)
        assert duplicate.status == TicketStatus.CLOSED and duplicate.merged_into_id == original.id
        bodies = [m.body for m in db.session.scalars(sa.select(Message).where(Message.ticket_id == original.id))]
        assert "It's making a noise too" in bodies
        assert any(duplicate.label in b for b in bodies)
        told = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == "merged")).one()
        assert told.to_address == "bo@example.com" and original.label in told.subject
        with pytest.raises(ActionError, match="already merged"):
            services.merge(duplicate, original, tech)


def test_link_related_tickets(app, clock):
    with app.app_context():
        tech = staff()
        a, b = ticket_at(), ticket_at()
        services.link(a, b, tech)
        assert [t.id for t in queries.linked(a)] == [b.id]
        with pytest.raises(ActionError, match="already linked"):
            services.link(b, a, tech)


class Signed:
    def __init__(self, user):
        self.id, self.email = user.id, user.email


def sign_in_staff(app, client, role="technician"):
    with app.app_context():
        user = Signed(staff(role=role, email=f"{role}@example.com"))
    client.post("/signin", data={"email": user.email, "password": PASSWORD})
    return user


def test_every_action_through_the_web_plain_and_htmx(app, client):
    sign_in_staff(app, client)
    client.post("/contact", data={"name": "Ann", "email": "ann@example.com", "subject": "Fan noise", "key": "c1"})
    url = "/desk/tickets/1001"
    assert client.post(url + "/claim").headers["Location"] == url
    page = client.get(url).get_data(as_text=True)
    assert "The ticket is yours." in page and "assigned it to Tess Tech" in page
    fragment = client.post(url + "/priority", data={"priority": "urgent"}, headers=HX)
    html = fragment.get_data(as_text=True)
    assert "<html" not in html and 'id="ticket-panel"' in html and "changed priority from normal to urgent" in html
    html = client.post(url + "/queue", data={"queue": "hardware"}, headers=HX).get_data(as_text=True)
    assert "changed queue from general to hardware" in html
    html = client.post(url + "/reply", data={"body": "Internal: check BIOS", "kind": "note", "key": "n1"},
                       headers=HX).get_data(as_text=True)
    assert "internal note (not shown to the requester)" in html
    html = client.post(url + "/status", data={"status": "closed"}, headers=HX).get_data(as_text=True)
    assert "changed status from open to closed" in html
    refused = client.post(url + "/status", data={"status": "pending"}, headers=HX).get_data(as_text=True)
    assert "A closed ticket can&#39;t be set to pending." in refused
    empty = client.post(url + "/reply", data={"body": " ", "kind": "reply", "key": "n2"}, headers=HX)
    assert 'id="reply-error">Write the message first.' in empty.get_data(as_text=True)
    plain = client.post(url + "/reply", data={"body": "  ", "kind": "reply", "key": "n3"})  # no JavaScript
    assert plain.status_code == 200 and 'id="reply-error">Write the message first.' in plain.get_data(as_text=True)
    with app.app_context():
        # The requester's page never shows the note.
        ticket = db.session.get(Ticket, 1)
        from portal.tickets.links import signed_ticket_url

        with app.test_request_context():
            link = signed_ticket_url(ticket)
    assert "check BIOS" not in app.test_client().get(link).get_data(as_text=True)


def test_queue_filters_sort_and_counts(app, client):
    tech = sign_in_staff(app, client)
    with app.app_context():
        now = datetime.now(UTC)
        a = ticket_at(subject="Overdue urgent", priority=Priority.URGENT, queue="network",
                      created=now - timedelta(hours=6))
        b = ticket_at(subject="Fresh low", priority=Priority.LOW, queue="hardware", created=now)
        c = ticket_at(subject="Assigned to me", queue="hardware", created=now - timedelta(hours=1))
        c.assignee_id = tech.id
        d = ticket_at(subject="Done already", status=TicketStatus.RESOLVED, created=now)
        db.session.commit()
        numbers = {t.subject: t.number for t in (a, b, c, d)}
    page = client.get("/desk/").get_data(as_text=True)
    order = [s for s in re.findall(r'<span class="ticket-label">#\d+</span> ([^<]+)</a>', page)]
    assert order == ["Overdue urgent", "Assigned to me", "Fresh low"]  # due first; resolved left out
    assert 'class="sla-overdue"' in page and "Overdue by" in page
    assert "3 tickets" in page
    assert "Assigned to me" in client.get("/desk/?assignee=mine").get_data(as_text=True)
    assert "Fresh low" not in client.get("/desk/?assignee=mine").get_data(as_text=True)
    hardware = client.get("/desk/?queue=hardware&priority=low").get_data(as_text=True)
    assert "Fresh low" in hardware and "Assigned to me" not in hardware
    assert "Done already" in client.get("/desk/?status=resolved").get_data(as_text=True)
    assert "Assigned to me" in client.get(f"/desk/?q=%23{numbers['Assigned to me']}").get_data(as_text=True)
    assert "Overdue urgent" in client.get("/desk/?q=overdue").get_data(as_text=True)
    fragment = client.get("/desk/?queue=network", headers=HX)
    html = fragment.get_data(as_text=True)
    assert "<html" not in html and html.lstrip().startswith('<section id="queue-table"')
    assert 'hx-trigger="every 30s' in html and "queue=network" in html  # polling keeps the filters
    assert "HX-Request" in fragment.headers["Vary"]


def test_queue_pages(app, client):
    sign_in_staff(app, client)
    with app.app_context():
        for i in range(55):
            ticket_at(subject=f"Ticket {i}")
    first = client.get("/desk/?sort=oldest").get_data(as_text=True)
    assert "55 tickets · page 1 of 2" in first and "Ticket 0<" in first and "Ticket 54<" not in first
    second = client.get("/desk/?sort=oldest&page=2").get_data(as_text=True)
    assert "Ticket 54<" in second and "Previous page" in second


def count_queries(app, client, url):
    statements = []

    def before(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", before)
        try:
            assert client.get(url).status_code == 200
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", before)
    return len(statements)


def test_the_queue_and_a_ticket_take_a_fixed_number_of_queries(app, client):
    tech = sign_in_staff(app, client)
    with app.app_context():
        for i in range(3):
            t = ticket_at(subject=f"Small {i}")
            t.assignee_id = tech.id
        db.session.commit()
        small = ticket_at(subject="Few messages")
        services.staff_reply(small, db.session.get(User, tech.id), "one", internal=False, request_key="s1")
        small_number = small.number
    few = count_queries(app, client, "/desk/")
    ticket_few = count_queries(app, client, f"/desk/tickets/{small_number}")
    with app.app_context():
        tech = db.session.get(User, tech.id)
        for i in range(40):
            t = ticket_at(subject=f"More {i}", queue=f"q{i % 7}")
            t.assignee_id = tech.id
        db.session.commit()
        big = ticket_at(subject="Many messages")
        for i in range(25):
            services.staff_reply(big, tech, f"reply {i}", internal=bool(i % 2), request_key=f"b{i}")
        big_number = big.number
    assert count_queries(app, client, "/desk/") == few
    assert count_queries(app, client, f"/desk/tickets/{big_number}") == ticket_few


def test_new_ticket_for_a_caller_creates_the_requester(app, client):
    sign_in_staff(app, client)
    data = {"email": "New.Person@example.com", "name": "New Person", "subject": "Can't log in",
            "description": "Called at 9:05", "queue": "general", "priority": "high", "key": "nt1"}
    response = client.post("/desk/new", data=data)
    assert response.status_code == 303
    client.post("/desk/new", data=data)  # a double click
    with app.app_context():
        ticket = db.session.scalars(sa.select(Ticket)).one()
        assert ticket.source.value == "phone" and ticket.priority == Priority.HIGH
        assert ticket.requester.email == "new.person@example.com" and ticket.requester.password_hash is None
        # The ticket's number, and (once, for the account made for them) an invitation to choose a password.
        assert db.session.scalars(sa.select(OutboxMessage.kind)).all() == ["opened", "invitation"]
    bad = client.post("/desk/new", data={**data, "email": "nope", "subject": "", "key": "nt2"})
    html = bad.get_data(as_text=True)
    assert "Enter an email address" in html and "Give the ticket a subject." in html


def test_walk_with_caller_puts_the_transcript_into_the_ticket(app, client):
    sign_in_staff(app, client)
    client.post("/desk/new", data={"email": "cal@example.com", "name": "Cal", "subject": "Printing",
                                   "queue": "general", "priority": "normal", "key": "w1"})
    form = {"flow": "printer", "os": "Windows", "mobile": "no"}
    start = client.post("/desk/tickets/1001/walk", data=form)
    assert start.status_code == 307  # the same form, sent on to the self-service pages that run walks
    started = client.post(start.headers["Location"], data=form)
    step = client.get(started.headers["Location"])
    assert step.status_code == 302
    url = step.headers["Location"]
    page = client.get(url).get_data(as_text=True)
    assert "Walking with the caller for ticket" in page and "#1001" in page
    client.post(url, data={"answer": "Yes, it says Ready"})  # Windows branch
    walk_id = url.split("/")[2]
    client.post(f"/walks/{walk_id}/2", data={"answer": "Continue"})
    done = client.post(f"/walks/{walk_id}/3", data={"answer": "Yes"})
    assert done.headers["Location"] == "/desk/tickets/1001"
    with app.app_context():
        ticket = db.session.get(Ticket, 1)
        assert [e["step"] for e in ticket.transcript] == ["power", "which-os", "windows-queue", "printed", "fixed"]
        assert ticket.client_facts == {"os": "Windows", "mobile": False} and ticket.flow_id == "printer"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 1
    assert "Path the user took" in client.get("/desk/tickets/1001").get_data(as_text=True)


def test_requester_reply_while_pending_reopens_and_shows_status(app, client, make_user, auth):
    _, email = make_user()
    auth.login(email)
    client.post("/contact", data={"subject": "VPN drops", "key": "v1"})
    with app.app_context():
        tech = staff()
        ticket = db.session.get(Ticket, 1)
        services.staff_reply(ticket, tech, "Which Wi-Fi are you on?", internal=False, request_key="t1")
        services.set_status(ticket, "pending", tech)
    page = client.get("/tickets/1001").get_data(as_text=True)
    # the requester reads the status in their own words, never the desk's "pending"
    assert "Which Wi-Fi are you on?" in page and "Waiting for your reply" in page and "Pending" not in page
    client.post("/tickets/1001/reply", data={"body": "Home Wi-Fi", "key": "u1"})
    with app.app_context():
        assert db.session.get(Ticket, 1).status == TicketStatus.OPEN
    assert "Open" in client.get("/tickets/1001").get_data(as_text=True)


def test_merge_and_link_errors_sit_under_their_fields_with_or_without_javascript(app, client):
    sign_in_staff(app, client)
    client.post("/contact", data={"name": "Ann", "email": "ann@example.com", "subject": "Fan", "key": "m1"})
    for headers in ({}, HX):
        html = client.post("/desk/tickets/1001/merge", data={"into": "#99999"}, headers=headers).get_data(
            as_text=True)
        assert 'id="merge-error">Enter the number of an existing ticket, like #1042.' in html
        assert 'value="#99999"' in html  # what was typed stays
        html = client.post("/desk/tickets/1001/link", data={"other": "1001"}, headers=headers).get_data(as_text=True)
        assert 'id="link-error">A ticket can&#39;t be linked to itself.' in html
