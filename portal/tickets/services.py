"""Ticket operations: the only code that writes tickets, messages, attachments and links.

Every operation records itself in the ticket's timeline (an append-only audit trail), queues the
emails it causes in the outbox (:mod:`portal.mail.notify`), and commits all of it in one
transaction. Operations that a ticket's state does not allow raise :class:`ActionError` with a
message for the person.

Tickets are opened in one place, :func:`open_ticket`, whatever their source (a walk that
escalated, the contact form, a call the desk logged, an email). A ticket is opened at most once
per request: a walk opens one ticket (the unique ``walk_id``), and every other source passes a
one-time key (the form's hidden key, the email's Message-ID) stored in the namespace of its source.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import TooManyRequests

from .. import clock, timefmt
from ..extensions import db
from ..flows import engine
from ..mail import notify
from ..models import (
    Attachment,
    EventKind,
    Message,
    Priority,
    Role,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketRating,
    TicketSource,
    TicketStatus,
    User,
    Walk,
)
from ..models.satisfaction import COMMENT_MAX as RATING_COMMENT_MAX
from ..models.satisfaction import RATING_MAX, RATING_MIN
from . import attachments, links, sla
from .queries import SELF_OPENED_SOURCES

SUBJECT_MAX = 200
NAME_MAX = 120
EMAIL_MAX = 254
QUEUE_MAX = 60
WITHDRAW_REASON_MAX = 2000  # "why I no longer need help", optional
DEFAULT_QUEUE = "general"
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


def _name(user: User | None) -> str:
    return user.display_name if user is not None else "System"


def record(ticket: Ticket, kind: EventKind, actor: User | None = None, old=None, new=None,
           message: Message | None = None, actor_name: str | None = None) -> TicketEvent:
    """Add one line to the ticket's timeline (not committed)."""
    event = TicketEvent(ticket_id=ticket.id, actor_id=actor.id if actor else None,
                        actor_name=(actor_name or _name(actor))[:NAME_MAX], kind=kind,
                        old=None if old is None else str(old)[:200], new=None if new is None else str(new)[:200],
                        message=message)
    db.session.add(event)
    return event


def _require_staff(actor: User | None) -> None:
    if actor is None or not actor.is_staff:
        raise ActionError("Only technicians can do that.")


def _commit() -> None:
    db.session.commit()


# -- opening ------------------------------------------------------------------------------------------


def form_values(state: engine.State) -> dict:
    """A walk's form answers: field name -> {label, value}."""
    values = {}
    for entry in state.trail:
        if entry.type == "form":
            for name, value in entry.values.items():
                values[name] = {"label": entry.labels.get(name, name), "value": engine.file_name(value)}
    return values


def _client_facts(state: engine.State) -> dict:
    return {"os": state.client.get("os", "Other"), "mobile": state.client.get("mobile") == "true"}


def _priority(value) -> Priority:
    return Priority(value) if value in Priority.__members__.values() else Priority.NORMAL


def _stored_key(source: TicketSource, request_key: str | None, owner: str = "") -> str | None:
    """The one-time key as stored: in its source's namespace and bound to who sent it.

    A key only finds the ticket that the same person (`owner`: an account, a browser session)
    opened with it from the same source, so a key that leaks (a hidden form field, an email's
    Message-ID seen in a Cc) can't be used to reach somebody else's ticket. The form's key is
    hashed, so whatever length or characters it arrives with, the stored key fits its column.
    """
    if not request_key:
        return None
    if source == TicketSource.EMAIL:
        return f"email:{request_key}"  # already a digest of the Message-ID; email has no session
    digest = hashlib.sha256(f"{owner}\n{request_key}".encode("utf-8", "replace")).hexdigest()[:48]
    return f"{source.value}:{digest}"


#: Built once, at import: every ticket opened asks one of them first, and deriving a fresh statement's
#: cache key costs more than running it.
_TICKET_OF_WALK = sa.select(Ticket).where(Ticket.walk_id == sa.bindparam("walk_id"))
_TICKET_OF_KEY = sa.select(Ticket).where(Ticket.request_key == sa.bindparam("key"))
_MESSAGE_OF_KEY = sa.select(Message).where(Message.ticket_id == sa.bindparam("ticket_id"),
                                           Message.request_key == sa.bindparam("key"))


