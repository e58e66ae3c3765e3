"""Known issues: the only code that writes them, their updates and their people.

One problem, many people (an update breaks Outlook for three hundred): a technician *declares* a
known issue, *links* the tickets already opened about it, *posts updates* and finally *marks it
fixed*. Each affected person has one row in ``known_issue_people`` naming the one ticket they
follow the issue on; "This is my problem too" (:func:`join`) opens that ticket for them, already
open (never new: it skips triage) and linked, in one step.

Every public update (and the fix) becomes a public reply on each open linked ticket and one email
to each affected person (:func:`mail_update`): the outbox row's Message-ID is made from the update
and the person, and its column is unique, so a retry, a double click or a racing request never
sends a second copy. Marking the issue fixed resolves every open linked ticket with the fix text;
each requester can reopen theirs for 7 days, as any resolved ticket.

As :mod:`.services`, each operation commits what it did (and the emails it causes) in one
transaction, and raises :class:`~.services.ActionError` with a message for the person when the
issue's state or the input does not allow it (:class:`IssueInputError` names the fields).

API for the other parts (spike detection, requester pages): ``declare(...)``, ``link_tickets``,
``post_update``, ``set_status``, ``mark_fixed``, ``join``, ``mail_update``; reads are in
:mod:`.known_issue_queries` (``banners(flow_id, step_id)``, ``open_issues()``, ``issue_by_id``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from .. import clock
from ..extensions import db
from ..mail import notify
from ..models import (
    OPEN_STATUSES,
    EventKind,
    KnownIssue,
    KnownIssuePerson,
    KnownIssueStatus,
    KnownIssueUpdate,
    Message,
    Ticket,
    TicketSource,
    TicketStatus,
    UpdateKind,
    User,
)
from ..validators import is_email
from . import links, services
from .known_issue_queries import STATUS_LABELS, forget_open_issues, person_key
from .services import ActionError

TITLE_MAX = 200
TEXT_MAX = 5000
FLOW_ID_MAX = 100
FLOWS_MAX = 50
NAME_MAX = services.NAME_MAX
EMAIL_MAX = services.EMAIL_MAX
#: The statuses a technician sets by hand; "fixed" comes only with the fix text (:func:`mark_fixed`).
SETTABLE = (KnownIssueStatus.INVESTIGATING, KnownIssueStatus.IDENTIFIED)


class IssueInputError(ActionError):
    """Input a known issue can't take: `errors` maps each field to its message."""

    def __init__(self, errors: dict):
        super().__init__(" ".join(errors.values()))
        self.errors = errors


def _require_staff(actor: User | None) -> None:
    if actor is None or not actor.is_staff:
        raise ActionError("Only technicians can do that.")


def _key(actor: User | None, request_key: str | None, what: str) -> str | None:
    """A form's one-time key as stored: bound to who sent it, hashed to fit the column."""
    if not request_key:
        return None
    owner = f"user:{actor.id}" if actor is not None else ""
    return hashlib.sha256(f"{what}\n{owner}\n{request_key}".encode("utf-8", "replace")).hexdigest()[:64]


def _require_open(issue: KnownIssue) -> None:
    if not issue.is_open:
        raise ActionError("This known issue is fixed. If the problem is back, declare a new one.")


def _lock(issue: KnownIssue) -> None:
    """Read the issue again, locked until the commit on PostgreSQL (SQLite lets one writer in at a time)."""
    db.session.refresh(issue, with_for_update=db.session.get_bind().dialect.name == "postgresql")


# -- declaring ----------------------------------------------------------------------------------------


def check(*, title: str, symptoms: str, message: str, flows: Iterable[str] = (),
          status: KnownIssueStatus | str = KnownIssueStatus.INVESTIGATING, known_flows=None) -> dict:
    """What is wrong with a known issue's fields: field name -> message (empty when all is well)."""
    errors = {}
    title = (title or "").strip()
    if not title:
        errors["title"] = "Give the known issue a title people will recognise, like “Outlook won't open”."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Keep the title under {TITLE_MAX} characters."
    if len(symptoms or "") > TEXT_MAX:
        errors["symptoms"] = f"Keep what users see under {TEXT_MAX} characters."
    if not (message or "").strip():
        errors["message"] = "Write the public message: what people should know or do now."
    elif len(message) > TEXT_MAX:
        errors["message"] = f"Keep the message under {TEXT_MAX} characters."
    flows = list(flows or ())
    if len(flows) > FLOWS_MAX or any(not isinstance(f, str) or not f or len(f) > FLOW_ID_MAX for f in flows) or (
            known_flows is not None and any(f not in known_flows for f in flows)):
        errors["flows"] = "Choose the affected guides from the list."
    if status not in [s.value for s in SETTABLE]:
        errors["status"] = "Choose a status: investigating or identified (mark it fixed from its page, with the fix)."
    return errors


