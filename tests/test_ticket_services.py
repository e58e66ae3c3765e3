"""The ticket services called directly: what each operation writes, refuses, stamps and sends.

These are the fast counterpart of test_ticket_rules.py (which drives the same rules through the
web and the CLI): each test calls :mod:`portal.tickets.services` the way the routes, the mail
intake and the self-service walks do, with time frozen (:class:`tests.test_desk.Clock`), and
reads back what a technician or a requester would notice: the ticket's fields, its timeline, its
messages, the emails in the outbox and the refusal messages. They pin the services for mutation
testing (``scripts/mutation.sh portal/tickets/services.py tests/test_ticket_services.py``).

One portal serves the whole module and every test starts on an empty database: building a
portal costs about a second on the shared test machine, which a mutation run would pay per test
and per mutant.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from types import MappingProxyType

import pytest
import sqlalchemy as sa

from portal import clock as portal_clock
from portal.database import create_schema
from portal.extensions import db
from portal.flows import engine
from portal.models import (
    Attachment,
    EventKind,
    FlowVersion,
    Message,
    OutboxMessage,
    Priority,
    Role,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketSource,
    TicketStatus,
    User,
    Walk,
)
from portal.tickets import attachments, links, queries, services
from portal.tickets.services import ActionError

from .conftest import _build, make_config
from .test_desk import T0, Clock

HOUR = timedelta(hours=1)
AT = T0.isoformat(timespec="seconds")


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    """One portal (SQLite) for the module."""
    app = _build(make_config(tmp_path_factory.mktemp("services")))
    with app.app_context():
        create_schema()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(portal):
    """The module's portal inside an app context, on an empty database, its settings restored afterwards."""
    settings = dict(portal.config)
    with portal.app_context():
        yield portal
        db.session.rollback()
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
    portal.config.clear()
    portal.config.update(settings)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


# -- helpers ----------------------------------------------------------------------------------------


def person(role: str = "technician", name: str = "Tess Tech", email: str | None = None, active: bool = True) -> User:
    """A committed account."""
    email = email or f"{name.split()[0].lower()}@example.com"
    user = User(email=email, name=name, role=Role(role), active=active)
    db.session.add(user)
    db.session.commit()
    return user


def web_ticket(subject: str = "Fan is loud", name: str = "Ann Lee", email: str = "ann@example.com",
               **kw) -> Ticket:
    """A ticket from Contact the help desk (anonymous unless `requester=` is given)."""
    ticket, opened = services.open_ticket(TicketSource.WEB, subject=subject, name=name, email=email, **kw)
    assert opened
    return ticket


def timeline(ticket: Ticket) -> list[tuple]:
    """The ticket's timeline as (kind, who, old, new), oldest first."""
    rows = db.session.scalars(sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                              .order_by(TicketEvent.id)).all()
    return [(e.kind.value, e.actor_name, e.old, e.new) for e in rows]


def last_event(ticket: Ticket) -> TicketEvent:
    return db.session.scalars(sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                              .order_by(TicketEvent.id.desc())).first()


def outbox() -> list[tuple]:
    """Every queued email as (kind, recipient, ticket id), oldest first."""
    rows = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
    return [(m.kind, m.to_address, m.ticket_id) for m in rows]


def mail(kind: str) -> OutboxMessage:
    """The one queued email of this kind."""
    return db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == kind)).one()


def messages(ticket: Ticket) -> list[dict]:
    rows = db.session.scalars(sa.select(Message).where(Message.ticket_id == ticket.id).order_by(Message.id)).all()
    return [{"body": m.body, "internal": m.internal, "from_requester": m.from_requester, "author_id": m.author_id,
             "author_name": m.author_name} for m in rows]


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def at_status(status: TicketStatus, **kw) -> Ticket:
    """A web ticket moved straight into `status` (stamps as a technician's move would leave them)."""
    ticket = web_ticket(**kw)
    ticket.status = status
    if status == TicketStatus.PENDING:
        ticket.paused_at = T0
    if status == TicketStatus.RESOLVED:
        ticket.resolved_at = T0
    if status == TicketStatus.CLOSED:
        ticket.closed_at = T0
    db.session.commit()
    return ticket


def stored_key(source: str, owner: str, key: str) -> str:
    """A one-time key as the tickets table keeps it (the documented derivation: the rows outlive a deploy)."""
    return f"{source}:" + hashlib.sha256(f"{owner}\n{key}".encode("utf-8", "replace")).hexdigest()[:48]


# -- opening: what a ticket carries ------------------------------------------------------------------


def test_a_contact_form_ticket_carries_what_was_typed_cleaned(app, clock):
    ticket, opened = services.open_ticket("web", subject="  Fan is loud  ", description="  Since 9.  ",
                                          name="  Ann Lee ", email="  Ann@Example.COM ", queue="  hardware ",
                                          priority="high", request_key="k1", owner="session:abc")
    assert opened and ticket.source == TicketSource.WEB
    assert (ticket.subject, ticket.description, ticket.requester_name, ticket.requester_email) == (
        "Fan is loud", "Since 9.", "Ann Lee", "ann@example.com")
    assert (ticket.queue, ticket.priority, ticket.status) == ("hardware", Priority.HIGH, TicketStatus.NEW)
    assert ticket.requester_id is None and ticket.walk_id is None and ticket.flow_id is None
    assert ticket.created_at == T0
    assert (ticket.response_due_at, ticket.resolution_due_at) == (T0 + 4 * HOUR, T0 + 24 * HOUR)
    assert ticket.request_key == stored_key("web", "session:abc", "k1")
    assert timeline(ticket) == [("created", "Ann Lee", None, "web")]
    assert last_event(ticket).actor_id is None
    assert outbox() == [("opened", "ann@example.com", ticket.id)]
    opened_mail = mail("opened")
    assert "Hello Ann Lee" in opened_mail.body_text and ticket.label in opened_mail.subject
    assert links.requester_url(ticket) in opened_mail.body_text and "key=" in links.requester_url(ticket)


def test_what_was_left_empty_gets_its_default(app, clock):
    ticket = web_ticket(subject="   ", name="", email="bo@example.com", description=None, queue="  ",
                        priority="whenever")
    assert (ticket.subject, ticket.description, ticket.queue, ticket.priority) == (
        "(no subject)", "", "general", Priority.NORMAL)
    assert ticket.requester_name == ""
    assert timeline(ticket) == [("created", "bo@example.com", None, "web")]  # named by the address
    other = web_ticket(subject=None, name=None, email=None, queue=None, priority=None)
    assert (other.subject, other.requester_name, other.requester_email, other.queue, other.priority) == (
        "(no subject)", "", "", "general", Priority.NORMAL)
    assert outbox() == [("opened", "bo@example.com", ticket.id)]  # nobody to tell about the second one
    assert web_ticket(priority=Priority.URGENT).priority == Priority.URGENT
    assert web_ticket(priority="low").resolution_due_at == T0 + 240 * HOUR


def test_overlong_values_are_cut_to_their_columns(app, clock):
    ticket = web_ticket(subject="s" * 250, name="n" * 150, email="e" * 300, queue="q" * 80)
    assert (len(ticket.subject), len(ticket.requester_name), len(ticket.requester_email), len(ticket.queue)) == (
        200, 120, 254, 60)
    assert timeline(ticket)[0][1] == "n" * 120
    unnamed = web_ticket(name="", email="a" * 200 + "@example.com")
    assert timeline(unnamed)[0][1] == "a" * 120


def test_a_signed_in_requesters_ticket_is_theirs(app, clock):
    ann = person("requester", name="", email="ann.lee@example.com")
    ticket = web_ticket(name="", email="someone.else@example.com", requester=ann)
    assert (ticket.requester_id, ticket.requester_name, ticket.requester_email) == (
        ann.id, "ann.lee", "ann.lee@example.com")
    assert timeline(ticket) == [("created", "ann.lee", None, "web")]
    assert outbox() == [("opened", "ann.lee@example.com", ticket.id)]
    assert links.requester_url(ticket) in mail("opened").body_text and "key=" not in links.requester_url(ticket)
    named = web_ticket(name="Ann Lee", requester=ann)
    assert named.requester_name == "Ann Lee"