def _existing(walk_id: str | None, stored_key: str | None) -> Ticket | None:
    if walk_id is not None:
        return db.session.scalar(_TICKET_OF_WALK, {"walk_id": walk_id})
    if stored_key is not None:
        return db.session.scalar(_TICKET_OF_KEY, {"key": stored_key})
    return None


@dataclass(frozen=True)
class TicketDraft:
    """What a ticket opened with these values carries: built by :func:`ticket_preview`, nothing written."""

    subject: str
    queue: str
    priority: Priority
    transcript: list | None = None  # a walk's: its entries as stored on the ticket
    form_values: dict = field(default_factory=dict)
    client_facts: dict | None = None
    failure: str | None = None


def ticket_preview(*, subject: str, queue: str | None = None, priority: Priority | str | None = None,
                   state: engine.State | None = None) -> TicketDraft:
    """The subject, queue, priority and transcript a ticket opened with these values gets (read-only).

    :func:`open_ticket` builds its ticket from this, so a preview shows exactly what would be opened.
    """
    draft = TicketDraft(subject=(subject or "").strip()[:SUBJECT_MAX] or "(no subject)",
                        queue=((queue or "").strip() or DEFAULT_QUEUE)[:QUEUE_MAX], priority=_priority(priority))
    if state is None:
        return draft
    return TicketDraft(draft.subject, draft.queue, draft.priority, transcript=[e.to_dict() for e in state.trail],
                       form_values=form_values(state), client_facts=_client_facts(state), failure=state.failure)


def walk_ticket(flow_title: str, state: engine.State) -> TicketDraft:
    """The ticket an escalated walk opens (its escalation's summary, queue and priority), not written."""
    info = dict(state.ticket or {})
    return ticket_preview(subject=info.get("summary") or f"{flow_title}: not solved", queue=info.get("queue"),
                          priority=info.get("priority"), state=state)


def start_clock(ticket: Ticket, at: datetime | None = None) -> None:
    """Set the SLA due times of a new ticket from its priority."""
    opened_at = at or ticket.created_at or clock.now()
    if ticket.priority is None:
        ticket.priority = Priority.NORMAL
    ticket.response_due_at, ticket.resolution_due_at = sla.due_times(opened_at, ticket.priority.value,
                                                                     current_app.config)


def open_ticket(source: TicketSource | str, *, subject: str, description: str = "",
                request_key: str | None = None, owner: str = "", requester: User | None = None, name: str = "",
                email: str = "", time_zone: str | None = None,
                queue: str | None = None, priority: Priority | str | None = None,
                walk: Walk | None = None, state: engine.State | None = None,
                actor: User | None = None, attachments: tuple | list = (),
                status: TicketStatus = TicketStatus.NEW, known_issue_id: int | None = None,
                then=None) -> tuple[Ticket, bool]:
    """Open a ticket, exactly once per walk or one-time key: (the ticket, True if this call opened it).

    A second call with the same walk or key (double click, reload, retry, a racing request, an
    email delivered twice) returns the ticket the first one opened: the unique ``walk_id`` and
    ``request_key`` columns make a second row impossible. The key counts only for the same `owner`
    (see :func:`_stored_key`). Everything a new ticket needs (the SLA
    clock, the first line of its timeline, the requester's email, the files sent with it) is
    committed with it. The requester's time zone is their account's, else `time_zone` (their browser's)
    when it is a real one. A ticket joining a known issue opens as `status` (open: it skips triage) with
    `known_issue_id`, and `then(ticket)` adds what must be committed with it (the issue's person row).
    """
    source = TicketSource(source)
    key = _stored_key(source, request_key, owner or (f"user:{requester.id}" if requester else ""))
    walk_id = walk.id if walk is not None else None
    existing = _existing(walk_id, key)
    if existing is not None:
        return existing, False
    if requester is not None and source in SELF_OPENED_SOURCES:
        _refuse_a_flood(requester)
    draft = ticket_preview(subject=subject, queue=queue, priority=priority, state=state if walk is not None else None)
    ticket = Ticket(
        walk_id=walk_id, request_key=None if walk is not None else key,
        requester_id=requester.id if requester else None, requester=requester,
        requester_name=((name or "").strip() or (requester.display_name if requester else ""))[:NAME_MAX],
        requester_email=(requester.email if requester else (email or "").strip().lower())[:EMAIL_MAX],
        subject=draft.subject, description=(description or "").strip(), queue=draft.queue, priority=draft.priority,
        status=status, source=source, known_issue_id=known_issue_id,
        requester_time_zone=(timefmt.valid_zone(requester.time_zone if requester else None)
                             or timefmt.valid_zone(time_zone)),
    )
    if draft.transcript is not None:
        ticket.flow_id, ticket.flow_title, ticket.flow_version = walk.flow_id, walk.flow_title, walk.version_hash
        ticket.transcript = draft.transcript
        ticket.form_values = draft.form_values
        ticket.client_facts = draft.client_facts
        ticket.failure = draft.failure
    db.session.add(ticket)
    try:
        _opened(ticket, actor, attachments)
        if then is not None:
            then(ticket)
        _commit()
    except (IntegrityError, StaleDataError):
        db.session.rollback()
        existing = _existing(walk_id, key)
        if existing is None:
            raise
        return existing, False
    return ticket, True