def declare(title: str, symptoms: str, message: str, flows: Iterable[str], actor: User,
            tickets: Iterable[Ticket] = (), *, status: KnownIssueStatus | str = KnownIssueStatus.INVESTIGATING,
            request_key: str | None = None, seen_flow_id: str | None = None,
            seen_step_id: str | None = None, known_flows=None) -> KnownIssue:
    """Declare a known issue, with `tickets` linked to it at once (a spike's); once per form (`request_key`).

    `seen_flow_id`/`seen_step_id` name the step where people got stuck (from spike detection): the
    walk page shows the banner there. `known_flows` (ids) refuses flows that don't exist.
    """
    _require_staff(actor)
    flows = list(dict.fromkeys(flows or ()))
    errors = check(title=title, symptoms=symptoms, message=message, flows=flows, status=status,
                   known_flows=known_flows)
    if errors:
        raise IssueInputError(errors)
    key = _key(actor, request_key, "declare")
    return _stored_once(
        lambda: _issue_by_key(key),
        lambda: KnownIssue(title=title.strip(), symptoms=(symptoms or "").strip(), message=message.strip(),
                           status=KnownIssueStatus(status), flow_ids=flows, request_key=key,
                           seen_flow_id=(seen_flow_id or None) and seen_flow_id[:FLOW_ID_MAX],
                           seen_step_id=(seen_step_id or None) and seen_step_id[:FLOW_ID_MAX],
                           created_by_id=actor.id),
        lambda issue: _link(issue, tickets, actor))


def _stored_once(find, build, then):
    """The row `build()` makes, stored with what `then(row)` writes, in one commit: once per request key.

    `find()` looks the key up: a retry (a double click, a reload) gets the stored row, and so does a
    racing request that loses at the key's unique index. The banners' open issues are read afresh.
    """
    existing = find()
    if existing is not None:
        return existing
    row = build()
    db.session.add(row)
    try:
        db.session.flush()
        then(row)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = find()
        if existing is None:
            raise
        return existing
    forget_open_issues()
    return row


def _issue_by_key(key: str | None) -> KnownIssue | None:
    if key is None:
        return None
    return db.session.scalar(sa.select(KnownIssue).where(KnownIssue.request_key == key))


# -- people and their tickets -------------------------------------------------------------------------


def _insert_ignoring_conflicts(model, rows: list[dict], keys: list[str]) -> None:
    if not rows:
        return
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    db.session.execute(dialect.insert(model).values(rows).on_conflict_do_nothing(index_elements=keys))


def link_tickets(issue: KnownIssue, tickets: Iterable[Ticket], actor: User) -> services.BulkResult:
    """Link open tickets to the issue (from the queue, in bulk): the tickets linked now, and the others with why.

    Each ticket's requester becomes one of the issue's people (the first of their tickets linked is
    the one they follow it on). A new ticket becomes open: it is out of triage, under the issue.
    Tickets already linked, merged, resolved or closed are left as they are.
    """
    _require_staff(actor)
    _require_open(issue)
    linked = _link(issue, tickets, actor)
    db.session.commit()
    forget_open_issues()
    return linked


def _not_linkable(ticket: Ticket, issue: KnownIssue) -> str:
    """Why `ticket` can't be linked to `issue` ('' if it can)."""
    if ticket.known_issue_id == issue.id:
        return "Already linked to it."
    if ticket.merged_into_id is not None:
        return f"Merged into {ticket.merged_into.label}."
    if not ticket.is_open:
        return f"A {ticket.status.value} ticket can't be linked."
    return ""


def _link(issue: KnownIssue, tickets: Iterable[Ticket], actor: User) -> services.BulkResult:
    now = clock.now()
    people, linked, refused = {}, [], []
    for ticket in tickets:
        why = _not_linkable(ticket, issue)
        if why:
            refused.append((ticket, why))
            continue
        old = f"Known issue {ticket.known_issue_id}" if ticket.known_issue_id is not None else None  # no lazy load
        ticket.known_issue_id = issue.id
        services.record(ticket, EventKind.LINKED, actor, old=old, new=f"{issue.label}: {issue.title}")
        if ticket.status == TicketStatus.NEW:
            services._set_status(ticket, TicketStatus.OPEN, actor)
        people.setdefault(person_key(ticket.requester_email, ticket.id),
                          {"known_issue_id": issue.id, "person": person_key(ticket.requester_email, ticket.id),
                           "ticket_id": ticket.id, "joined_at": now})
        linked.append(ticket)
    db.session.flush()
    _insert_ignoring_conflicts(KnownIssuePerson, list(people.values()), ["known_issue_id", "person"])
    return services.BulkResult(linked, refused)