def test_the_requesters_time_zone_is_their_accounts_else_their_browsers(app, clock):
    ann = person("requester", "Ann Lee")
    ann.time_zone = "Europe/Paris"
    bo = person("requester", "Bo Berg")
    assert web_ticket(requester=ann, time_zone="Asia/Tokyo").requester_time_zone == "Europe/Paris"
    assert web_ticket(requester=bo, time_zone=" Asia/Tokyo ").requester_time_zone == "Asia/Tokyo"
    assert web_ticket(time_zone="America/New_York").requester_time_zone == "America/New_York"
    assert web_ticket(time_zone="Mars/Olympus_Mons").requester_time_zone is None
    assert web_ticket().requester_time_zone is None


def test_due_times_count_from_the_tickets_own_opening_time(app, monkeypatch):
    """With a clock that moves on at every reading, the due times still fit the opening time exactly."""
    readings = iter(T0 + timedelta(seconds=i) for i in range(1000))
    monkeypatch.setattr(portal_clock, "now", lambda: next(readings))
    ticket = web_ticket()
    assert ticket.response_due_at - ticket.created_at == 24 * HOUR
    assert ticket.resolution_due_at - ticket.created_at == 72 * HOUR


def test_the_sources_are_told_apart_on_the_timeline(app, clock):
    tess = person()
    phone, _ = services.open_ticket(TicketSource.PHONE, subject="Call", name="Cal", email="cal@example.com",
                                    actor=tess)
    assert timeline(phone) == [("created", "Tess Tech", None, "phone")]
    assert last_event(phone).actor_id == tess.id
    emailed, _ = services.open_ticket("email", subject="Mail", email="bo@example.com", request_key="m1")
    assert emailed.source == TicketSource.EMAIL and timeline(emailed)[0] == ("created", "bo@example.com", None,
                                                                               "email")


# -- opening once -------------------------------------------------------------------------------------


def test_the_same_form_sent_twice_opens_one_ticket_and_one_email(app, clock):
    first = web_ticket(request_key="k1", owner="session:a")
    again, opened = services.open_ticket("web", subject="Fan is loud (edited)", name="Ann", email="x@example.com",
                                         request_key="k1", owner="session:a")
    assert (again.id, opened, again.subject) == (first.id, False, "Fan is loud")
    assert count(Ticket) == 1 and outbox() == [("opened", "ann@example.com", first.id)]


def test_a_key_counts_only_for_its_sender_and_its_source(app, clock):
    first = web_ticket(request_key="k1", owner="session:a")
    other_browser = web_ticket(request_key="k1", owner="session:b")
    other_source, opened = services.open_ticket(TicketSource.PHONE, subject="Call", email="c@example.com",
                                                request_key="k1", owner="session:a")
    assert opened and len({first.id, other_browser.id, other_source.id}) == 3
    assert other_source.request_key == stored_key("phone", "session:a", "k1")


def test_a_signed_in_requesters_key_is_bound_to_their_account(app, clock):
    ann, bo = person("requester", "Ann Lee"), person("requester", "Bo Berg")
    first = web_ticket(request_key="k1", requester=ann)
    assert first.request_key == stored_key("web", f"user:{ann.id}", "k1")
    again, opened = services.open_ticket("web", subject="again", request_key="k1", requester=ann)
    assert (again.id, opened) == (first.id, False)
    bos = web_ticket(request_key="k1", requester=bo)
    assert bos.id != first.id and bos.requester_id == bo.id
    session_owned = web_ticket(request_key="k1", requester=ann, owner="session:z")  # an explicit owner wins
    assert session_owned.request_key == stored_key("web", "session:z", "k1")


def test_a_key_without_a_sender_is_the_keys_alone(app, clock):
    ticket = web_ticket(request_key="k1")
    assert ticket.request_key == stored_key("web", "", "k1")


def test_without_a_key_every_request_opens_a_ticket(app, clock):
    first = web_ticket(request_key=None)
    second = web_ticket(request_key="")
    assert first.id != second.id and first.request_key is None and second.request_key is None
    assert count(Ticket) == 2


def test_an_email_key_is_the_message_id_digest_whoever_sent_it(app, clock):
    first, _ = services.open_ticket(TicketSource.EMAIL, subject="Broken", email="bo@example.com",
                                    request_key="d1g3st", owner="someone")
    assert first.request_key == "email:d1g3st"
    again, opened = services.open_ticket(TicketSource.EMAIL, subject="Broken", email="bo@example.com",
                                         request_key="d1g3st")
    assert (again.id, opened) == (first.id, False)


def test_a_key_with_characters_utf8_cannot_encode_still_opens_once(app, clock):
    key = "k\udcff"  # a lone surrogate, as a badly decoded form field carries it
    first = web_ticket(request_key=key, owner="session:a")
    assert first.request_key == stored_key("web", "session:a", key)
    again, opened = services.open_ticket("web", subject="x", request_key=key, owner="session:a")
    assert (again.id, opened) == (first.id, False)


def test_a_racing_request_that_opened_the_ticket_first_wins(app, clock):
    """Another request commits the same form between our check and our insert: its ticket is the one."""

    def compete():
        services.open_ticket("web", subject="First one", name="Ann", email="ann@example.com", request_key="k1",
                             owner="session:a")

    at_next_flush(app, compete)
    ticket, opened = services.open_ticket("web", subject="Second one", name="Ann", email="ann@example.com",
                                          request_key="k1", owner="session:a")
    assert (opened, ticket.subject) == (False, "First one")
    assert count(Ticket) == 1 and [kind for kind, _, _ in outbox()] == ["opened"]


def at_next_flush(app, compete) -> None:
    """Run `compete()` as another request (own app context, session and connection) when ours next flushes."""

    def before_flush(*_):
        with app.app_context():
            compete()

    sa.event.listen(db.session(), "before_flush", before_flush, once=True)


# -- opening: walks ---------------------------------------------------------------------------------


def a_walk(flow_id: str = "printer", title: str = "Printer won't print") -> Walk:
    if db.session.get(FlowVersion, "v1") is None:
        db.session.add(FlowVersion(hash="v1", flow_id=flow_id, source="id: printer"))
    walk = Walk(flow_id=flow_id, flow_title=title, version_hash="v1", state={})
    db.session.add(walk)
    db.session.commit()
    return walk


def a_state(client=None, failure=None, status=engine.ESCALATED, values=None) -> engine.State:
    trail = (
        engine.Entry(flow="printer", step="power", type="question", at=AT, title="Is it on?", answer="Yes"),
        engine.Entry(flow="printer", step="details", type="form", at=AT, title="Details", answer="...",
                     values=MappingProxyType(values or {"room": "301", "asset": "L-42"}),
                     labels=MappingProxyType({"room": "Room"})),
    )
    return engine.State(flow="printer", step="end", client=MappingProxyType(client or {}), trail=trail,
                        status=status, failure=failure)


def test_a_walk_opens_one_ticket_with_its_transcript(app, clock):
    walk = a_walk()
    state = a_state(client={"os": "macOS", "mobile": "true"}, failure="goto to a missing step")
    ticket, opened = services.open_ticket(TicketSource.WALK, subject="Printer", email="ann@example.com",
                                          request_key="ignored", walk=walk, state=state)
    assert opened and ticket.walk_id == walk.id and ticket.request_key is None
    assert (ticket.flow_id, ticket.flow_title, ticket.flow_version) == ("printer", "Printer won't print", "v1")
    assert ticket.transcript == [e.to_dict() for e in state.trail]
    assert ticket.form_values == {"room": {"label": "Room", "value": "301"},
                                  "asset": {"label": "asset", "value": "L-42"}}
    assert ticket.client_facts == {"os": "macOS", "mobile": True}
    assert ticket.failure == "goto to a missing step"
    again, opened = services.open_ticket(TicketSource.WALK, subject="Printer", email="ann@example.com",
                                         request_key="other", walk=walk, state=state)
    assert (again.id, opened) == (ticket.id, False) and count(Ticket) == 1