class TooManyTickets(TooManyRequests):
    """An account opened more tickets itself within an hour than a person does (a script, a stuck form)."""

    advice = ("You've opened several tickets in the last hour. Add anything new to one of them from My tickets, "
              "or wait a little before opening another.")


def _refuse_a_flood(requester: User) -> None:
    """Refuse a ticket beyond ``TICKETS_PER_HOUR`` opened by this account itself (counted in the database)."""
    limit = current_app.config.get("TICKETS_PER_HOUR")
    if not limit or not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    now = clock.now()
    opened, oldest = db.session.execute(sa.select(sa.func.count(), sa.func.min(Ticket.created_at)).where(
        Ticket.requester_id == requester.id, Ticket.source.in_(SELF_OPENED_SOURCES),
        Ticket.created_at >= now - timedelta(hours=1))).one()
    if opened >= limit:
        refusal = TooManyTickets()
        refusal.retry_after = (oldest + timedelta(hours=1) - now).total_seconds()  # when a slot frees
        raise refusal


def _opened(ticket: Ticket, actor: User | None, attachments) -> None:
    """Everything a newly opened ticket needs: SLA clock, timeline, files, the requester's email."""
    if ticket.created_at is None:
        ticket.created_at = clock.now()
    start_clock(ticket, ticket.created_at)
    db.session.flush()  # the ticket needs its id for the timeline and the email
    author = (ticket.requester_name or ticket.requester_email)[:NAME_MAX]
    record(ticket, EventKind.CREATED, actor, new=ticket.source.value if ticket.source else None,
           actor_name=None if actor is not None else author)
    if attachments:
        names = ", ".join(a.filename for a in attachments)
        db.session.add(Message(ticket_id=ticket.id, author_id=ticket.requester_id, author_name=author,
                               body=f"Files sent with the request: {names}", internal=False, from_requester=True,
                               request_key=ticket.request_key, attachments=list(attachments)))
    notify.ticket_opened(ticket, links.requester_url(ticket))


def requester_for(email: str, name: str = "") -> User:
    """The account of the person with this email, created (without a password) if there is none."""
    email = (email or "").strip().lower()
    requester = db.session.scalar(sa.select(User).where(User.email == email))
    if requester is None:
        requester = User(email=email, name=(name or "").strip()[:NAME_MAX], role=Role.REQUESTER)
        db.session.add(requester)
        db.session.flush()
    return requester


def call_back(phone: str) -> str:
    """The ticket description that asks the help desk to call (no phone: none)."""
    phone = " ".join((phone or "").split())
    return f"Please call me on {phone}." if phone else ""


def open_on_behalf(actor: User, *, email: str, name: str, subject: str, description: str, queue: str,
                   priority: str, request_key: str) -> Ticket:
    """A ticket a technician logs for a caller, found by email or created (without a password)."""
    _require_staff(actor)
    owner = f"user:{actor.id}"
    existing = _existing(None, _stored_key(TicketSource.PHONE, request_key, owner))
    if existing is not None:
        return existing
    requester = requester_for(email, name)
    ticket, _ = open_ticket(TicketSource.PHONE, subject=subject, description=description, request_key=request_key,
                            owner=owner, requester=requester, name=name, queue=queue, priority=priority,
                            actor=actor)
    return ticket


