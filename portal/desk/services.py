"""Ticket operations of the help desk: the only code that changes a ticket after it is opened.

Every operation records itself in the ticket's timeline (an append-only audit trail), queues the
emails it causes in the outbox, and commits all of it in one transaction. Operations that a
ticket's state does not allow raise :class:`ActionError` with a message for the technician.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from ..extensions import db
from ..mail import notify
from ..models import (
    EventKind,
    Message,
    Priority,
    Queue,
    Role,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketStatus,
    User,
)
from . import sla

REOPEN_DAYS = 7

#: Allowed status changes. Anything else is refused.
TRANSITIONS = {
    TicketStatus.NEW: {TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.RESOLVED, TicketStatus.CLOSED},
    TicketStatus.OPEN: {TicketStatus.PENDING, TicketStatus.RESOLVED, TicketStatus.CLOSED},
    TicketStatus.PENDING: {TicketStatus.OPEN, TicketStatus.RESOLVED, TicketStatus.CLOSED},
    TicketStatus.RESOLVED: {TicketStatus.OPEN, TicketStatus.CLOSED},
    TicketStatus.CLOSED: {TicketStatus.OPEN},
}


class ActionError(ValueError):
    """An action the ticket's state or the actor's role does not allow (message for the person)."""


def now() -> datetime:
    return datetime.now(UTC)


def _name(user: User | None) -> str:
    return user.display_name if user is not None else "System"


def record(ticket: Ticket, kind: EventKind, actor: User | None = None, old=None, new=None,
           message: Message | None = None, actor_name: str | None = None) -> TicketEvent:
    """Add one line to the ticket's timeline (not committed)."""
    event = TicketEvent(ticket_id=ticket.id, actor_id=actor.id if actor else None,
                        actor_name=(actor_name or _name(actor))[:120], kind=kind,
                        old=None if old is None else str(old)[:200], new=None if new is None else str(new)[:200],
                        message=message)
    db.session.add(event)
    return event


def start_clock(ticket: Ticket, at: datetime | None = None) -> None:
    """Set the SLA due times of a new ticket from its priority."""
    opened = at or ticket.created_at or now()
    if ticket.priority is None:
        ticket.priority = Priority.NORMAL
    ticket.response_due_at, ticket.resolution_due_at = sla.due_times(opened, ticket.priority.value,
                                                                     current_app.config)


def opened(ticket: Ticket, actor: User | None = None, actor_name: str | None = None) -> None:
    """Everything a newly opened ticket needs: SLA clock, timeline, the requester's email (not committed)."""
    if ticket.created_at is None:
        ticket.created_at = now()
    start_clock(ticket, ticket.created_at)
    db.session.flush()  # the ticket needs its id for the timeline and the email
    record(ticket, EventKind.CREATED, actor, new=ticket.source.value if ticket.source else None,
           actor_name=actor_name or (ticket.requester_name if actor is None else None))
    notify.ticket_opened(ticket)


def _require_staff(actor: User) -> None:
    if actor is None or not actor.is_staff:
        raise ActionError("Only technicians can do that.")


def _commit() -> None:
    db.session.commit()


def _set_status(ticket: Ticket, status: TicketStatus, actor: User | None, *, kind=EventKind.STATUS,
                actor_name: str | None = None) -> None:
    old = ticket.status
    if status == old:
        raise ActionError(f"The ticket is already {status.value}.")
    if status not in TRANSITIONS[old]:
        raise ActionError(f"A {old.value} ticket can't be set to {status.value}.")
    at = now()
    if old == TicketStatus.PENDING:  # the clock runs again; the wait does not count
        _resume_clock(ticket, at)
    if status == TicketStatus.PENDING:
        ticket.paused_at = at
    if status == TicketStatus.RESOLVED:
        ticket.resolved_at = at
    if status == TicketStatus.CLOSED:
        ticket.closed_at = at
    if status == TicketStatus.OPEN and old in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        kind = EventKind.REOPENED
        ticket.resolved_at = None
        ticket.closed_at = None
    ticket.status = status
    record(ticket, kind, actor, old=old.value, new=status.value, actor_name=actor_name)
    if status == TicketStatus.RESOLVED:
        from .links import reopen_url

        notify.ticket_resolved(ticket, reopen_url(ticket))