def test_a_walk_escalated_by_two_racing_requests_opens_one_ticket(app, clock):
    walk, state = a_walk(), a_state()
    walk_id = walk.id

    def compete():
        services.open_ticket(TicketSource.WALK, subject="First one", walk=db.session.get(Walk, walk_id), state=state)

    at_next_flush(app, compete)
    ticket, opened = services.open_ticket(TicketSource.WALK, subject="Second one", walk=walk, state=state)
    assert (opened, ticket.subject, count(Ticket)) == (False, "First one", 1)


def test_a_walk_without_client_facts_is_from_other_and_not_mobile(app, clock):
    ticket, _ = services.open_ticket(TicketSource.WALK, subject="Printer", walk=a_walk(),
                                     state=a_state(client={"mobile": "false"}))
    assert ticket.client_facts == {"os": "Other", "mobile": False} and ticket.failure is None


def test_a_walk_without_its_state_carries_no_transcript(app, clock):
    ticket, _ = services.open_ticket(TicketSource.WALK, subject="Printer", walk=a_walk())
    assert ticket.walk_id is not None and ticket.flow_id is None and not ticket.transcript
    assert (ticket.description, ticket.requester_email, ticket.requester_name) == ("", "", "")
    assert outbox() == []  # an anonymous walk without an address: nobody to write to


# -- opening: files, the desk's calls, the flood limit -----------------------------------------------


def test_files_sent_with_a_request_are_one_message_from_the_requester(app, clock):
    ann = person("requester", "Ann Lee")
    files = [services.attachment("photo.png", "image/png", b"\x89PNG"),
             services.attachment("log.txt", "text/plain; " + "x" * 200, b"boot failed")]
    # The type is sniffed from the bytes, never the sender's word for it (four bytes are no PNG).
    assert [(f.size, f.content_type) for f in files] == [(4, "application/octet-stream"), (11, "text/plain")]
    ticket, _ = services.open_ticket(TicketSource.EMAIL, subject="Broken", requester=ann, request_key="d1",
                                     attachments=files)
    assert messages(ticket) == [{"body": "Files sent with the request: photo.png, log.txt", "internal": False,
                                 "from_requester": True, "author_id": ann.id, "author_name": "Ann Lee"}]
    stored = db.session.scalars(sa.select(Attachment).order_by(Attachment.id)).all()
    assert [(a.filename, attachments.body(a), a.data) for a in stored] == [
        ("photo.png", b"\x89PNG", None), ("log.txt", b"boot failed", None)]  # bodies in files, not rows
    assert services.has_message(ticket, "email:d1")  # the email that opened it counts as added
    assert messages(web_ticket()) == []


def test_a_technician_logs_a_call_for_a_new_caller(app, clock):
    tess = person()
    ticket = services.open_on_behalf(tess, email="  New.Person@Example.com ", name="  New Person ", subject="Login",
                                     description="Called at 9:05", queue="accounts", priority="high", request_key="nt1")
    caller = db.session.scalars(sa.select(User).where(User.role == Role.REQUESTER)).one()
    assert (caller.email, caller.name, caller.password_hash) == ("new.person@example.com", "New Person", None)
    assert (ticket.source, ticket.requester_id, ticket.requester_name, ticket.queue, ticket.priority) == (
        TicketSource.PHONE, caller.id, "New Person", "accounts", Priority.HIGH)
    assert (ticket.subject, ticket.description) == ("Login", "Called at 9:05")
    assert ticket.request_key == stored_key("phone", f"user:{tess.id}", "nt1")
    assert timeline(ticket) == [("created", "Tess Tech", None, "phone")]
    assert outbox() == [("opened", "new.person@example.com", ticket.id)]
    # The form sent again, even edited, is the same call: no second ticket, no stray account.
    again = services.open_on_behalf(tess, email="other@example.com", name="Other", subject="Login", description="",
                                    queue="general", priority="normal", request_key="nt1")
    assert again.id == ticket.id and count(Ticket) == 1 and count(User) == 2
    # Another technician's form with the same key is another call; a known caller keeps their account.
    tom = person(name="Tom Tech")
    other = services.open_on_behalf(tom, email="NEW.PERSON@example.com", name="", subject="Printer", description="",
                                    queue="general", priority="normal", request_key="nt1")
    assert other.id != ticket.id and other.requester_id == caller.id and other.requester_name == "New Person"
    assert count(User) == 3
    # The name the caller gives on the phone is the ticket's, whatever their account says.
    third = services.open_on_behalf(tom, email="new.person@example.com", name="Newt", subject="VPN", description="",
                                    queue="general", priority="normal", request_key="nt2")
    assert (third.requester_id, third.requester_name, caller.name) == (caller.id, "Newt", "New Person")


def test_a_callers_new_account_keeps_a_name_that_fits(app, clock):
    ticket = services.open_on_behalf(person(), email="long@example.com", name="n" * 150, subject="x",
                                     description="", queue="general", priority="normal", request_key="k")
    assert len(ticket.requester.name) == 120
    assert services.requester_for("LONG@example.com ").id == ticket.requester_id
    unnamed = services.open_on_behalf(person(name="Tom Tech"), email="anon@example.com", name="", subject="x",
                                      description="", queue="general", priority="normal", request_key="k")
    assert (unnamed.requester.name, unnamed.requester_name) == ("", "anon")
    assert services.requester_for("fresh@example.com").name == ""


def test_only_technicians_log_calls(app, clock):
    ann = person("requester", "Ann Lee")
    with pytest.raises(ActionError, match="^Only technicians can do that.$"):
        services.open_on_behalf(ann, email="x@example.com", name="", subject="x", description="", queue="general",
                                priority="normal", request_key="k")
    with pytest.raises(ActionError, match="Only technicians"):
        services.open_on_behalf(None, email="x@example.com", name="", subject="x", description="", queue="general",
                                priority="normal", request_key="k")
    assert count(Ticket) == 0
    admin = person("admin", "Ada Admin")
    assert services.open_on_behalf(admin, email="x@example.com", name="", subject="x", description="",
                                   queue="general", priority="normal", request_key="k").source == TicketSource.PHONE


def flood_limit(app, limit):
    app.config.update(RATELIMIT_ENABLED=True, TICKETS_PER_HOUR=limit)


def test_an_account_opening_too_many_tickets_in_an_hour_is_refused(app, clock):
    flood_limit(app, 3)
    ann, bo = person("requester", "Ann Lee"), person("requester", "Bo Berg")
    for i in range(3):
        web_ticket(requester=ann, request_key=f"k{i}")
    with pytest.raises(services.TooManyTickets):
        web_ticket(requester=ann, request_key="k3")
    again, opened = services.open_ticket("web", subject="x", requester=ann, request_key="k2")  # a retry is no new
    assert not opened
    web_ticket(requester=bo)  # somebody else's count
    web_ticket(email="ann@example.com")  # not signed in: the rate limits of the routes apply, not this
    services.open_ticket(TicketSource.PHONE, subject="Call", requester=ann, actor=person())  # opened for her
    services.open_ticket(TicketSource.EMAIL, subject="Mail", requester=ann, request_key="m1")
    clock.advance(hours=1)  # the first three are exactly an hour old: still counted
    with pytest.raises(services.TooManyTickets):
        web_ticket(requester=ann, request_key="k4")
    clock.advance(seconds=1)
    web_ticket(requester=ann, request_key="k5")
    assert count(Ticket) == 8


def test_tickets_opened_for_an_account_do_not_count_toward_its_limit(app, clock):
    flood_limit(app, 2)
    ann = person("requester", "Ann Lee")
    services.open_ticket(TicketSource.PHONE, subject="Call", requester=ann, actor=person())
    services.open_ticket(TicketSource.EMAIL, subject="Mail", requester=ann, request_key="m1")
    web_ticket(requester=ann, request_key="k1")
    web_ticket(requester=ann, request_key="k2")
    with pytest.raises(services.TooManyTickets):
        web_ticket(requester=ann, request_key="k3")