def attachment(filename: str, content_type: str | None, data: bytes) -> Attachment:
    """A file to store with a message (added with the message): its body written to the attachments folder.

    The type is sniffed from the bytes; the sender's `content_type` (a mail part's, a browser's) is not trusted.
    """
    key = attachments.store(data)
    return Attachment(filename=attachments.safe_name(filename), content_type=attachments.sniff(data),
                      size=len(data), storage_key=key, sha256=key)


# -- status, assignment, priority, queue ----------------------------------------------------------------


def _set_status(ticket: Ticket, status: TicketStatus, actor: User | None, *, kind=EventKind.STATUS,
                actor_name: str | None = None, tell_requester: bool = True) -> None:
    old = ticket.status
    if status == old:
        raise ActionError(f"The ticket is already {status.value}.")
    if status not in TRANSITIONS[old]:
        raise ActionError(f"A {old.value} ticket can't be set to {status.value}.")
    at = clock.now()
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
    if status == TicketStatus.RESOLVED and tell_requester:
        notify.ticket_resolved(ticket, links.requester_url(ticket), links.reopen_url(ticket))


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
    _require_assignable(assignee)
    _assign(ticket, assignee, actor)
    _commit()
    return ticket


def _require_assignable(assignee: User | None) -> None:
    if assignee is not None and not (assignee.is_staff and assignee.active):
        raise ActionError("Tickets can only be assigned to active technicians.")


def _assign(ticket: Ticket, assignee: User | None, actor: User, *, tell: bool = True) -> None:
    """Assign (not committed): the timeline, a new ticket becomes open, the assignee's email (unless not `tell`)."""
    if (assignee.id if assignee else None) == ticket.assignee_id:
        raise ActionError("The ticket is already assigned to " + (_name(assignee) if assignee else "nobody") + ".")
    old = ticket.assignee.display_name if ticket.assignee else "nobody"
    ticket.assignee_id = assignee.id if assignee else None
    ticket.assignee = assignee
    record(ticket, EventKind.ASSIGNED, actor, old=old, new=_name(assignee) if assignee else "nobody")
    if assignee is not None and ticket.status == TicketStatus.NEW:
        _set_status(ticket, TicketStatus.OPEN, actor)
    if tell and assignee is not None and assignee.id != actor.id:
        notify.ticket_assigned(ticket, assignee, links.staff_url(ticket))


@dataclass(frozen=True)
class BulkResult:
    """What a change to many tickets did: the tickets changed, and each one left as it was with why."""

    changed: list
    refused: list  # [(ticket, the ActionError's message)]


def _bulk(tickets, change, *, commit: bool = True) -> BulkResult:
    """Apply `change` to each ticket that can take it, leave the others as they are, and commit once (unless
    not `commit`: the caller adds to the same transaction and commits).

    Every check of a change comes before its first write, so a refused ticket is left untouched.
    """
    changed, refused = [], []
    for ticket in tickets:
        if ticket.merged_into_id is not None:  # lives on in another ticket: change that one
            refused.append((ticket, f"Merged into {ticket.merged_into.label}."))
            continue
        try:
            change(ticket)
        except ActionError as exc:
            refused.append((ticket, str(exc)))
        else:
            changed.append(ticket)
    if commit:
        _commit()
    return BulkResult(changed, refused)


def bulk_assign(tickets, assignee: User | None, actor: User) -> BulkResult:
    """Assign many tickets at once (the queue's bulk form), each as :func:`assign` does; one commit.

    The assignee gets one email for them all (a list when there are several), not one per ticket.
    """
    _require_staff(actor)
    _require_assignable(assignee)
    done = _bulk(tickets, lambda ticket: _assign(ticket, assignee, actor, tell=False), commit=False)
    if done.changed and assignee is not None and assignee.id != actor.id:
        if len(done.changed) == 1:
            notify.ticket_assigned(done.changed[0], assignee, links.staff_url(done.changed[0]))
        else:
            notify.tickets_assigned(done.changed, assignee, [links.staff_url(t) for t in done.changed])
    _commit()
    return done


def bulk_set_status(tickets, status: TicketStatus | str, actor: User) -> BulkResult:
    """Set the status of many tickets at once, each as :func:`set_status` does; one commit."""
    _require_staff(actor)
    status = TicketStatus(status)
    return _bulk(tickets, lambda ticket: _set_status(ticket, status, actor))


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
    ticket.queue = queue[:QUEUE_MAX]
    record(ticket, EventKind.QUEUE, actor, old=old, new=ticket.queue)
    _commit()
    return ticket