def _resume_clock(ticket: Ticket, at: datetime) -> None:
    if ticket.paused_at is not None:
        waited = max(at - ticket.paused_at, timedelta(0))
        ticket.paused_seconds = (ticket.paused_seconds or 0) + int(waited.total_seconds())
        ticket.resolution_due_at = sla.resume(ticket.resolution_due_at, ticket.paused_at, at)
        ticket.paused_at = None


def set_status(ticket: Ticket, status: TicketStatus | str, actor: User) -> Ticket:
    """Move a ticket along new -> open -> pending -> resolved -> closed, or reopen it."""
    _require_staff(actor)
    _set_status(ticket, TicketStatus(status), actor)
    _commit()
    return ticket


def claim(ticket: Ticket, technician: User) -> Ticket:
    """Take a ticket: it becomes yours, and a new one becomes open."""
    return assign(ticket, technician, technician)


def assign(ticket: Ticket, assignee: User | None, actor: User) -> Ticket:
    """Give a ticket to a technician (or to nobody); they are told by email unless they did it."""
    _require_staff(actor)
    if assignee is not None and not (assignee.is_staff and assignee.active):
        raise ActionError("Tickets can only be assigned to active technicians.")
    if (assignee.id if assignee else None) == ticket.assignee_id:
        raise ActionError("The ticket is already assigned to " + (_name(assignee) if assignee else "nobody") + ".")
    old = ticket.assignee.display_name if ticket.assignee else "nobody"
    ticket.assignee_id = assignee.id if assignee else None
    ticket.assignee = assignee
    record(ticket, EventKind.ASSIGNED, actor, old=old, new=_name(assignee) if assignee else "nobody")
    if assignee is not None and ticket.status == TicketStatus.NEW:
        _set_status(ticket, TicketStatus.OPEN, actor)
    if assignee is not None and assignee.id != actor.id:
        notify.ticket_assigned(ticket, assignee)
    _commit()
    return ticket


def set_priority(ticket: Ticket, priority: Priority | str, actor: User) -> Ticket:
    """Change the priority; the SLA due times follow it (from when the ticket was opened)."""
    _require_staff(actor)
    priority = Priority(priority)
    if priority == ticket.priority:
        raise ActionError(f"The priority is already {priority.value}.")
    old = ticket.priority.value
    ticket.priority = priority
    response_due, resolution_due = sla.due_times(ticket.created_at, priority.value, current_app.config)
    ticket.response_due_at = response_due
    ticket.resolution_due_at = resolution_due + timedelta(seconds=ticket.paused_seconds or 0)
    record(ticket, EventKind.PRIORITY, actor, old=old, new=priority.value)
    _commit()
    return ticket


def set_queue(ticket: Ticket, queue: str, actor: User) -> Ticket:
    """Move the ticket to another queue."""
    _require_staff(actor)
    queue = (queue or "").strip()
    if not queue:
        raise ActionError("Choose a queue.")
    if queue == ticket.queue:
        raise ActionError(f"The ticket is already in {queue}.")
    old = ticket.queue
    ticket.queue = queue[:60]
    record(ticket, EventKind.QUEUE, actor, old=old, new=ticket.queue)
    _commit()
    return ticket


def _existing_message(ticket: Ticket, request_key: str | None) -> Message | None:
    if not request_key:
        return None
    return db.session.scalar(sa.select(Message).where(Message.ticket_id == ticket.id,
                                                      Message.request_key == request_key))


def _commit_message(ticket: Ticket, message: Message, request_key: str | None) -> Message:
    """Commit a new message; if a racing request stored the same form first, return that one."""
    try:
        _commit()
    except IntegrityError:
        db.session.rollback()
        existing = _existing_message(ticket, request_key)
        if existing is None:
            raise
        return existing
    return message


def staff_reply(ticket: Ticket, author: User, body: str, *, internal: bool, request_key: str | None) -> Message:
    """A technician's public reply (emailed to the requester) or internal note (never shown to them).

    The form's one-time key makes a double click or a retry add the message once.
    """
    _require_staff(author)
    body = (body or "").strip()
    if not body:
        raise ActionError("Write something first.")
    existing = _existing_message(ticket, request_key)
    if existing is not None:
        return existing
    message = Message(ticket_id=ticket.id, author_id=author.id, author_name=author.display_name, body=body,
                      internal=internal, from_requester=False, request_key=request_key)
    db.session.add(message)
    db.session.flush()
    record(ticket, EventKind.NOTE if internal else EventKind.REPLY, author, message=message)
    if not internal:
        if ticket.first_response_at is None:
            ticket.first_response_at = now()
        if ticket.status == TicketStatus.NEW:
            _set_status(ticket, TicketStatus.OPEN, author)
        notify.public_reply(ticket, message)
    return _commit_message(ticket, message, request_key)