def test_a_refused_ticket_says_when_the_next_one_can_be_opened(app, clock):
    flood_limit(app, 2)
    ann = person("requester", "Ann Lee")
    web_ticket(requester=ann, request_key="k1")
    clock.advance(minutes=10)
    web_ticket(requester=ann, request_key="k2")
    clock.advance(minutes=20)
    with pytest.raises(services.TooManyTickets) as refused:
        web_ticket(requester=ann, request_key="k3")
    assert refused.value.retry_after == 30 * 60  # when the first of the two is an hour old
    assert refused.value.code == 429


def test_the_flood_limit_counts_walks_too_and_can_be_switched_off(app, clock):
    flood_limit(app, 1)
    ann = person("requester", "Ann Lee")
    services.open_ticket(TicketSource.WALK, subject="Printer", requester=ann, walk=a_walk(), state=a_state())
    with pytest.raises(services.TooManyTickets):
        web_ticket(requester=ann)
    app.config["TICKETS_PER_HOUR"] = 0
    web_ticket(requester=ann)
    app.config.update(TICKETS_PER_HOUR=1, RATELIMIT_ENABLED=False)
    web_ticket(requester=ann)
    del app.config["RATELIMIT_ENABLED"]  # unset: on, as in production
    with pytest.raises(services.TooManyTickets):
        web_ticket(requester=ann)


# -- the SLA clock ------------------------------------------------------------------------------------


def test_the_sla_clock_starts_from_the_opening_time_or_now(app, clock):
    ticket = Ticket(subject="x")
    services.start_clock(ticket)
    assert ticket.priority == Priority.NORMAL
    assert (ticket.response_due_at, ticket.resolution_due_at) == (T0 + 24 * HOUR, T0 + 72 * HOUR)
    ticket = Ticket(subject="x", priority=Priority.URGENT, created_at=T0 - 10 * HOUR)
    services.start_clock(ticket)
    assert (ticket.response_due_at, ticket.resolution_due_at) == (T0 - 9 * HOUR, T0 - 6 * HOUR)
    services.start_clock(ticket, T0)
    assert (ticket.response_due_at, ticket.resolution_due_at) == (T0 + HOUR, T0 + 4 * HOUR)


def test_due_times_follow_the_configured_targets(app, clock):
    app.config["SLA_TARGETS"] = {"normal": (2, 8), "high": (1, 3)}
    ticket = web_ticket()
    assert (ticket.response_due_at, ticket.resolution_due_at) == (T0 + 2 * HOUR, T0 + 8 * HOUR)
    services.set_priority(ticket, "high", person())
    assert (ticket.response_due_at, ticket.resolution_due_at) == (T0 + HOUR, T0 + 3 * HOUR)


# -- status ---------------------------------------------------------------------------------------------


ALLOWED = {("new", "open"), ("new", "pending"), ("new", "resolved"), ("new", "closed"),
           ("open", "pending"), ("open", "resolved"), ("open", "closed"),
           ("pending", "open"), ("pending", "resolved"), ("pending", "closed"),
           ("resolved", "open"), ("resolved", "closed"), ("closed", "open")}


def test_every_status_move_is_made_or_refused_with_its_reason(app, clock):
    tess = person()
    for old in TicketStatus:
        for new in TicketStatus:
            ticket = at_status(old)
            if (old.value, new.value) in ALLOWED:
                services.set_status(ticket, new.value, tess)
                kind = "reopened" if new == TicketStatus.OPEN and old.value in ("resolved", "closed") else "status"
                assert ticket.status == new and timeline(ticket)[-1] == (kind, "Tess Tech", old.value, new.value)
                assert last_event(ticket).actor_id == tess.id
            else:
                reason = (f"The ticket is already {new.value}." if old == new
                          else f"A {old.value} ticket can't be set to {new.value}.")
                with pytest.raises(ActionError, match=f"^{reason}$"):
                    services.set_status(ticket, new, tess)
                db.session.rollback()
                assert ticket.status == old and len(timeline(ticket)) == 1


def test_only_technicians_move_a_ticket(app, clock):
    ticket = web_ticket()
    ann = person("requester", "Ann Lee")
    with pytest.raises(ActionError, match="^Only technicians can do that.$"):
        services.set_status(ticket, "open", ann)
    with pytest.raises(ActionError, match="Only technicians"):
        services.set_status(ticket, "open", None)
    assert ticket.status == TicketStatus.NEW


def test_resolving_closing_and_reopening_stamp_their_times(app, clock):
    tess = person()
    ticket = web_ticket()
    clock.advance(hours=1)
    services.set_status(ticket, TicketStatus.RESOLVED, tess)
    assert (ticket.resolved_at, ticket.closed_at, ticket.paused_at) == (T0 + HOUR, None, None)
    clock.advance(hours=1)
    services.set_status(ticket, "closed", tess)
    assert (ticket.resolved_at, ticket.closed_at) == (T0 + HOUR, T0 + 2 * HOUR)
    services.set_status(ticket, "open", tess)
    assert (ticket.resolved_at, ticket.closed_at) == (None, None)
    services.set_status(ticket, "closed", tess)
    services.set_status(ticket, "open", tess)
    assert ticket.closed_at is None
    assert [line[0] for line in timeline(ticket)] == ["created", "status", "status", "reopened", "status",
                                                      "reopened"]


def test_resolving_emails_the_requester_their_link_and_a_reopen_link(app, clock):
    ticket = web_ticket()
    services.set_status(ticket, "resolved", person())
    assert outbox()[1:] == [("resolved", "ann@example.com", ticket.id)]
    body = mail("resolved").body_text
    assert links.requester_url(ticket) in body and links.reopen_url(ticket) in body
    assert "Resolved: Fan is loud" in mail("resolved").subject
    tess = db.session.scalars(sa.select(User)).one()
    for status in ("open", "pending", "closed"):
        services.set_status(ticket, status, tess)
    assert [kind for kind, _, _ in outbox()] == ["opened", "resolved"]


def test_pending_pauses_the_resolution_clock_and_the_wait_is_added_back(app, clock):
    tess = person()
    for leave in ("open", "resolved", "closed"):
        ticket = web_ticket()  # resolution due at T0 + 72 h
        clock.advance(hours=1)
        services.set_status(ticket, "pending", tess)
        assert (ticket.paused_at, ticket.paused_seconds) == (clock.now, 0)
        paused_at, due, response_due = ticket.paused_at, ticket.resolution_due_at, ticket.response_due_at
        clock.advance(hours=3, seconds=7)
        services.set_status(ticket, leave, tess)
        assert ticket.paused_at is None, leave
        assert ticket.paused_seconds == 3 * 3600 + 7, leave
        assert ticket.resolution_due_at == due + (clock.now - paused_at), leave
        assert ticket.response_due_at == response_due, leave  # only the resolution clock pauses
        clock.now = T0


def test_repeated_pauses_add_up(app, clock):
    tess = person()
    ticket = web_ticket()
    for hours in (2, 3):
        services.set_status(ticket, "pending", tess)
        clock.advance(hours=hours)
        services.set_status(ticket, "open", tess)
    assert ticket.paused_seconds == 5 * 3600
    assert ticket.resolution_due_at == T0 + 77 * HOUR
    assert [line[2:] for line in timeline(ticket)[1:]] == [("new", "pending"), ("pending", "open"),
                                                          ("open", "pending"), ("pending", "open")]


def test_a_pause_that_seems_to_end_before_it_began_adds_nothing(app, clock):
    tess = person()
    ticket = web_ticket()
    services.set_status(ticket, "pending", tess)
    ticket.paused_at = T0 + HOUR  # the server's clock was set back meanwhile
    services.set_status(ticket, "open", tess)
    assert (ticket.paused_seconds, ticket.resolution_due_at, ticket.paused_at) == (0, T0 + 72 * HOUR, None)


def test_a_ticket_pending_without_a_pause_time_leaves_pending_as_it_is(app, clock):
    ticket = at_status(TicketStatus.PENDING)
    ticket.paused_at = None  # a row from before pauses were timed
    services.set_status(ticket, "open", person())
    assert (ticket.paused_seconds, ticket.resolution_due_at) == (0, T0 + 72 * HOUR)