# -- messages ---------------------------------------------------------------------------------------


def _existing_message(ticket: Ticket, request_key: str | None) -> Message | None:
    if not request_key:
        return None
    return db.session.scalar(_MESSAGE_OF_KEY, {"ticket_id": ticket.id, "key": request_key})


def has_message(ticket: Ticket, request_key: str) -> bool:
    """True if the form or email with this key already added its message to the ticket."""
    return _existing_message(ticket, request_key) is not None


def _add_message_once(ticket: Ticket, message: Message, request_key: str | None, then) -> Message:
    """Add and commit a new message with what it causes (`then(message)`), once per form or email.

    A racing request that stored the same form first (a double click that reached two workers)
    makes the insert fail, at the flush or at the commit: then that request's message is the one.
    """
    try:
        db.session.add(message)
        db.session.flush()
        then(message)
        _commit()
    except IntegrityError:
        db.session.rollback()
        existing = _existing_message(ticket, request_key)
        if existing is None:
            raise
        return existing
    return message


def staff_reply(ticket: Ticket, author: User, body: str, *, internal: bool, request_key: str | None,
                attachments=(), then_status: TicketStatus | str | None = None) -> Message:
    """A technician's public reply (emailed to the requester) or internal note (never shown to them).

    The form's one-time key makes a double click or a retry add the message once. `then_status`
    ("Send and set status") moves the ticket in the same commit; a move the ticket can't make
    refuses the whole reply, before anything is written.
    """
    _require_staff(author)
    body = (body or "").strip()
    if not body and not attachments:
        raise ActionError("Write the message first.")
    target = TicketStatus(then_status) if then_status else None
    after_reply = TicketStatus.OPEN if ticket.status == TicketStatus.NEW and not internal else ticket.status
    if target is not None and target != after_reply and target not in TRANSITIONS[after_reply]:
        raise ActionError(f"A {after_reply.value} ticket can't be set to {target.value}: "
                          "choose another status, or keep it.")
    existing = _existing_message(ticket, request_key)
    if existing is not None:
        return existing
    message = Message(ticket_id=ticket.id, author_id=author.id, author_name=author.display_name, body=body,
                      internal=internal, from_requester=False, request_key=request_key)
    for item in attachments:
        message.attachments.append(item)

    def then(message: Message) -> None:
        record(ticket, EventKind.NOTE if internal else EventKind.REPLY, author, message=message)
        if not internal:
            if ticket.first_response_at is None:
                ticket.first_response_at = clock.now()
            if ticket.status == TicketStatus.NEW:
                _set_status(ticket, TicketStatus.OPEN, author)
            notify.public_reply(ticket, message, links.requester_url(ticket))
        if target is not None and target != ticket.status:
            _set_status(ticket, target, author)

    return _add_message_once(ticket, message, request_key, then)


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
    for item in attachments:
        message.attachments.append(item)

    def then(message: Message) -> None:
        record(ticket, EventKind.REPLY, author, message=message, actor_name=message.author_name)
        if ticket.merged_into_id is not None:  # the desk works on the ticket it was merged into: it goes there
            _forward_to_merged(ticket, message, author)
            return
        if ticket.status == TicketStatus.PENDING or ticket.status == TicketStatus.RESOLVED and can_reopen(ticket):
            _set_status(ticket, TicketStatus.OPEN, author, actor_name=message.author_name)
        notify.requester_replied(ticket, message, links.staff_url(ticket))

    return _add_message_once(ticket, message, request_key, then)


def closed_for_replies(ticket: Ticket) -> bool:
    """True if a requester's words no longer go on this ticket: it is closed (withdrawn, or closed by the desk),
    not merged (a merged ticket's replies go on to the one it was merged into)."""
    return ticket.status == TicketStatus.CLOSED and ticket.merged_into_id is None


def follow_up_subject(closed: Ticket) -> str:
    """The subject of a new request about a closed ticket's problem (the follow-up, or the contact form's prefill)."""
    return f"Follow-up to {closed.label}: {closed.subject}"[:SUBJECT_MAX]