def join_problems(name: str, email: str) -> dict:
    """What is wrong with the name and email someone signed out gave to join: field -> message."""
    name, email = (name or "").strip(), (email or "").strip().lower()
    errors = {}
    if not name:
        errors["name"] = "Enter your name."
    elif len(name) > NAME_MAX:
        errors["name"] = f"Keep your name under {NAME_MAX} characters."
    if not is_email(email) or len(email) > EMAIL_MAX:
        errors["email"] = "Enter your email address so we can tell you when it's fixed, like name@example.com."
    return errors


def join(issue: KnownIssue, *, user: User | None = None, name: str = "", email: str = "",
         request_key: str | None = None, owner: str = "", time_zone: str | None = None) -> tuple[Ticket, bool]:
    """"This is my problem too": the person joins the issue and gets the ticket they follow it on.

    A signed-in `user`, or `name` and `email`. The ticket opens as *open* (not new: it never lands in
    triage), linked to the issue, and its number is emailed as for any ticket. Joining again (the
    same account or email, a double click, a racing request) returns the same ticket: (ticket, True
    if this call opened it). `owner` binds the form's key to its sender (see services.open_ticket).
    """
    _require_open(issue)
    if user is not None:
        email, name = user.email, user.display_name
    else:
        name, email = (name or "").strip(), (email or "").strip().lower()
        errors = join_problems(name, email)
        if errors:
            raise IssueInputError(errors)
    key = person_key(email, 0)
    row = db.session.get(KnownIssuePerson, (issue.id, key))
    if row is not None:
        return row.ticket, False

    def then(ticket: Ticket) -> None:
        db.session.add(KnownIssuePerson(known_issue_id=issue.id, person=key, ticket_id=ticket.id,
                                        joined_at=clock.now()))
        services.record(ticket, EventKind.LINKED, user, new=f"{issue.label}: {issue.title}",
                        actor_name=None if user is not None else name)
        db.session.flush()

    try:
        ticket, created = services.open_ticket(
            TicketSource.WEB, subject=f"Known issue: {issue.title}"[:services.SUBJECT_MAX],
            description="Joined the known issue with “This is my problem too”.", request_key=request_key,
            owner=owner, requester=user, name=name, email=email, time_zone=time_zone,
            status=TicketStatus.OPEN, known_issue_id=issue.id, then=then)
    except IntegrityError:  # the same person joined in a racing request (another key): theirs is the one
        db.session.rollback()
        row = db.session.get(KnownIssuePerson, (issue.id, key))
        if row is None:
            raise
        return row.ticket, False
    return ticket, created


# -- updates, status, the fix ---------------------------------------------------------------------------