def test_only_pending_stamps_a_pause(app, clock):
    tess = person()
    for status in ("open", "resolved", "closed"):
        ticket = web_ticket()
        services.set_status(ticket, status, tess)
        assert ticket.paused_at is None and ticket.paused_seconds == 0


# -- assignment, priority, queue ----------------------------------------------------------------------


def test_claiming_a_new_ticket_takes_it_and_opens_it_without_an_email(app, clock):
    tess = person()
    ticket = web_ticket()
    assert services.claim(ticket, tess) is ticket
    assert (ticket.assignee_id, ticket.status) == (tess.id, TicketStatus.OPEN)
    assert timeline(ticket)[1:] == [("assigned", "Tess Tech", "nobody", "Tess Tech"),
                                    ("status", "Tess Tech", "new", "open")]
    assert outbox() == [("opened", "ann@example.com", ticket.id)]


def test_assigning_to_another_technician_tells_them(app, clock):
    tess, tom = person(), person(name="Tom Tech")
    ticket = at_status(TicketStatus.PENDING)
    services.assign(ticket, tom, tess)
    assert (ticket.assignee_id, ticket.status) == (tom.id, TicketStatus.PENDING)  # only a new ticket opens
    assert timeline(ticket)[1:] == [("assigned", "Tess Tech", "nobody", "Tom Tech")]
    assert outbox()[1:] == [("assigned", "tom@example.com", ticket.id)]
    assigned = mail("assigned")
    assert links.staff_url(ticket) in assigned.body_text and "Tom Tech" in assigned.body_text
    services.assign(ticket, tess, tom)
    assert timeline(ticket)[-1] == ("assigned", "Tom Tech", "Tom Tech", "Tess Tech")
    assert outbox()[-1] == ("assigned", "tess@example.com", ticket.id)


def test_unassigning_leaves_the_status_and_tells_nobody(app, clock):
    tess = person()
    ticket = web_ticket()
    services.claim(ticket, tess)
    services.assign(ticket, None, tess)
    assert (ticket.assignee_id, ticket.assignee, ticket.status) == (None, None, TicketStatus.OPEN)
    assert timeline(ticket)[-1] == ("assigned", "Tess Tech", "Tess Tech", "nobody")
    assert [kind for kind, _, _ in outbox()] == ["opened"]
    with pytest.raises(ActionError, match="^The ticket is already assigned to nobody.$"):
        services.assign(ticket, None, tess)


def test_assignment_is_refused_to_anyone_but_an_active_technician(app, clock):
    tess = person()
    gone = person(name="Gone Tech", active=False)
    rita = person("requester", "Rita Ray")
    ada = person("admin", "Ada Admin")
    ticket = web_ticket()
    for nobody_to_assign in (gone, rita):
        with pytest.raises(ActionError, match="^Tickets can only be assigned to active technicians.$"):
            services.assign(ticket, nobody_to_assign, tess)
    with pytest.raises(ActionError, match="^Only technicians can do that.$"):
        services.assign(ticket, tess, rita)
    assert ticket.assignee_id is None and len(timeline(ticket)) == 1
    services.assign(ticket, ada, tess)  # admins are technicians too
    with pytest.raises(ActionError, match="^The ticket is already assigned to Ada Admin.$"):
        services.assign(ticket, ada, tess)
    assert ticket.assignee_id == ada.id


def test_a_very_long_name_is_cut_to_fit_the_timeline(app, clock):
    tess = person()
    long_named = person(name="", email="t" * 230 + "@example.com")  # shown by the address's first part
    ticket = web_ticket()
    services.assign(ticket, long_named, tess)
    services.assign(ticket, tess, tess)
    assert timeline(ticket)[1][3] == "t" * 200 and timeline(ticket)[-1][2] == "t" * 200


def test_changing_the_priority_moves_the_due_times_from_the_opening(app, clock):
    tess = person()
    ticket = web_ticket()
    clock.advance(hours=5)
    assert services.set_priority(ticket, "urgent", tess) is ticket
    assert (ticket.priority, ticket.response_due_at, ticket.resolution_due_at) == (
        Priority.URGENT, T0 + HOUR, T0 + 4 * HOUR)
    assert timeline(ticket)[-1] == ("priority", "Tess Tech", "normal", "urgent")
    with pytest.raises(ActionError, match="^The priority is already urgent.$"):
        services.set_priority(ticket, Priority.URGENT, tess)
    ticket.paused_seconds = 1800  # a wait already added back still counts
    services.set_priority(ticket, Priority.LOW, tess)
    assert ticket.resolution_due_at == T0 + 240 * HOUR + timedelta(seconds=1800)
    with pytest.raises(ActionError, match="Only technicians"):
        services.set_priority(ticket, "high", person("requester", "Ann Lee"))
    assert [kind for kind, _, _ in outbox()] == ["opened"]


def test_a_priority_change_while_pending_keeps_the_pause_running(app, clock):
    tess = person()
    ticket = web_ticket()
    services.set_status(ticket, "pending", tess)
    clock.advance(hours=2)
    services.set_priority(ticket, "high", tess)
    assert (ticket.paused_at, ticket.status, ticket.resolution_due_at) == (T0, TicketStatus.PENDING, T0 + 24 * HOUR)
    services.set_status(ticket, "open", tess)
    assert ticket.resolution_due_at == T0 + 26 * HOUR


def test_moving_to_another_queue(app, clock):
    tess = person()
    ticket = web_ticket()
    assert services.set_queue(ticket, "  hardware ", tess) is ticket
    assert ticket.queue == "hardware" and timeline(ticket)[-1] == ("queue", "Tess Tech", "general", "hardware")
    with pytest.raises(ActionError, match="^The ticket is already in hardware.$"):
        services.set_queue(ticket, "hardware", tess)
    for empty in ("  ", None):
        with pytest.raises(ActionError, match="^Choose a queue.$"):
            services.set_queue(ticket, empty, tess)
    services.set_queue(ticket, "x" * 80, tess)
    assert ticket.queue == "x" * 60 and timeline(ticket)[-1][3] == "x" * 60
    with pytest.raises(ActionError, match="Only technicians"):
        services.set_queue(ticket, "network", person("requester", "Ann Lee"))
    assert [kind for kind, _, _ in outbox()] == ["opened"]


# -- technicians' replies and notes -----------------------------------------------------------------


def test_a_public_reply_is_the_technicians_and_is_emailed(app, clock):
    tess = person()
    ticket = web_ticket()
    clock.advance(minutes=30)
    message = services.staff_reply(ticket, tess, "  Please restart.  ", internal=False, request_key="r1")
    assert messages(ticket) == [{"body": "Please restart.", "internal": False, "from_requester": False,
                                 "author_id": tess.id, "author_name": "Tess Tech"}]
    assert message.request_key == "r1" and services.has_message(ticket, "r1")
    assert (ticket.first_response_at, ticket.status) == (T0 + timedelta(minutes=30), TicketStatus.OPEN)
    assert timeline(ticket)[1:] == [("reply", "Tess Tech", None, None), ("status", "Tess Tech", "new", "open")]
    assert [e.message_id for e in db.session.scalars(sa.select(TicketEvent).where(
        TicketEvent.kind == EventKind.REPLY))] == [message.id]
    assert outbox()[1:] == [("reply", "ann@example.com", ticket.id)]
    body = mail("reply").body_text
    assert "Please restart." in body and links.requester_url(ticket) in body
    clock.advance(hours=1)
    services.staff_reply(ticket, tess, "Any news?", internal=False, request_key="r2")
    assert ticket.first_response_at == T0 + timedelta(minutes=30)  # the first response stays the first