def follow_up(closed: Ticket, source: TicketSource | str, body: str, *, request_key: str | None, owner: str = "",
              requester: User | None = None, name: str = "", email: str = "",
              attachments=()) -> tuple[Ticket, bool]:
    """A requester's reply to a closed ticket (web or email) opens a new ticket with it, linked to the closed
    one, so it reaches the queue and they are told its number: (the new ticket, True if this call opened it)."""
    subject = follow_up_subject(closed)
    description = f"Sent as a reply to {closed.label}, which was closed.\n\n{(body or '').strip()}"

    def linked(ticket: Ticket) -> None:
        low, high = sorted((ticket.id, closed.id))
        db.session.add(TicketLink(ticket_id=low, other_id=high))
        who = ticket.requester_name or ticket.requester_email or "Requester"
        record(ticket, EventKind.LINKED, None, new=closed.label, actor_name=who)
        record(closed, EventKind.LINKED, None, new=ticket.label, actor_name=who)

    return open_ticket(source, subject=subject, description=description, request_key=request_key, owner=owner,
                       requester=requester, name=name or closed.requester_name, email=email or closed.requester_email,
                       time_zone=closed.requester_time_zone, attachments=attachments, then=linked)


def _forward_to_merged(source: Ticket, message: Message, author: User | None) -> None:
    """A requester's reply on a merged ticket, as an internal note on the ticket it was merged into (the two
    requesters may differ: one never reads the other's words), with its assignee told."""
    target = db.session.get(Ticket, source.merged_into_id)
    note = Message(ticket_id=target.id, author_id=author.id if author else None, author_name=message.author_name,
                   internal=True, from_requester=False,
                   body=f"{message.author_name or 'The requester'} replied on {source.label}, merged into this ticket:"
                        f"\n\n{message.body}")
    db.session.add(note)
    db.session.flush()
    record(target, EventKind.NOTE, author, message=note, actor_name=message.author_name)
    notify.requester_replied(target, note, links.staff_url(target))


def hold_unverified_reply(ticket: Ticket, body: str, *, sender: str, name: str = "", request_key: str | None,
                          attachments=()) -> Message:
    """An email that names the ticket without its reply code, kept once as an internal note.

    Anyone can write the requester's address in From, so such a mail is not the requester's
    reply: it is neither shown to them nor reopens the ticket. A technician sees it on the ticket
    (the assignee is told) and decides what to do with it; its text and files are all kept.
    """
    existing = _existing_message(ticket, request_key)
    if existing is not None:
        return existing
    who = f"{name} <{sender}>" if name else sender
    message = Message(ticket_id=ticket.id, author_id=None, author_name=f"Unverified email from {who}"[:NAME_MAX],
                      body=(f"Held for a technician: this email names {ticket.label} but not its reply code, so it"
                            f" may not be from {who}. It is not shown to the requester; check with them before acting"
                            f" on it.\n\n" + (body or "").strip()),
                      internal=True, from_requester=False, request_key=request_key)
    for item in attachments:
        message.attachments.append(item)

    def then(message: Message) -> None:
        record(ticket, EventKind.NOTE, None, message=message, actor_name=message.author_name)
        notify.unverified_reply(ticket, message, links.staff_url(ticket))

    return _add_message_once(ticket, message, request_key, then)


def can_reopen(ticket: Ticket, at: datetime | None = None) -> bool:
    """A resolved ticket can be reopened by its requester for 7 days."""
    if ticket.status != TicketStatus.RESOLVED or ticket.resolved_at is None:
        return False
    return (at or clock.now()) - ticket.resolved_at <= timedelta(days=REOPEN_DAYS)


def reopen(ticket: Ticket, actor: User | None = None) -> Ticket:
    """The requester reopens a resolved ticket (within 7 days)."""
    if not can_reopen(ticket):
        raise ActionError("This ticket can no longer be reopened; please open a new one.")
    _set_status(ticket, TicketStatus.OPEN, actor)
    _commit()
    return ticket


# -- the requester's own actions: solved, withdrawn, rated ------------------------------------------------


def _requester_name(ticket: Ticket, actor: User | None) -> str:
    """Who the timeline says acted: the account, else the person the signed link was mailed to."""
    return actor.display_name if actor is not None else (ticket.requester_name or ticket.requester_email or "Requester")