def requester_reply(ticket: Ticket, body: str, *, request_key: str | None, author: User | None = None,
                    author_name: str | None = None, attachments=()) -> Message:
    """The requester's reply (web or email), kept once per form or email.

    A pending ticket goes back to open, and so does one resolved in the last 7 days; on an older
    or closed ticket the reply is kept and the assignee is told.
    """
    existing = _existing_message(ticket, request_key)
    if existing is not None:
        return existing
    message = Message(ticket_id=ticket.id, author_id=author.id if author else None,
                      author_name=author_name or (author.display_name if author else ticket.requester_name),
                      body=(body or "").strip(), internal=False, from_requester=True, request_key=request_key)
    for attachment in attachments:
        message.attachments.append(attachment)
    db.session.add(message)
    db.session.flush()
    record(ticket, EventKind.REPLY, author, message=message, actor_name=message.author_name)
    if ticket.status == TicketStatus.PENDING or ticket.status == TicketStatus.RESOLVED and can_reopen(ticket):
        _set_status(ticket, TicketStatus.OPEN, author, actor_name=message.author_name)
    notify.requester_replied(ticket, message)
    return _commit_message(ticket, message, request_key)


def can_reopen(ticket: Ticket, at: datetime | None = None) -> bool:
    """A resolved ticket can be reopened by its requester for 7 days."""
    if ticket.status != TicketStatus.RESOLVED or ticket.resolved_at is None:
        return False
    return (at or now()) - ticket.resolved_at <= timedelta(days=REOPEN_DAYS)


def reopen(ticket: Ticket, actor: User | None = None) -> Ticket:
    """The requester reopens a resolved ticket (within 7 days)."""
    if not can_reopen(ticket):
        raise ActionError("This ticket can no longer be reopened; please open a new one.")
    _set_status(ticket, TicketStatus.OPEN, actor)
    _commit()
    return ticket


def merge(source: Ticket, target: Ticket, actor: User) -> Ticket:
    """Merge a duplicate into another ticket: its messages move over, it closes, its requester is told."""
    _require_staff(actor)
    if source.id == target.id:
        raise ActionError("A ticket can't be merged into itself.")
    if source.merged_into_id is not None:
        raise ActionError(f"{source.label} is already merged.")
    if target.merged_into_id is not None:
        raise ActionError(f"{target.label} was itself merged into another ticket; merge into that one.")
    for message in list(source.messages):
        message.ticket_id = target.id
    db.session.flush()
    # The source's own timeline stays as it was: an audit trail is never rewritten.
    note = Message(ticket_id=target.id, author_id=actor.id, author_name=actor.display_name, internal=True,
                   from_requester=False,
                   body=f"{source.label} ({source.subject}) from {source.requester_name or source.requester_email}"
                        f" was merged into this ticket.")
    db.session.add(note)
    record(target, EventKind.MERGED, actor, old=source.label, new=target.label)
    record(source, EventKind.MERGED, actor, old=source.label, new=target.label)
    source.merged_into_id = target.id
    if source.status != TicketStatus.CLOSED:
        old = source.status
        _resume_clock(source, now())
        source.status = TicketStatus.CLOSED
        source.closed_at = now()
        record(source, EventKind.STATUS, actor, old=old.value, new=TicketStatus.CLOSED.value)
    notify.ticket_merged(source, target)
    _commit()
    return target


def link(ticket: Ticket, other: Ticket, actor: User) -> None:
    """Mark two tickets as related (both timelines say so)."""
    _require_staff(actor)
    if ticket.id == other.id:
        raise ActionError("A ticket can't be linked to itself.")
    low, high = sorted((ticket.id, other.id))
    if db.session.get(TicketLink, (low, high)) is not None:
        raise ActionError(f"{ticket.label} and {other.label} are already linked.")
    db.session.add(TicketLink(ticket_id=low, other_id=high))
    record(ticket, EventKind.LINKED, actor, new=other.label)
    record(other, EventKind.LINKED, actor, new=ticket.label)
    _commit()