def test_an_internal_note_is_neither_a_response_nor_emailed(app, clock):
    tess = person()
    ticket = web_ticket()
    note = services.staff_reply(ticket, tess, "SMART errors on the disk.", internal=True, request_key="n1")
    assert messages(ticket) == [{"body": "SMART errors on the disk.", "internal": True, "from_requester": False,
                                 "author_id": tess.id, "author_name": "Tess Tech"}]
    assert (ticket.first_response_at, ticket.status) == (None, TicketStatus.NEW)
    assert timeline(ticket)[1:] == [("note", "Tess Tech", None, None)]
    assert last_event(ticket).message_id == note.id
    assert [kind for kind, _, _ in outbox()] == ["opened"]


def test_a_reply_to_a_pending_ticket_leaves_it_pending(app, clock):
    ticket = at_status(TicketStatus.PENDING)
    services.staff_reply(ticket, person(), "Still waiting for the photo.", internal=False, request_key="r1")
    assert ticket.status == TicketStatus.PENDING and [line[0] for line in timeline(ticket)] == ["created", "reply"]


def test_a_reply_sent_twice_is_one_message_and_one_email(app, clock):
    tess = person()
    ticket = web_ticket()
    first = services.staff_reply(ticket, tess, "On my way", internal=False, request_key="r1")
    again = services.staff_reply(ticket, tess, "On my way", internal=False, request_key="r1")
    assert again.id == first.id and len(messages(ticket)) == 1 and len(outbox()) == 2
    other = web_ticket()
    services.staff_reply(other, tess, "On my way", internal=False, request_key="r1")  # the key is per ticket
    assert len(messages(other)) == 1
    services.staff_reply(ticket, tess, "No key", internal=True, request_key=None)
    services.staff_reply(ticket, tess, "No key", internal=True, request_key=None)
    assert [m["body"] for m in messages(ticket)] == ["On my way", "No key", "No key"]
    assert not services.has_message(ticket, "") and not services.has_message(ticket, "r9")


def test_an_empty_reply_or_a_requesters_is_refused(app, clock):
    tess = person()
    ticket = web_ticket()
    for body in ("   ", None):
        with pytest.raises(ActionError, match="^Write the message first.$"):
            services.staff_reply(ticket, tess, body, internal=False, request_key="r1")
    with pytest.raises(ActionError, match="^Only technicians can do that.$"):
        services.staff_reply(ticket, person("requester", "Ann Lee"), "hi", internal=True, request_key="r2")
    assert messages(ticket) == [] and len(outbox()) == 1


def test_a_racing_double_click_keeps_the_first_reply(app, clock):
    tess = person()
    ticket = web_ticket()
    ticket_id, tess_id = ticket.id, tess.id

    def compete():
        services.staff_reply(db.session.get(Ticket, ticket_id), db.session.get(User, tess_id), "On my way",
                             internal=False, request_key="r1")

    at_next_flush(app, compete)
    message = services.staff_reply(ticket, tess, "On my way (2)", internal=False, request_key="r1")
    assert message.body == "On my way"
    assert [m["body"] for m in messages(ticket)] == ["On my way"]
    assert [kind for kind, _, _ in outbox()] == ["opened", "reply"]


def test_a_retry_is_recognised_before_anything_is_written(app, clock):
    """A double click, a reload or a redelivered email is answered from a read: no insert is even tried
    (on PostgreSQL a refused insert is an ERROR in the server's log and ends the transaction)."""
    tess = person()
    ticket = web_ticket(request_key="k1", owner="session:a")
    walk, state = a_walk(), a_state()
    services.open_ticket(TicketSource.WALK, subject="Printer", walk=walk, state=state)
    services.staff_reply(ticket, tess, "On my way", internal=False, request_key="r1")
    services.requester_reply(ticket, "Thanks", request_key="u1")
    services.hold_unverified_reply(ticket, "Hi", sender="x@example.com", request_key="e1")
    retries = [
        lambda: services.open_ticket("web", subject="x", request_key="k1", owner="session:a"),
        lambda: services.open_ticket(TicketSource.WALK, subject="Printer", walk=walk, state=state, request_key="z"),
        lambda: services.staff_reply(ticket, tess, "On my way", internal=False, request_key="r1"),
        lambda: services.requester_reply(ticket, "Thanks", request_key="u1"),
        lambda: services.hold_unverified_reply(ticket, "Hi", sender="x@example.com", request_key="e1"),
    ]
    for retry in retries:
        with statements() as seen:
            retry()
        assert not [s for s in seen if s.lstrip().upper().startswith(("INSERT", "UPDATE"))]


class statements:
    """The SQL statements run inside the block."""

    def __enter__(self):
        self.seen: list = []
        sa.event.listen(db.engine, "before_cursor_execute", self._before)
        return self.seen

    def _before(self, conn, cursor, statement, *args):
        self.seen.append(statement)

    def __exit__(self, *exc):
        sa.event.remove(db.engine, "before_cursor_execute", self._before)


# -- requesters' replies --------------------------------------------------------------------------------


def test_a_requesters_reply_is_theirs_and_tells_the_assignee(app, clock):
    tess = person()
    ticket = web_ticket()
    services.claim(ticket, tess)
    message = services.requester_reply(ticket, "  It's loud again.  ", request_key="u1")
    assert messages(ticket)[-1] == {"body": "It's loud again.", "internal": False, "from_requester": True,
                                    "author_id": None, "author_name": "Ann Lee"}
    assert timeline(ticket)[-1] == ("reply", "Ann Lee", None, None)
    event = last_event(ticket)
    assert (event.actor_id, event.message_id) == (None, message.id)
    assert outbox()[1:] == [("requester-reply", "tess@example.com", ticket.id)]
    body = mail("requester-reply").body_text
    assert "It's loud again." in body and links.staff_url(ticket) in body
    again = services.requester_reply(ticket, "It's loud again.", request_key="u1")
    assert again.id == message.id and len(messages(ticket)) == 1 and len(outbox()) == 2


def test_a_signed_in_requesters_reply_carries_their_account(app, clock):
    ann = person("requester", "Ann Lee")
    ticket = web_ticket(requester=ann)
    services.requester_reply(ticket, "Hello", request_key="u1", author=ann)
    assert messages(ticket)[-1]["author_id"] == ann.id and last_event(ticket).actor_id == ann.id
    typed = web_ticket(name="A. Lee", requester=ann)  # the name typed on the form is not the account's
    services.requester_reply(typed, "Me again", request_key="u9", author=ann)
    assert messages(typed)[-1]["author_name"] == "Ann Lee"
    services.requester_reply(ticket, "From my phone", request_key="u2", author=ann, author_name="Ann (mobile)")
    assert messages(ticket)[-1]["author_name"] == "Ann (mobile)"
    assert timeline(ticket)[-1] == ("reply", "Ann (mobile)", None, None)
    named = web_ticket(name="")
    services.requester_reply(named, "By email", request_key="u3", author_name="Bo Berg")
    assert messages(named)[-1]["author_name"] == "Bo Berg"
    assert [kind for kind, _, _ in outbox()] == ["opened"] * 3  # nobody assigned: nobody told


def test_a_signed_in_requesters_answer_reopens_in_their_name(app, clock):
    ann = person("requester", "Ann Lee")
    ticket = at_status(TicketStatus.PENDING, requester=ann)
    services.requester_reply(ticket, "Here it is", request_key="u1", author=ann)
    assert timeline(ticket)[-1] == ("status", "Ann Lee", "pending", "open") and last_event(ticket).actor_id == ann.id


def test_a_requesters_reply_keeps_its_files(app, clock):
    ticket = web_ticket()
    services.requester_reply(ticket, "", request_key="u1",
                             attachments=[services.attachment("a.png", "image/png", b"1"),
                                          services.attachment("b.png", "image/png", b"22")])
    message = db.session.scalars(sa.select(Message).where(Message.ticket_id == ticket.id)).one()
    assert sorted(a.filename for a in message.attachments) == ["a.png", "b.png"]
    assert message.body == ""  # an email with only a photo has no text