def _check_text(text: str, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise IssueInputError({"body": f"Write the {what} first."})
    if len(text) > TEXT_MAX:
        raise IssueInputError({"body": f"Keep the {what} under {TEXT_MAX} characters."})
    return text


def _update_by_key(key: str | None) -> KnownIssueUpdate | None:
    if key is None:
        return None
    return db.session.scalar(sa.select(KnownIssueUpdate).where(KnownIssueUpdate.request_key == key))


def _open_linked(issue: KnownIssue) -> list[Ticket]:
    return db.session.scalars(sa.select(Ticket).where(
        Ticket.known_issue_id == issue.id, Ticket.status.in_(OPEN_STATUSES), Ticket.merged_into_id.is_(None))
        .order_by(Ticket.id)).all()


def _reply_on(ticket: Ticket, update: KnownIssueUpdate, body: str, actor: User) -> None:
    """The update as a public reply on one linked ticket (its email goes once per person: mail_update)."""
    message = Message(ticket_id=ticket.id, author_id=actor.id, author_name=actor.display_name, body=body,
                      internal=False, from_requester=False, request_key=f"known-issue-update:{update.id}")
    db.session.add(message)
    services.record(ticket, EventKind.REPLY, actor, message=message)
    if ticket.first_response_at is None:
        ticket.first_response_at = clock.now()


def _publish(issue: KnownIssue, kind: UpdateKind, body: str, actor: User, request_key: str | None, *,
             reply: str, on_ticket, before=None) -> KnownIssueUpdate:
    """Store an update of `kind` once per request key, reply `reply` on every open linked ticket (then
    `on_ticket(ticket)`), mail each affected person once, commit. A retry returns the stored update."""
    key = _key(actor, request_key, kind.value)

    def build() -> KnownIssueUpdate:
        _lock(issue)
        _require_open(issue)
        if before is not None:
            before()
        return KnownIssueUpdate(known_issue_id=issue.id, kind=kind, body=body, request_key=key,
                                created_by_id=actor.id)

    def then(update: KnownIssueUpdate) -> None:
        for ticket in _open_linked(issue):
            _reply_on(ticket, update, reply, actor)
            on_ticket(ticket)
        db.session.flush()
        mail_update(update)

    return _stored_once(lambda: _update_by_key(key), build, then)


def post_update(issue: KnownIssue, body: str, actor: User, *, request_key: str | None = None) -> KnownIssueUpdate:
    """A public update: a reply on every open linked ticket, and one email to each affected person."""
    _require_staff(actor)
    body = _check_text(body, "update")

    def opened(ticket: Ticket) -> None:
        if ticket.status == TicketStatus.NEW:
            services._set_status(ticket, TicketStatus.OPEN, actor)

    def touched() -> None:
        issue.updated_at = clock.now()

    return _publish(issue, UpdateKind.UPDATE, body, actor, request_key, on_ticket=opened, before=touched,
                    reply=f"Update on the known issue “{issue.title}”:\n\n{body}")


def set_status(issue: KnownIssue, status: KnownIssueStatus | str, actor: User) -> KnownIssue:
    """Investigating -> identified (or back); "fixed" only through :func:`mark_fixed`, with the fix."""
    _require_staff(actor)
    if status not in [s.value for s in SETTABLE]:
        raise IssueInputError({"status": "Choose a status: investigating or identified (to mark it fixed, write the "
                                         "fix below)."})
    _lock(issue)
    _require_open(issue)
    status = KnownIssueStatus(status)
    if issue.status == status:
        raise IssueInputError({"status": f"The known issue is already “{STATUS_LABELS[status]}”."})
    issue.status = status
    db.session.commit()
    forget_open_issues()
    return issue


def mark_fixed(issue: KnownIssue, fix_text: str, actor: User, *, request_key: str | None = None) -> KnownIssueUpdate:
    """Mark the issue fixed: every open linked ticket is resolved with the fix text, each person emailed once.

    Each requester can reopen their ticket for 7 days (the email carries the one-click link).
    """
    _require_staff(actor)
    fix_text = _check_text(fix_text, "fix")

    def fixed() -> None:
        now = clock.now()
        issue.status, issue.fixed_at, issue.fix_text, issue.updated_at = KnownIssueStatus.FIXED, now, fix_text, now

    def resolved(ticket: Ticket) -> None:
        services._set_status(ticket, TicketStatus.RESOLVED, actor, tell_requester=False)

    return _publish(issue, UpdateKind.FIX, fix_text, actor, request_key, on_ticket=resolved, before=fixed,
                    reply=f"Fixed: {issue.title}\n\n{fix_text}")


def mail_update(update: KnownIssueUpdate) -> int:
    """Email the update (or the fix) to each affected person, at most once each: how many were queued now.

    An update goes to the people whose ticket on the issue is still open; the fix to those whose
    ticket it resolved. Safe to run again (a retry): people already emailed are skipped by the
    outbox's unique Message-ID. Not committed.
    """
    issue = update.issue
    query = (sa.select(KnownIssuePerson).join(Ticket, Ticket.id == KnownIssuePerson.ticket_id)
             .where(KnownIssuePerson.known_issue_id == issue.id)
             .options(joinedload(KnownIssuePerson.ticket).joinedload(Ticket.requester)))
    if update.kind == UpdateKind.FIX:
        query = query.where(Ticket.status == TicketStatus.RESOLVED, Ticket.resolved_at >= issue.fixed_at)
    else:
        query = query.where(Ticket.status.in_(OPEN_STATUSES))
    emails = []
    for person in db.session.scalars(query).unique():
        ticket = person.ticket
        if update.kind == UpdateKind.FIX:
            emails.append(notify.known_issue_fixed(ticket, issue, update, links.requester_url(ticket),
                                                   links.reopen_url(ticket)))
        else:
            emails.append(notify.known_issue_update(ticket, issue, update, links.requester_url(ticket)))
    return notify.queue_once(emails)
