"""Ticket operations: the only code that writes tickets and messages."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from ..desk import services as desk
from ..extensions import db
from ..flows import engine
from ..models import Message, Priority, Ticket, TicketSource, TicketStatus, User, Walk
from ..selfservice.services import mark_escalated

SUBJECT_MAX = 200


def form_values(state: engine.State) -> dict:
    """A walk's form answers: field name -> {label, value}."""
    values = {}
    for entry in state.trail:
        if entry.type == "form":
            for name, value in entry.values.items():
                values[name] = {"label": entry.labels.get(name, name), "value": value}
    return values


def open_ticket_for_walk(walk: Walk, state: engine.State, *, requester: User | None = None, name: str = "",
                         email: str = "") -> Ticket:
    """Open the ticket of an escalated walk and end the walk, in one transaction; exactly once.

    A second call for the same walk (double click, reload, retry, a racing request) returns the
    ticket the first one opened: the unique walk_id makes a second row impossible.
    """
    existing = db.session.scalar(sa.select(Ticket).where(Ticket.walk_id == walk.id))
    if existing is not None:
        return existing
    info = dict(state.ticket or {})
    priority = info.get("priority") or "normal"
    ticket = Ticket(
        walk_id=walk.id,
        requester_id=requester.id if requester else None,
        requester_name=(requester.display_name if requester else name.strip())[:120],
        requester_email=(requester.email if requester else email.strip().lower())[:254],
        subject=(info.get("summary") or f"{walk.flow_title}: not solved")[:SUBJECT_MAX],
        queue=(info.get("queue") or "general")[:60],
        priority=Priority(priority) if priority in Priority.__members__.values() else Priority.NORMAL,
        status=TicketStatus.NEW,
        flow_id=walk.flow_id,
        flow_title=walk.flow_title,
        flow_version=walk.version_hash,
        transcript=[e.to_dict() for e in state.trail],
        form_values=form_values(state),
        client_facts={"os": state.client.get("os", "Other"), "mobile": state.client.get("mobile") == "true"},
        failure=state.failure,
        source=TicketSource.WALK,
        requester=requester,
    )
    mark_escalated(walk, state)
    db.session.add(ticket)
    try:
        desk.opened(ticket)
        db.session.commit()
    except (IntegrityError, StaleDataError):
        db.session.rollback()
        existing = db.session.scalar(sa.select(Ticket).where(Ticket.walk_id == walk.id))
        if existing is None:
            raise
        return existing
    return ticket


def open_direct_ticket(*, subject: str, description: str, request_key: str, requester: User | None = None,
                       name: str = "", email: str = "") -> Ticket:
    """Open a ticket from the contact form; the form's one-time key makes a resubmission a no-op."""
    existing = db.session.scalar(sa.select(Ticket).where(Ticket.request_key == request_key))
    if existing is not None:
        return existing
    ticket = Ticket(
        request_key=request_key,
        requester_id=requester.id if requester else None,
        requester_name=(requester.display_name if requester else name.strip())[:120],
        requester_email=(requester.email if requester else email.strip().lower())[:254],
        subject=subject.strip()[:SUBJECT_MAX],
        description=description.strip(),
        status=TicketStatus.NEW,
        source=TicketSource.WEB,
        requester=requester,
    )
    db.session.add(ticket)
    try:
        desk.opened(ticket)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = db.session.scalar(sa.select(Ticket).where(Ticket.request_key == request_key))
        if existing is None:
            raise
        return existing
    return ticket


def add_reply(ticket: Ticket, body: str, *, request_key: str, author: User | None = None) -> Message:
    """The requester's reply from the ticket page, kept once per form submission."""
    return desk.requester_reply(ticket, body, request_key=request_key, author=author)


def tickets_of(user: User) -> list:
    """A requester's tickets, newest first."""
    return db.session.scalars(sa.select(Ticket).where(Ticket.requester_id == user.id)
                              .order_by(Ticket.id.desc())).all()


def ticket_by_number(number: int) -> Ticket | None:
    return db.session.get(Ticket, Ticket.id_from_number(number))