@pytest.mark.parametrize(("status", "after", "line"), [
    ("new", "new", ("reply", "Ann Lee", None, None)),
    ("open", "open", ("reply", "Ann Lee", None, None)),
    ("pending", "open", ("status", "Ann Lee", "pending", "open")),
    ("closed", "closed", ("reply", "Ann Lee", None, None)),
])
def test_a_requesters_reply_moves_only_a_pending_or_recently_resolved_ticket(app, clock, status, after, line):
    ticket = at_status(TicketStatus(status))
    services.requester_reply(ticket, "Any news?", request_key="u1")
    assert ticket.status == TicketStatus(after) and timeline(ticket)[-1] == line
    if status == "pending":
        assert ticket.paused_at is None and ticket.paused_seconds == 0  # paused at T0, answered at T0


@pytest.mark.parametrize(("resolved_ago", "reopens"), [
    (timedelta(days=7), True), (timedelta(days=7, seconds=1), False), (timedelta(days=30), False)])
def test_a_requesters_reply_reopens_a_resolved_ticket_within_seven_days(app, clock, resolved_ago, reopens):
    ticket = at_status(TicketStatus.RESOLVED)
    clock.now = T0 + resolved_ago
    services.requester_reply(ticket, "It's back.", request_key="u1")
    assert messages(ticket)[-1]["body"] == "It's back."  # kept either way
    if reopens:
        assert (ticket.status, ticket.resolved_at) == (TicketStatus.OPEN, None)
        assert timeline(ticket)[-1] == ("reopened", "Ann Lee", "resolved", "open")
    else:
        assert (ticket.status, ticket.resolved_at) == (TicketStatus.RESOLVED, T0)
        assert timeline(ticket)[-1] == ("reply", "Ann Lee", None, None)


def test_a_racing_requesters_reply_is_kept_once(app, clock):
    ticket = web_ticket()
    ticket_id = ticket.id
    at_next_flush(app, lambda: services.requester_reply(db.session.get(Ticket, ticket_id), "Thanks", request_key="u1"))
    message = services.requester_reply(ticket, "Thanks (2)", request_key="u1")
    assert message.body == "Thanks" and [m["body"] for m in messages(ticket)] == ["Thanks"]


def test_a_reply_to_an_inactive_assignee_emails_nobody(app, clock):
    gone = person(name="Gone Tech")
    ticket = web_ticket()
    services.claim(ticket, gone)
    gone.active = False
    db.session.commit()
    services.requester_reply(ticket, "Hello?", request_key="u1")
    assert [kind for kind, _, _ in outbox()] == ["opened"]


# -- an email without the reply code --------------------------------------------------------------------


def test_an_unverified_email_is_held_as_an_internal_note(app, clock):
    tess = person()
    ticket = at_status(TicketStatus.PENDING)
    ticket.assignee = tess
    db.session.commit()
    message = services.hold_unverified_reply(ticket, "  Please send me the VPN keys.  ", sender="ann@example.com",
                                              name="Ann Lee", request_key="email:x1",
                                              attachments=[services.attachment("keys.txt", "text/plain", b"?")])
    who = "Ann Lee <ann@example.com>"
    assert messages(ticket) == [{
        "body": f"Held for a technician: this email names {ticket.label} but not its reply code, so it may not be"
                f" from {who}. It is not shown to the requester; check with them before acting on it.\n\n"
                "Please send me the VPN keys.",
        "internal": True, "from_requester": False, "author_id": None, "author_name": f"Unverified email from {who}"}]
    assert [a.filename for a in message.attachments] == ["keys.txt"]
    assert ticket.status == TicketStatus.PENDING and ticket.paused_at == T0  # it reopens nothing
    assert timeline(ticket)[-1] == ("note", f"Unverified email from {who}", None, None)
    assert (last_event(ticket).actor_id, last_event(ticket).message_id) == (None, message.id)
    assert outbox()[1:] == [("unverified-reply", "tess@example.com", ticket.id)]
    assert links.staff_url(ticket) in mail("unverified-reply").body_text
    assert f"internal note (Unverified email from {who})" in mail("unverified-reply").body_text
    again = services.hold_unverified_reply(ticket, "again", sender="ann@example.com", request_key="email:x1")
    assert again.id == message.id and len(messages(ticket)) == 1 and len(outbox()) == 2


def test_an_unverified_email_delivered_twice_at_once_is_held_once(app, clock):
    ticket = web_ticket()
    ticket_id = ticket.id
    at_next_flush(app, lambda: services.hold_unverified_reply(db.session.get(Ticket, ticket_id), "Hi",
                                                             sender="x@example.com", request_key="e1"))
    message = services.hold_unverified_reply(ticket, "Hi (2)", sender="x@example.com", request_key="e1")
    assert message.body.endswith("\n\nHi") and len(messages(ticket)) == 1


def test_an_unverified_email_without_a_name_is_named_by_its_address(app, clock):
    ticket = web_ticket()
    services.hold_unverified_reply(ticket, None, sender="mallory@" + "m" * 150 + ".example", request_key="k")
    (held,) = messages(ticket)
    assert held["author_name"] == ("Unverified email from mallory@" + "m" * 150)[:120]
    assert held["body"].endswith("before acting on it.\n\n") and "may not be from mallory@mmm" in held["body"]
    assert [kind for kind, _, _ in outbox()] == ["opened"]  # nobody assigned


# -- reopening ----------------------------------------------------------------------------------------


def test_a_resolved_ticket_can_be_reopened_for_seven_days(app, clock):
    ticket = at_status(TicketStatus.RESOLVED)
    assert services.can_reopen(ticket)
    assert services.can_reopen(ticket, T0 + timedelta(days=7))
    assert not services.can_reopen(ticket, T0 + timedelta(days=7, seconds=1))
    clock.advance(days=8)
    assert services.can_reopen(ticket, T0 + timedelta(days=1))  # the time asked about, not now
    assert not services.can_reopen(ticket)
    ticket.resolved_at = None
    assert not services.can_reopen(ticket, T0)
    for status in (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.CLOSED):
        other = at_status(status)
        other.resolved_at = T0
        assert not services.can_reopen(other, T0), status


def test_the_requester_reopens_a_resolved_ticket(app, clock):
    ann = person("requester", "Ann Lee")
    ticket = at_status(TicketStatus.RESOLVED, requester=ann)
    clock.advance(days=2)
    assert services.reopen(ticket, ann) is ticket
    assert (ticket.status, ticket.resolved_at) == (TicketStatus.OPEN, None)
    assert timeline(ticket)[-1] == ("reopened", "Ann Lee", "resolved", "open")
    by_link = at_status(TicketStatus.RESOLVED)
    services.reopen(by_link)  # the reopen link: nobody signed in
    assert timeline(by_link)[-1] == ("reopened", "System", "resolved", "open")
    assert last_event(by_link).actor_id is None


def test_reopening_is_refused_after_seven_days_or_when_not_resolved(app, clock):
    ticket = at_status(TicketStatus.RESOLVED)
    clock.advance(days=7, seconds=1)
    with pytest.raises(ActionError, match="^This ticket can no longer be reopened; please open a new one.$"):
        services.reopen(ticket)
    closed = at_status(TicketStatus.CLOSED)
    with pytest.raises(ActionError, match="no longer be reopened"):
        services.reopen(closed)
    assert (ticket.status, closed.status) == (TicketStatus.RESOLVED, TicketStatus.CLOSED)


# -- merging and linking --------------------------------------------------------------------------------