def _last_status_kind(ticket: Ticket) -> EventKind | None:
    """How the ticket got its present status (the kind of its last status change)."""
    return db.session.scalar(sa.select(TicketEvent.kind).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.kind.in_(
            [EventKind.STATUS, EventKind.REOPENED, EventKind.SOLVED, EventKind.WITHDRAWN, EventKind.MERGED]))
        .order_by(TicketEvent.id.desc()).limit(1))


def withdrawn(ticket: Ticket) -> bool:
    """True if the ticket is closed because its requester withdrew it."""
    return ticket.status == TicketStatus.CLOSED and _last_status_kind(ticket) == EventKind.WITHDRAWN


def requester_solved(ticket: Ticket, actor: User | None = None) -> bool:
    """The requester says the problem is solved: the ticket is resolved (True), or already was (False).

    No "resolved" email: they said so themselves, on the page that now asks how we did; the
    assignee is told. They can reopen it for 7 days as after any resolution. A closed ticket can't
    be marked solved.
    """
    if ticket.status == TicketStatus.RESOLVED:
        return False
    if ticket.status == TicketStatus.CLOSED:
        raise ActionError("This ticket is closed, so it can't be marked solved. If the problem is back, "
                          "contact the help desk again.")
    _set_status(ticket, TicketStatus.RESOLVED, actor, kind=EventKind.SOLVED,
                actor_name=_requester_name(ticket, actor), tell_requester=False)
    notify.requester_acted(ticket, "solved", _requester_name(ticket, actor), links.staff_url(ticket))
    _commit()
    return True


def withdraw(ticket: Ticket, actor: User | None = None, reason: str = "") -> bool:
    """The requester no longer needs help: the ticket closes (True), or already was withdrawn (False).

    Withdrawn is a reason, not a status: the ticket is closed, and its timeline's ``withdrawn``
    event says why; the assignee is told. Only a ticket somebody still has to act on can be withdrawn.
    `reason`, if given, is the requester's own word on it: a message on the ticket and in the email.
    """
    if withdrawn(ticket):
        return False
    if ticket.status == TicketStatus.CLOSED:
        raise ActionError("This ticket is already closed.")
    if ticket.status == TicketStatus.RESOLVED:
        raise ActionError("This ticket is already resolved, so there is nothing to withdraw.")
    who = _requester_name(ticket, actor)
    reason = (reason or "").strip()[:WITHDRAW_REASON_MAX]
    if reason:
        db.session.add(Message(ticket_id=ticket.id, author_id=actor.id if actor else ticket.requester_id,
                               author_name=who[:NAME_MAX], body=f"Withdrawn: {reason}", from_requester=True))
    _set_status(ticket, TicketStatus.CLOSED, actor, kind=EventKind.WITHDRAWN, actor_name=who)
    notify.requester_acted(ticket, "withdrawn", who, links.staff_url(ticket), reason=reason)
    _commit()
    return True


NOT_RATABLE = "Only a resolved ticket can be rated, until it is closed or for 7 days after it was resolved."


def can_rate(ticket: Ticket, at: datetime | None = None) -> bool:
    """A ticket is rated (and the rating changed) while it is resolved and can be reopened: not once closed."""
    return can_reopen(ticket, at)


def rate(ticket: Ticket, score: int, comment: str = "", actor: User | None = None) -> TicketRating:
    """The requester's answer to "How did we do?": one rating per ticket, changed by a later answer.

    The same answer twice (a double click, a retry) changes nothing; a racing first answer that
    reached the database first is updated instead of duplicated (the unique ``ticket_id``).
    """
    if isinstance(score, bool) or not isinstance(score, int) or not RATING_MIN <= score <= RATING_MAX:
        raise ActionError(f"Choose a score from {RATING_MIN} to {RATING_MAX}.")
    if not can_rate(ticket):
        raise ActionError(NOT_RATABLE)
    comment = (comment or "").strip()[:RATING_COMMENT_MAX]
    try:
        rating = _save_rating(ticket, score, comment, actor)
    except IntegrityError:  # another request stored the first rating a moment earlier: change that one
        db.session.rollback()
        rating = _save_rating(ticket, score, comment, actor)
    db.session.expire(ticket, ["rating"])
    return rating