def linked(ticket: Ticket) -> list:
    """The tickets linked to this one."""
    ids = db.session.execute(sa.select(TicketLink.ticket_id, TicketLink.other_id).where(
        sa.or_(TicketLink.ticket_id == ticket.id, TicketLink.other_id == ticket.id))).all()
    others = [b if a == ticket.id else a for a, b in ids]
    if not others:
        return []
    return db.session.scalars(sa.select(Ticket).where(Ticket.id.in_(others)).order_by(Ticket.id)).all()


def technicians() -> list:
    """Active technicians and admins, by name."""
    return db.session.scalars(sa.select(User).where(User.role.in_([Role.TECHNICIAN, Role.ADMIN]),
                                                    User.active.is_(True)).order_by(User.name, User.email)).all()


def queue_names() -> list:
    """Every queue name: the admins' list, plus any a flow or ticket uses."""
    names = set(db.session.scalars(sa.select(Queue.name).where(Queue.active.is_(True))))
    # A loose index scan: one probe of the queue index per queue name, not a read of every ticket.
    used = sa.select(sa.func.min(Ticket.queue).label("name")).cte("used_queues", recursive=True)
    later = aliased(Ticket)
    used = used.union_all(
        sa.select(sa.select(sa.func.min(later.queue)).where(later.queue > used.c.name).scalar_subquery())
        .where(used.c.name.is_not(None)))
    names.update(db.session.scalars(sa.select(used.c.name).where(used.c.name.is_not(None))))
    return sorted(n for n in names if n)


def open_on_behalf(actor: User, *, email: str, name: str, subject: str, description: str, queue: str,
                   priority: str, request_key: str) -> Ticket:
    """A ticket a technician logs for a requester, found by email or created (without a password)."""
    _require_staff(actor)
    existing = db.session.scalar(sa.select(Ticket).where(Ticket.request_key == request_key))
    if existing is not None:
        return existing
    email = email.strip().lower()
    requester = db.session.scalar(sa.select(User).where(User.email == email))
    if requester is None:
        requester = User(email=email, name=(name or "").strip(), role=Role.REQUESTER)
        db.session.add(requester)
        db.session.flush()
    from ..models import TicketSource

    ticket = Ticket(request_key=request_key, requester_id=requester.id,
                    requester_name=(name or "").strip() or requester.display_name, requester_email=email,
                    subject=subject.strip()[:200], description=description.strip(), queue=(queue or "general")[:60],
                    priority=Priority(priority), status=TicketStatus.NEW, source=TicketSource.PHONE)
    db.session.add(ticket)
    opened(ticket, actor)
    _commit()
    return ticket


def start_caller_walk(ticket: Ticket, flow, actor: User, *, os: str, mobile: bool):
    """Start a walk in agent mode for the ticket's requester; it ends in this ticket."""
    _require_staff(actor)
    from ..selfservice.services import start_walk

    walk = start_walk(flow, {"os": os, "mobile": mobile}, user_id=ticket.requester_id, agent_id=actor.id,
                      ticket_id=ticket.id)
    record(ticket, EventKind.NOTE, actor, new=f"started the guide {flow.title!r} with the caller")
    _commit()
    return walk


def attach_walk(ticket: Ticket, walk, state, actor: User | None) -> Ticket:
    """Put an agent-mode walk's transcript into its ticket, exactly as if the caller had walked it."""
    from ..tickets.services import form_values

    ticket.transcript = list(ticket.transcript or []) + [e.to_dict() for e in state.trail]
    values = dict(ticket.form_values or {})
    values.update(form_values(state))
    ticket.form_values = values
    ticket.client_facts = {"os": state.client.get("os", "Other"), "mobile": state.client.get("mobile") == "true"}
    ticket.flow_id = walk.flow_id
    ticket.flow_title = walk.flow_title
    ticket.flow_version = walk.version_hash
    if state.failure:
        ticket.failure = state.failure
    outcome = "solved the problem" if state.status == "resolved" else "did not solve it"
    record(ticket, EventKind.NOTE, actor, new=f"walked {walk.flow_title!r} with the caller: {outcome}")
    _commit()
    return ticket


def status_changes(ticket: Ticket) -> list:
    """The ticket's status changes, oldest first, for the requester's page."""
    return db.session.scalars(sa.select(TicketEvent).where(
        TicketEvent.ticket_id == ticket.id,
        TicketEvent.kind.in_([EventKind.STATUS, EventKind.REOPENED, EventKind.MERGED])).order_by(TicketEvent.id)).all()