def test_a_merge_moves_the_messages_notes_the_duplicate_and_tells_its_requester(app, clock):
    tess = person()
    kept = web_ticket(subject="Printer jammed")
    duplicate = web_ticket(subject="2nd floor printer", name="Bo Berg", email="bo@example.com")
    services.requester_reply(duplicate, "It's making a noise too.", request_key="d1")
    services.set_status(duplicate, "pending", tess)
    clock.advance(hours=2)
    assert services.merge(duplicate, kept, tess) is kept
    assert messages(duplicate) == []
    assert messages(kept) == [
        {"body": "It's making a noise too.", "internal": False, "from_requester": True, "author_id": None,
         "author_name": "Bo Berg"},
        {"body": f"{duplicate.label} (2nd floor printer) from Bo Berg was merged into this ticket.",
         "internal": True, "from_requester": False, "author_id": tess.id, "author_name": "Tess Tech"}]
    assert timeline(kept)[-1] == ("merged", "Tess Tech", duplicate.label, kept.label)
    assert timeline(duplicate)[-2:] == [("merged", "Tess Tech", duplicate.label, kept.label),
                                        ("status", "Tess Tech", "pending", "closed")]
    assert (duplicate.merged_into_id, duplicate.status, duplicate.closed_at) == (kept.id, TicketStatus.CLOSED,
                                                                                  T0 + 2 * HOUR)
    assert (duplicate.paused_at, duplicate.paused_seconds, duplicate.resolution_due_at) == (
        None, 2 * 3600, T0 + 74 * HOUR)  # the wait before the merge is added back
    assert (kept.status, kept.merged_into_id) == (TicketStatus.NEW, None)
    assert outbox()[2:] == [("merged", "bo@example.com", duplicate.id)]
    told = mail("merged")
    assert f"Merged into {kept.label}" in told.subject
    assert links.requester_url(duplicate) in told.body_text  # their own page, not the other requester's
    assert links.requester_url(kept) not in told.body_text


def test_the_merge_note_names_an_unnamed_requester_by_address(app, clock):
    kept, duplicate = web_ticket(), web_ticket(subject="Same", name="", email="bo@example.com")
    services.merge(duplicate, kept, person())
    assert messages(kept)[-1]["body"] == f"{duplicate.label} (Same) from bo@example.com was merged into this ticket."


def test_merging_a_closed_duplicate_keeps_its_closing_time(app, clock):
    kept, duplicate = web_ticket(), at_status(TicketStatus.CLOSED)
    clock.advance(days=3)
    services.merge(duplicate, kept, person())
    assert (duplicate.closed_at, duplicate.merged_into_id) == (T0, kept.id)
    assert timeline(duplicate)[-1][0] == "merged"


def test_merges_that_cannot_be_are_refused(app, clock):
    tess = person()
    a, b, c = web_ticket(), web_ticket(), web_ticket()
    with pytest.raises(ActionError, match="^A ticket can't be merged into itself.$"):
        services.merge(a, a, tess)
    with pytest.raises(ActionError, match="^Only technicians can do that.$"):
        services.merge(b, a, person("requester", "Ann Lee"))
    services.merge(b, a, tess)
    with pytest.raises(ActionError, match=f"^{b.label} is already merged.$"):
        services.merge(b, c, tess)
    with pytest.raises(ActionError, match=f"^{b.label} was itself merged into another ticket; merge into that one.$"):
        services.merge(c, b, tess)
    assert (c.merged_into_id, c.status, len(timeline(c))) == (None, TicketStatus.NEW, 1)
    assert [kind for kind, _, _ in outbox()].count("merged") == 1


def test_linking_two_tickets_notes_it_on_both(app, clock):
    tess = person()
    a, b = web_ticket(), web_ticket()
    assert services.link(b, a, tess) is None
    assert [(row.ticket_id, row.other_id) for row in db.session.scalars(sa.select(TicketLink))] == [(a.id, b.id)]
    assert queries.linked(a) == [b] and queries.linked(b) == [a]
    assert timeline(b)[-1] == ("linked", "Tess Tech", None, a.label)
    assert timeline(a)[-1] == ("linked", "Tess Tech", None, b.label)
    with pytest.raises(ActionError, match=f"^{a.label} and {b.label} are already linked.$"):
        services.link(a, b, tess)
    with pytest.raises(ActionError, match=f"^{b.label} and {a.label} are already linked.$"):
        services.link(b, a, tess)
    with pytest.raises(ActionError, match="^A ticket can't be linked to itself.$"):
        services.link(a, a, tess)
    with pytest.raises(ActionError, match="Only technicians"):
        services.link(a, web_ticket(), person("requester", "Ann Lee"))
    assert count(TicketLink) == 1 and [kind for kind, _, _ in outbox()] == ["opened"] * 3


# -- walking a guide with a caller -----------------------------------------------------------------


def test_starting_a_guide_with_a_caller_is_noted(app, clock):
    tess = person()
    ticket = web_ticket()
    services.note_caller_walk(ticket, "Printer won't print", tess)
    assert timeline(ticket)[-1] == ("note", "Tess Tech", None, "started the guide \"Printer won't print\" with the"
                                                                 " caller")
    services.note_caller_walk(ticket, "t" * 300, tess)
    assert timeline(ticket)[-1][3] == ("started the guide '" + "t" * 300)[:200]
    with pytest.raises(ActionError, match="Only technicians"):
        services.note_caller_walk(ticket, "Printer", person("requester", "Ann Lee"))


def test_a_guide_walked_with_the_caller_fills_their_ticket(app, clock):
    tess = person()
    ticket = web_ticket()
    ticket.transcript = [{"flow": "earlier", "step": "x", "type": "info", "at": AT}]
    ticket.form_values = {"room": {"label": "Room", "value": "101"}, "floor": {"label": "Floor", "value": "1"}}
    ticket.failure = "an earlier failure"
    db.session.commit()
    walk, state = a_walk(), a_state(client={"os": "Windows", "mobile": "false"}, status=engine.RESOLVED)
    assert services.attach_walk(ticket, walk, state, tess) is ticket
    db.session.rollback()  # committed: nothing is lost
    assert ticket.transcript == [{"flow": "earlier", "step": "x", "type": "info", "at": AT}] + [
        e.to_dict() for e in state.trail]
    assert ticket.form_values == {"room": {"label": "Room", "value": "301"}, "floor": {"label": "Floor", "value": "1"},
                                  "asset": {"label": "asset", "value": "L-42"}}
    assert ticket.client_facts == {"os": "Windows", "mobile": False}
    assert (ticket.flow_id, ticket.flow_title, ticket.flow_version) == ("printer", "Printer won't print", "v1")
    assert ticket.failure == "an earlier failure"  # kept when the walk itself did not fail
    assert timeline(ticket)[-1] == ("note", "Tess Tech", None,
                                    "walked \"Printer won't print\" with the caller: solved the problem")


def test_a_caller_walk_that_did_not_help_says_so_and_keeps_its_failure(app, clock):
    ticket = web_ticket()
    services.attach_walk(ticket, a_walk(title="VPN"), a_state(failure="no such step"), None)
    assert ticket.failure == "no such step" and ticket.form_values["room"]["value"] == "301"
    assert timeline(ticket)[-1] == ("note", "System", None, "walked 'VPN' with the caller: did not solve it")
    assert len(ticket.transcript) == 2


def test_a_merge_keeps_the_duplicates_description_for_the_desk(app, clock):
    kept = web_ticket(subject="Excel")
    duplicate = services.open_ticket(TicketSource.WEB, subject="Excel again", name="Bo", email="bo@example.com",
                                     description="Excel closes itself after 10 seconds.")[0]
    services.merge(duplicate, kept, person())
    note = messages(kept)[-1]
    assert note["internal"] and note["body"].endswith("Its description:\n\nExcel closes itself after 10 seconds.")


def test_a_reply_on_a_merged_ticket_reaches_the_desk_on_the_kept_one(app, clock):
    tess = person()
    kept = web_ticket(subject="Printer jammed")
    services.assign(kept, tess, tess)
    duplicate = web_ticket(subject="2nd floor printer", name="Bo Berg", email="bo@example.com")
    services.merge(duplicate, kept, tess)
    services.requester_reply(duplicate, "Still jammed this morning.", request_key="late", author_name="Bo Berg")
    # Kept where Bo reads it, and on the kept ticket as a note for the desk only (its requester may be someone else).
    assert messages(duplicate)[-1]["body"] == "Still jammed this morning."
    note = messages(kept)[-1]
    assert note["internal"] and not note["from_requester"]
    assert note["body"] == (f"Bo Berg replied on {duplicate.label}, merged into this ticket:\n\n"
                            "Still jammed this morning.")
    assert duplicate.status == TicketStatus.CLOSED  # the duplicate stays closed
    assert mail("requester-reply").to_address == tess.email