def _save_rating(ticket: Ticket, score: int, comment: str, actor: User | None) -> TicketRating:
    rating = db.session.scalar(sa.select(TicketRating).where(TicketRating.ticket_id == ticket.id))
    if rating is not None and rating.score == score and rating.comment == comment:
        return rating
    old = rating.score if rating is not None else None
    if rating is None:
        rating = TicketRating(ticket_id=ticket.id, score=score, comment=comment, rated_at=clock.now())
        db.session.add(rating)
    else:
        rating.score, rating.comment, rating.rated_at = score, comment, clock.now()
    record(ticket, EventKind.RATED, actor, old=old, new=score, actor_name=_requester_name(ticket, actor))
    _commit()
    return rating


# -- merging and linking --------------------------------------------------------------------------------


def merge_refusal(source: Ticket, target: Ticket) -> str | None:
    """Why `source` can't be merged into `target` (said before the technician is asked to confirm), or None."""
    if source.id == target.id:
        return "A ticket can't be merged into itself."
    if source.merged_into_id is not None:
        return f"{source.label} is already merged."
    if target.merged_into_id is not None:
        return f"{target.label} was itself merged into another ticket; merge into that one."
    return None


def merge(source: Ticket, target: Ticket, actor: User) -> Ticket:
    """Merge a duplicate into another ticket: its messages move over, it closes, its requester is told."""
    _require_staff(actor)
    refusal = merge_refusal(source, target)
    if refusal:
        raise ActionError(refusal)
    for message in list(source.messages):
        message.ticket_id = target.id
    db.session.flush()
    # The source's own timeline stays as it was: an audit trail is never rewritten.
    note = Message(ticket_id=target.id, author_id=actor.id, author_name=actor.display_name, internal=True,
                   from_requester=False,
                   body=f"{source.label} ({source.subject}) from {source.requester_name or source.requester_email}"
                        f" was merged into this ticket."
                        + (f" Its description:\n\n{source.description}" if source.description else ""))
    db.session.add(note)
    record(target, EventKind.MERGED, actor, old=source.label, new=target.label)
    record(source, EventKind.MERGED, actor, old=source.label, new=target.label)
    source.merged_into_id = target.id
    if source.status != TicketStatus.CLOSED:
        old = source.status
        at = clock.now()
        _resume_clock(source, at)
        source.status = TicketStatus.CLOSED
        source.closed_at = at
        record(source, EventKind.STATUS, actor, old=old.value, new=TicketStatus.CLOSED.value)
    # The source's own link: it says where the ticket went without opening the other requester's ticket.
    notify.ticket_merged(source, target, links.requester_url(source))
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


# -- walking a flow with a caller ---------------------------------------------------------------------


def note_caller_walk(ticket: Ticket, flow_title: str, actor: User) -> None:
    """The timeline notes that a technician started a guide with the caller (not committed)."""
    _require_staff(actor)
    record(ticket, EventKind.NOTE, actor, new=f"started the guide {flow_title!r} with the caller")


def attach_walk(ticket: Ticket, walk: Walk, state: engine.State, actor: User | None, files=()) -> Ticket:
    """Put a caller walk's transcript into its ticket, exactly as if the caller had walked it.

    `files` (Attachment rows for the files given in the walk's form steps) come on an internal note by
    the technician who walked: the caller didn't send them through the portal, so the technician
    decides what to share with them.
    """
    ticket.transcript = list(ticket.transcript or []) + [e.to_dict() for e in state.trail]
    values = dict(ticket.form_values or {})
    values.update(form_values(state))
    ticket.form_values = values
    ticket.client_facts = _client_facts(state)
    ticket.flow_id = walk.flow_id
    ticket.flow_title = walk.flow_title
    ticket.flow_version = walk.version_hash
    if state.failure:
        ticket.failure = state.failure
    outcome = "solved the problem" if state.status == engine.RESOLVED else "did not solve it"
    record(ticket, EventKind.NOTE, actor, new=f"walked {walk.flow_title!r} with the caller: {outcome}")
    if files:
        names = ", ".join(f.filename for f in files)
        message = Message(ticket_id=ticket.id, author_id=actor.id if actor else None,
                          author_name=actor.display_name if actor else "Help desk", internal=True, from_requester=False,
                          body=f"Files given in “{walk.flow_title}” while walking it with the caller: {names}")
        message.attachments.extend(files)
        db.session.add(message)
        record(ticket, EventKind.NOTE, actor, message=message)
    _commit()
    return ticket
